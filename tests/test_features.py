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
    assert {name.split("__")[0] for name in names} == {"words", "chars", "layout"}


def test_compact_vectorizer_survives_a_state_round_trip():
    vectorizer = features.CompactTfidfVectorizer().fit(["apple pie", "apple tart", "cherry pie"])
    state = vectorizer.__getstate__()
    assert "vocabulary_" not in state
    restored = features.CompactTfidfVectorizer.__new__(features.CompactTfidfVectorizer)
    restored.__setstate__(state)
    assert restored.vocabulary_ == vectorizer.vocabulary_
    assert (restored.transform(["apple"]) != vectorizer.transform(["apple"])).nnz == 0
