"""Page-structure cues on small hand-written pages: the article span, what stands between a
line and it, and the title-then-lead rhythm of teaser rails."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsseg import structure
from newsseg.features import Documents

CLASSES = ["body", "headline", "legal", "teaser"]


def proba_of(labels: str) -> np.ndarray:
    """Text-model probabilities of a page written as letters: b(ody), h(eadline), l(egal),
    t(easer); the written label gets 0.85."""
    index = {"b": 0, "h": 1, "l": 2, "t": 3}
    proba = np.full((len(labels), 4), 0.05)
    proba[np.arange(len(labels)), [index[c] for c in labels]] = 0.85
    return proba


def cues_of(labels: str) -> pd.DataFrame:
    documents = Documents(pd.Series(["d"] * len(labels)))
    cues = structure.span_cues(proba_of(labels), documents, CLASSES)
    return pd.DataFrame(cues, columns=structure.SPAN_CUES)


def test_the_span_is_the_run_with_most_body_evidence():
    # Headline, a teaser, five body lines with a notice inside, then a rail of teasers.
    cues = cues_of("htbbblbbtttt")
    assert cues["in_span"].tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert cues["before_span"].iloc[0] == pytest.approx(2 / 12)
    assert cues["after_span"].iloc[-1] == pytest.approx(4 / 12)
    assert cues["span_share"].iloc[0] == pytest.approx(6 / 12)


def test_what_stands_between_a_line_and_the_span():
    cues = cues_of("hbbbbltttt")
    # After the notice that ends the body, the teasers have a notice between them and it.
    assert cues["legal_between_span"].iloc[6:].tolist() == pytest.approx([0.85] * 4)
    assert cues["legal_between_span"].iloc[5] == 0.0  # the notice itself: nothing between
    assert cues["teaser_between_span"].iloc[7] == pytest.approx(0.85)  # the teaser on line 7
    assert cues["teaser_between_span"].iloc[6] == pytest.approx(0.05)


def test_a_notice_inside_the_body_is_followed_by_body():
    inside, ending = cues_of("hbbblbbb"), cues_of("hbbbbltt")
    assert inside["body_next_lines"].iloc[4] == pytest.approx(0.85)
    assert ending["body_next_lines"].iloc[5] == pytest.approx(0.05)
    assert inside["in_span"].iloc[4] == 1 and ending["in_span"].iloc[5] == 0


def test_rhythm_marks_title_then_lead_pairs():
    # A title (4 words, no stop), its lead (30 words, a stop), twice; then plain body.
    words = np.log1p([4, 30, 4, 30, 40, 40, 40])
    stops = np.array([0, 1, 0, 1, 1, 1, 1], dtype=float)
    documents = Documents(pd.Series(["d"] * 7))
    cues = pd.DataFrame(
        structure.rhythm_cues(words, stops, documents), columns=structure.RHYTHM_CUES
    )
    assert cues["title_like"].tolist() == [1, 0, 1, 0, 0, 0, 0]
    assert cues["pair_head"].tolist() == [1, 0, 1, 0, 0, 0, 0]
    assert cues["pair_tail"].tolist() == [0, 1, 0, 1, 0, 0, 0]
    assert cues["window_alternation"].iloc[1] > cues["window_alternation"].iloc[6]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-5, 5), min_size=1, max_size=8), min_size=1, max_size=4))
def test_article_spans_are_the_maximum_sum_segments(documents_scores):
    score = np.array(list(itertools.chain.from_iterable(documents_scores)))
    doc_ids = pd.Series(
        np.repeat(np.arange(len(documents_scores)), [len(d) for d in documents_scores])
    )
    documents = Documents(doc_ids)
    first, last = structure.article_spans(score, documents)
    for number, values in enumerate(documents_scores):
        offset = documents.first_row[number]
        best = max(
            sum(values[i : j + 1]) for i in range(len(values)) for j in range(i, len(values))
        )
        found = score[first[number] : last[number] + 1].sum()
        assert found == pytest.approx(best, abs=1e-9)
        assert offset <= first[number] <= last[number] < offset + len(values)


def test_cues_of_a_document_do_not_depend_on_its_batch():
    page, other = "htbbblbbtttt", "hbbt"
    alone = structure.span_cues(proba_of(page), Documents(pd.Series(["a"] * 12)), CLASSES)
    together = structure.span_cues(
        proba_of(other + page + other),
        Documents(pd.Series(["o"] * 4 + ["a"] * 12 + ["p"] * 4)),
        CLASSES,
    )
    assert np.array_equal(alone, together[4:16])


def test_relative_cues_measure_lines_against_their_own_page():
    # A page the text model finds teaser-like as a whole: its body lines still score above
    # the page's median for body, and its best body line ranks first.
    proba = np.array(
        [
            [0.05, 0.80, 0.05, 0.10],  # the headline: left out of the page's medians
            [0.40, 0.00, 0.00, 0.60],
            [0.35, 0.00, 0.00, 0.65],
            [0.30, 0.00, 0.00, 0.70],
            [0.05, 0.00, 0.00, 0.95],
            [0.04, 0.00, 0.00, 0.96],
        ]
    )
    cues = pd.DataFrame(
        structure.relative_cues(proba, Documents(pd.Series(["d"] * 6)), CLASSES),
        columns=structure.relative_cue_names(CLASSES),
    )
    odds = np.log(0.30 / 0.70)  # the median body line of rows 1-5
    assert cues["page_body_log_odds"].to_numpy() == pytest.approx([odds] * 6)
    assert (cues["body_vs_page"].to_numpy()[1:3] > 0).all()
    assert (cues["body_vs_page"].to_numpy()[4:] < 0).all()
    assert cues["body_rank_in_page"].idxmax() == 1


def test_relative_cues_of_a_document_do_not_depend_on_its_batch():
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(4), 20)
    alone = structure.relative_cues(proba[5:15], Documents(pd.Series(["a"] * 10)), CLASSES)
    doc_ids = pd.Series(["o"] * 5 + ["a"] * 10 + ["p"] * 5)
    together = structure.relative_cues(proba, Documents(doc_ids), CLASSES)
    assert np.array_equal(alone, together[5:15])


def test_series_cues_find_lines_that_start_like_the_headline():
    texts = [
        "Opening Bell: 10.29.19",
        "Markets opened higher on Tuesday as investors waited for the Fed.",
        "Opening Bell: 10.30.19",
        "Opening Bell: 10.31.19",
        "Opening remarks were brief.",
        "",
    ]
    cues = pd.DataFrame(
        structure.series_cues(texts, Documents(pd.Series(["d"] * 6))),
        columns=structure.SERIES_CUES,
    )
    # The two dated issues share the headline's two word shapes (digits read as 0).
    assert cues["two_words_as_headline"].tolist() == [0, 0, 1, 1, 0, 0]
    assert cues["log_two_words_shared"].to_numpy()[[0, 2, 3]] == pytest.approx([np.log(3)] * 3)
    # "Opening remarks" shares only the first word; the empty line shares nothing.
    assert cues["first_word_as_headline"].tolist() == [0, 0, 1, 1, 1, 0]
    assert cues["log_first_word_shared"].to_numpy()[[4, 5]] == pytest.approx([np.log(4), 0])


def test_series_cues_count_only_lines_of_the_same_page():
    texts = ["Live: day 1", "Live: day 2", "Live: day 3"]
    apart = structure.series_cues(texts, Documents(pd.Series(["a", "b", "c"])))
    assert not apart.any()
