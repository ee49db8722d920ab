"""Scores: body_f1 by hand on tiny documents, per-label table, grouped CV."""

from __future__ import annotations

import pandas as pd
import pytest

from newsseg import dataset, evaluate
from newsseg.model import ParagraphLabeler

from .conftest import TINY_PARAMS


def frame_of(doc_labels: dict[str, list[tuple[str, str]]]) -> pd.DataFrame:
    rows = [
        {"doc_id": doc, "text": text, "label": label, "site": doc}
        for doc, lines in doc_labels.items()
        for label, text in lines
    ]
    return pd.DataFrame(rows)


def test_shingles_are_4_token_multisets():
    assert evaluate.shingles("a b c d e") == {("a", "b", "c", "d"): 1, ("b", "c", "d", "e"): 1}
    assert evaluate.shingles("a b c") == {}


def test_body_f1_by_hand():
    # Document 1: true body has 5 shingles; the prediction adds a 7-token teaser (4 shingles
    # of its own plus 3 across the join): tp 5, fp 7, fn 0 -> precision 5/12, recall 1.
    # Document 2: perfect.
    frame = frame_of(
        {
            "d1": [
                ("body", "one two three four five six seven eight"),
                ("teaser", "t1 t2 t3 t4 t5 t6 t7"),
            ],
            "d2": [("body", "alpha beta gamma delta"), ("legal", "copyright")],
        }
    )
    scores = evaluate.body_f1(frame, ["body", "body", "body", "legal"])
    assert scores["body_precision"] == pytest.approx((5 / 12 + 1) / 2)
    assert scores["body_recall"] == pytest.approx(1.0)
    p, r = (5 / 12 + 1) / 2, 1.0
    assert scores["body_f1"] == pytest.approx(2 * p * r / (p + r))


def test_body_f1_of_a_missed_body_is_zero_recall():
    frame = frame_of({"d": [("body", "w1 w2 w3 w4 w5")]})
    assert evaluate.body_f1(frame, ["teaser"])["body_recall"] == 0.0


def test_score_has_the_documented_keys():
    frame = frame_of({"d": [("headline", "T"), ("body", "B"), ("teaser", "X")]})
    scores = evaluate.score(frame, ["headline", "body", "body"])
    assert set(scores) >= {
        "macro_f1",
        "accuracy",
        "documents",
        "paragraphs",
        "labels",
        "confusion",
        "body_f1",
    }
    assert scores["labels"]["teaser"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["confusion"]["labels"] == ["headline", "body", "teaser"]
    assert scores["confusion"]["matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_grouped_folds_never_share_a_site(tiny_corpus):
    frame = dataset.read_documents([tiny_corpus], labeled=True)
    for train, test in evaluate.grouped_folds(frame, 3):
        assert not set(frame["site"].iloc[train]) & set(frame["site"].iloc[test])


def test_too_few_sites_for_the_folds(tiny_corpus):
    frame = dataset.read_documents([tiny_corpus], labeled=True)
    with pytest.raises(ValueError, match="needs 7 sites; the data has 6"):
        evaluate.grouped_folds(frame, 7)


def test_cross_validate_reports_mean_and_std(tiny_corpus):
    frame = dataset.read_documents([tiny_corpus], labeled=True)
    cv = evaluate.cross_validate(ParagraphLabeler(**TINY_PARAMS), frame, folds=3)
    assert cv["folds"] == 3
    assert cv["pooled"]["paragraphs"] == len(frame)
    assert set(cv["per_fold"]["macro_f1"]) == {"mean", "std"}
    assert cv["pooled"]["labels"]["headline"]["f1"] == pytest.approx(1.0)
