"""Layout cues: each cue on hand-made paragraphs, and the transformer's estimator contract."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from newsseg import feature_steps, features
from newsseg.feature_steps import LayoutFeatures, paragraph_features
from newsseg.features import layout_frame

ORDER_DEPENDENT = (
    "position and neighbour cues depend on where a paragraph stands in its document, "
    "so reordering or splitting the rows changes them by design"
)


def expected_failures(estimator):
    return {
        "check_methods_sample_order_invariance": ORDER_DEPENDENT,
        "check_methods_subset_invariance": ORDER_DEPENDENT,
    }


@parametrize_with_checks([LayoutFeatures()], expected_failed_checks=expected_failures)
def test_layout_features_follow_the_estimator_contract(estimator, check):
    check(estimator)


def cues(*texts: str) -> pd.DataFrame:
    return features.text_cues(pd.Series(texts))


def test_copyright_and_rights_cues():
    table = cues("© 2024 Example Media. All rights reserved.", "The mayor spoke on Monday.")
    assert table["has_copyright"].tolist() == [1.0, 0.0]
    assert table["rights_word_ratio"][0] > 0.2
    assert table["rights_word_ratio"][1] == 0.0


def test_caps_lead_in_and_agency_tag():
    table = cues(
        "NOTICE: reproduction of this page is not allowed.",
        "ANKARA (AGENCY) - Officials met today.",
        "Officials met today in Ankara.",
    )
    assert table["has_caps_lead_in"].tolist() == [1.0, 0.0, 0.0]
    assert table["has_agency_tag"].tolist() == [0.0, 1.0, 0.0]


def test_long_paragraph_threshold_is_exact():
    below = " ".join(["word"] * (features.LONG_PARAGRAPH_WORDS - 1))
    at = " ".join(["word"] * features.LONG_PARAGRAPH_WORDS)
    assert cues(below, at)["is_long"].tolist() == [0.0, 1.0]


def test_ending_punctuation():
    table = cues("It ended.", "A title without a stop", "Read more:")
    assert table["ends_with_stop"].tolist() == [1.0, 0.0, 0.0]
    assert table["ends_without_punctuation"].tolist() == [0.0, 1.0, 0.0]
    assert table["ends_with_colon"].tolist() == [0.0, 0.0, 1.0]


def test_positions_restart_in_each_document():
    doc_ids = pd.Series(["a", "a", "a", "b", "b"])
    table = features.position_cues(doc_ids)
    assert table["is_first"].tolist() == [1, 0, 0, 1, 0]
    assert table["is_last"].tolist() == [0, 0, 1, 0, 1]
    assert np.allclose(table["relative_position"], [0, 0.5, 1, 0, 1])


def test_neighbours_do_not_cross_documents():
    frame = layout_frame(
        pd.Series(["short", "a much longer paragraph here", "x"]), pd.Series(["a", "a", "b"])
    )
    assert frame["prev_log_words"].tolist()[0] == 0.0
    assert frame["next_log_words"].tolist()[1] == 0.0  # the next row is another document
    assert frame["prev_log_words"].tolist()[1] == pytest.approx(np.log1p(1))


def test_cues_read_a_capped_prefix_of_huge_paragraphs():
    huge = "word " * 1_000_000
    table = cues(huge)
    assert table["log_chars"][0] == pytest.approx(np.log1p(features.MAX_CHARS))


def test_feature_names_match_columns():
    frame = pd.DataFrame({"doc_id": ["a", "a"], "text": ["Title", "Body text."]})
    layout = LayoutFeatures().fit(frame)
    assert layout.transform(frame).shape == (2, len(layout.get_feature_names_out()))


def test_union_names_each_step():
    frame = pd.DataFrame(
        {"doc_id": ["a"] * 4, "text": ["Title one", "Body one.", "Title one", "Body one."]}
    )
    union = paragraph_features(word_max_features=10, char_max_features=10).fit(frame)
    names = union.get_feature_names_out()
    assert {name.split("__")[0] for name in names} == {"words", "chars"}


def test_a_notice_after_the_body_starts_the_footer():
    long = "The council met on Monday and spoke at length about the new bridge " * 3
    texts = pd.Series(
        ["A headline", long, long, long, "© 2024 Example. All rights reserved.", "Other story"]
    )
    frame = layout_frame(texts, pd.Series(["d"] * 6))
    assert frame["in_footer"].tolist() == [0, 0, 0, 0, 0, 1]
    assert frame["in_body_block"].tolist() == [0, 1, 1, 1, 0, 0]
    # The same notice before the body is a banner, not a footer.
    banner = layout_frame(texts[[0, 4, 1, 2, 3, 5]].reset_index(drop=True), pd.Series(["d"] * 6))
    assert banner["in_footer"].sum() == 0


def test_strong_legal_cue_needs_notice_words_not_one_legal_word():
    table = cues(
        "The court said the law was clear.",
        "No part may be reproduced without prior written permission.",
        "Copyright Example Media",
    )
    assert table["strong_legal_cue"].tolist() == [0.0, 1.0, 1.0]


def test_topic_cues_tell_another_story_from_this_one():
    texts = [
        "Bridge over the river approved by the council",
        "The council approved the bridge over the river after a long debate.",
        "Engineers say the river bridge will open next year, the council said.",
        "Local bakery wins a national bread award for its sourdough loaf.",
    ]
    frame = pd.DataFrame({"doc_id": "d", "text": texts})
    training = pd.concat([frame, frame.assign(doc_id="e")], ignore_index=True)
    topic = feature_steps.TopicFeatures().fit(training)
    table = pd.DataFrame(topic.transform(frame), columns=topic.get_feature_names_out())
    assert table["sim_headline"][3] < min(table["sim_headline"][1], table["sim_headline"][2])
    assert table["sim_anchor"][3] < min(table["sim_anchor"][1], table["sim_anchor"][2])


def test_memory_counts_a_notice_repeated_across_three_dumps():
    notice = "Copyright Example Media. All rights reserved."
    stories = ("The mayor opened the bridge.", "A bakery won a prize.", "Rain closed schools.")
    rows = [(f"site__{n}", text) for n in range(3) for text in (stories[n], notice)]
    training = pd.DataFrame(rows, columns=["doc_id", "text"])
    memory = feature_steps.ParagraphMemory().fit(training)
    seen = memory.transform_training(training)
    assert seen[1].tolist() == pytest.approx([np.log1p(2), 1.0])  # in two other dumps
    assert seen[0].tolist() == [0.0, 0.0]
    next_year = notice.replace("2024", "2025")  # digits do not make a notice new
    batch = pd.DataFrame({"doc_id": ["new__1", "new__2"], "text": ["A new line here.", next_year]})
    assert memory.transform(batch)[1][0] == pytest.approx(np.log1p(3))
    # Within a batch, recurrence counts even for paragraphs the memory never saw.
    fresh = pd.DataFrame({"doc_id": ["x__1", "x__2"], "text": ["Read our new policy."] * 2})
    assert memory.transform(fresh)[:, 1].tolist() == [1.0, 1.0]
    assert len(feature_steps.ParagraphMemory(max_items=0).fit(training).hashes_) == 0


# The text cues are computed over whole batches with array operations; each must say what
# its regular expression over one paragraph says.
REFERENCE_CUES = {
    "log_words": lambda t: np.log1p(len(re.findall(r"\w+", t))),
    "mean_word_length": lambda t: len(re.findall(r"\w", t)) / max(len(re.findall(r"\w+", t)), 1),
    "upper_ratio": lambda t: len(re.findall(r"[A-Z]", t)) / max(len(re.findall(r"[A-Za-z]", t)), 1),
    "title_word_ratio": lambda t: (
        len(re.findall(r"\b[A-Z]\w*", t)) / max(len(re.findall(r"\b[A-Za-z]\w*", t)), 1)
    ),
    "digit_ratio": lambda t: len(re.findall(r"\d", t)) / max(len(t), 1),
    "punctuation_ratio": lambda t: len(re.findall(r"[^\w\s]", t)) / max(len(t), 1),
    "sentence_count": lambda t: np.log1p(len(re.findall(r"[.!?](?:\s|$)", t))),
    "ends_with_stop": lambda t: float(bool(re.search(r"[.!?][\"'”’)]*$", t))),
    "rights_word_ratio": lambda t: (
        len(re.findall(features._RIGHTS_WORD.pattern.join([r"\b", r"\b"]), t, re.I))
        / max(len(re.findall(r"\w+", t)), 1)
    ),
    "legal_word_count": lambda t: sum(
        w in features.LEGAL_WORDS for w in re.findall(r"\w+", t.lower())
    ),
}

PIECES = [*'aZ É1٣ _.!?,\t"’)', "rights ", "Law ", "cookies", "😀"]
paragraph_text = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(paragraph_text, min_size=1, max_size=5))
def test_batch_cues_say_what_their_regular_expressions_say(texts):
    table = cues(*texts)
    for name, reference in REFERENCE_CUES.items():
        expected = [reference(text) for text in texts]
        np.testing.assert_allclose(table[name], expected, err_msg=f"{name} of {texts!r}")


def test_document_helpers_stay_inside_each_document():
    doc_ids = pd.Series(["a", "a", "a", "b", "c", "c"])
    documents = features.Documents(doc_ids)
    values = np.array([1.0, 0.0, 0.5, 0.9, 0.2, 0.4])
    assert documents.position.tolist() == [0, 1, 2, 0, 0, 1]
    np.testing.assert_allclose(documents.cumsum(values), [1.0, 1.0, 1.5, 0.9, 0.2, 0.6])
    np.testing.assert_allclose(documents.total(values), [1.5, 1.5, 1.5, 0.9, 0.6, 0.6])
    np.testing.assert_allclose(documents.window_mean(values, 3), [0.5, 0.5, 0.25, 0.9, 0.3, 0.3])
    np.testing.assert_allclose(documents.running_max_before(values), [0, 1, 1, 0, 0, 0.2])
    np.testing.assert_allclose(documents.neighbours_max(values), [1, 1, 0.5, 0.9, 0.4, 0.4])


def test_the_longest_run_is_the_first_of_equal_runs_in_each_document():
    doc_ids = pd.Series(["a"] * 7 + ["b"] * 3 + ["c"] * 2)
    flags = np.array([0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0], dtype=bool)  # a | b | c
    start, length = features.longest_runs(flags, features.Documents(doc_ids))
    assert start.tolist() == [1, 0, 0]
    assert length.tolist() == [2, 3, 0]


# --------------------------------------------------------------------------- topic cues at scale


def gram_topic_cues(gram: np.ndarray) -> np.ndarray:
    """The topic cues from a document's dense Gram matrix, as newsseg computed them up to
    v0.4: the reference the sparse sums must reproduce (quadratic memory, small inputs only)."""

    def cosine(dot, norm_a, norm_b):
        denominator = norm_a * norm_b
        return np.divide(dot, denominator, out=np.zeros_like(dot), where=denominator > 0)

    def set_norm(members):
        return float(np.sqrt(max(gram[np.ix_(members, members)].sum(), 0)))

    self_sim = np.diag(gram)
    norms = np.sqrt(np.maximum(self_sim, 0))
    row_sums, total = gram.sum(axis=1), gram.sum()
    rest_norm = np.sqrt(np.maximum(total - 2 * row_sums + self_sim, 0))
    before_norm = np.sqrt(np.maximum(np.cumsum(np.cumsum(gram, 0), 1).diagonal(), 0))
    flipped = gram[::-1, ::-1]
    after_norm = np.sqrt(np.maximum(np.cumsum(np.cumsum(flipped, 0), 1).diagonal(), 0))[::-1]
    order = np.argsort(-gram[0, 1:], kind="stable")[: features.ANCHOR_SIZE + 1] + 1
    members = np.concatenate([[0], order[: features.ANCHOR_SIZE]])
    anchor = cosine(gram[:, members].sum(axis=1), norms, set_norm(members))
    for k, row in enumerate(order[: features.ANCHOR_SIZE]):
        own = np.concatenate([[0], np.delete(order, k)[: features.ANCHOR_SIZE]])
        anchor[row] = cosine(gram[row, own].sum(), norms[row], set_norm(own))
    return np.column_stack(
        [
            gram[:, 0],
            cosine(row_sums - self_sim, norms, rest_norm),
            anchor,
            np.concatenate([[0.0], np.diag(gram, -1)]),
            np.concatenate([np.diag(gram, 1), [0.0]]),
            cosine(np.tril(gram, -1).sum(axis=1), norms, np.concatenate([[0.0], before_norm[:-1]])),
            cosine(np.triu(gram, 1).sum(axis=1), norms, np.concatenate([after_norm[1:], [0.0]])),
        ]
    )


@pytest.mark.parametrize("seed", range(8))
def test_sparse_topic_cues_equal_the_gram_matrix_cues(seed):
    from scipy import sparse

    rng = np.random.default_rng(seed)
    n_rows = [1, 2, 3, 5, 6, 9, 40, 120][seed]
    dense = sparse.random(n_rows, 30, density=0.15, random_state=rng).toarray()
    if seed == 3:
        dense[:] = 0  # no known word at all
    if n_rows > 2:
        dense[1] = 0  # a paragraph without a known word
        dense[2] = dense[0]  # a duplicate of the headline: equal similarities keep their order
    rows = sparse.csr_matrix(dense.astype(np.float32))
    gram = (rows @ rows.T).toarray().astype(float)
    expected = gram_topic_cues(gram)
    found = features.document_topic_cues(rows)
    assert found.shape == (n_rows, len(features.GRAM_CUES))
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)
    if n_rows > 2:  # a paragraph without a known word is close to nothing, exactly
        assert (found[1] == 0).all()


def test_topic_cues_of_a_long_document_need_no_quadratic_memory():
    # 30 000 paragraphs sharing a word: a Gram matrix of them is 7.2 GB of float64. The
    # sparse sums hold a few arrays as long as the document's nonzero values.
    topic = feature_steps.TopicFeatures().fit(
        pd.DataFrame({"doc_id": ["a", "a", "b", "b"], "text": ["news today", "news", "x", "x"]})
    )
    n_rows = 30_000
    frame = pd.DataFrame({"doc_id": "d", "text": ["news today"] * n_rows})
    import tracemalloc

    tracemalloc.start()
    cues = topic.transform(frame)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert cues.shape == (n_rows, len(features.TOPIC_CUES))
    assert peak < 200e6, peak
    sim_rest = cues[:, features.TOPIC_CUES.index("sim_rest")]
    np.testing.assert_allclose(sim_rest, 1.0, rtol=1e-6)


# --------------------------------------------------------------------------- exact rewrites
# Each rewritten hot path against a plain reference on small hand-written inputs.


def _reference_repeats(texts: list[str], doc_ids: list[str]) -> list[float]:
    normalised = [" ".join(re.findall(r"\w+", text.lower())) for text in texts]
    keys = list(zip(doc_ids, normalised, strict=True))
    return [float(keys.count(key) - 1) for key in keys]


def test_repeats_in_document_match_a_plain_count():
    texts = ["Read more", "read  MORE!", "Body text here.", "", "", "Read more", "İstanbul", "ß"]
    doc_ids = ["a", "a", "a", "a", "a", "b", "b", "b"]
    table = layout_frame(pd.Series(texts), pd.Series(doc_ids))
    assert table["repeats_in_document"].tolist() == _reference_repeats(texts, doc_ids)


def test_repeats_in_document_of_one_very_long_line_stay_small():
    # Once a fixed-width array of rows x the longest line: 200k rows would take gigabytes.
    texts = ["word " * 20_000] + ["short line"] * 200_000
    table = layout_frame(pd.Series(texts), pd.Series(["a"] * len(texts)))
    assert table["repeats_in_document"].iloc[0] == 0.0
    assert table["repeats_in_document"].iloc[1] == 199_999.0


TRICKY_TEXTS = [
    "Markets rally as rates fall",
    "Markets fell; rates ROSE and markets... rally?",
    "",
    "A to be or",
    "İstanbul ŞEHİR café naïve 東京 ﬁnance",
    "istanbul şehir CAFÉ the",
    "Only one paragraph here",
    "   ",
    "Σίσυφος ΟΔΟΣ οδος",
]
TRICKY_DOCS = ["a", "a", "a", "a", "b", "b", "c", "d", "e"]


def _reference_headline_overlap(texts: list[str], doc_ids: list[str]) -> list[float]:
    out, headline = [], set()
    for i, text in enumerate(texts):
        words = {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2}
        if i == 0 or doc_ids[i] != doc_ids[i - 1]:
            headline = words
        out.append(len(words & headline) / max(len(headline), 1))
    return out


@pytest.mark.parametrize("size", [0, 1, 3, len(TRICKY_TEXTS)])
def test_headline_word_overlap_matches_a_plain_set_count(size):
    texts, doc_ids = TRICKY_TEXTS[:size], TRICKY_DOCS[:size]
    documents = features.Documents(pd.Series(doc_ids, dtype=object))
    found = features.headline_word_overlap(features.batch_words(texts), documents)
    assert found.tolist() == _reference_headline_overlap(texts, doc_ids)


def test_distinct_word_counts_match_a_plain_set_count():
    batch = features.ParagraphBatch(TRICKY_TEXTS)
    long_word = lambda word: len(word) > 3  # noqa: E731 (a test of a word, as the cues give)
    expected = [
        len({w for w in re.findall(r"\w+", t.lower()) if long_word(w)}) for t in TRICKY_TEXTS
    ]
    assert batch.count_distinct_words(long_word).tolist() == expected
    assert features.ParagraphBatch([]).count_distinct_words(long_word).tolist() == []


@pytest.mark.parametrize(
    "keys", [[], [5], [3, 1, 3, 2, 1], [2**40, -(2**40), 0, 2**40], list(range(10, 0, -1)) * 3]
)
def test_distinct_sorted_is_numpy_unique(keys):
    keys = np.array(keys, dtype=np.int64)
    assert np.array_equal(features.distinct_sorted(keys), np.unique(keys))
