"""Layout cues: each cue on hand-made paragraphs, and the transformer's estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from newsseg import features
from newsseg.features import LayoutFeatures, layout_frame, paragraph_features

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


def test_compact_vectorizer_survives_a_state_round_trip():
    vectorizer = features.CompactTfidfVectorizer().fit(["apple pie", "apple tart", "cherry pie"])
    state = vectorizer.__getstate__()
    assert "vocabulary_" not in state
    restored = features.CompactTfidfVectorizer.__new__(features.CompactTfidfVectorizer)
    restored.__setstate__(state)
    assert restored.vocabulary_ == vectorizer.vocabulary_
    assert (restored.transform(["apple"]) != vectorizer.transform(["apple"])).nnz == 0


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
    topic = features.TopicFeatures().fit(training)
    table = pd.DataFrame(topic.transform(frame), columns=topic.get_feature_names_out())
    assert table["sim_headline"][3] < min(table["sim_headline"][1], table["sim_headline"][2])
    assert table["sim_anchor"][3] < min(table["sim_anchor"][1], table["sim_anchor"][2])


def test_memory_counts_a_notice_repeated_across_three_dumps():
    notice = "Copyright Example Media. All rights reserved."
    stories = ("The mayor opened the bridge.", "A bakery won a prize.", "Rain closed schools.")
    rows = [(f"site__{n}", text) for n in range(3) for text in (stories[n], notice)]
    training = pd.DataFrame(rows, columns=["doc_id", "text"])
    memory = features.ParagraphMemory().fit(training)
    seen = memory.transform_training(training)
    assert seen[1].tolist() == pytest.approx([np.log1p(2), 1.0])  # in two other dumps
    assert seen[0].tolist() == [0.0, 0.0]
    next_year = notice.replace("2024", "2025")  # digits do not make a notice new
    batch = pd.DataFrame({"doc_id": ["new__1", "new__2"], "text": ["A new line here.", next_year]})
    assert memory.transform(batch)[1][0] == pytest.approx(np.log1p(3))
    # Within a batch, recurrence counts even for paragraphs the memory never saw.
    fresh = pd.DataFrame({"doc_id": ["x__1", "x__2"], "text": ["Read our new policy."] * 2})
    assert memory.transform(fresh)[:, 1].tolist() == [1.0, 1.0]
    assert len(features.ParagraphMemory(max_items=0).fit(training).hashes_) == 0
