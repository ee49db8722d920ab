"""Scores: body_f1 by hand on tiny documents, per-label table, grouped CV."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from newsseg import dataset, evaluate, report
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


def test_error_blocks_count_runs_of_identical_errors_at_the_article_edges():
    # d1: a rail of 7 teasers after the body taken for body (an edge block), one stray error.
    # d2: 6 body lines inside the body taken for teasers (a block, not at an edge), and
    # 6 body lines ending the body taken for teasers (an edge block, touching the last line).
    d1 = [("headline", "T"), *[("body", "B")] * 4, *[("teaser", "X")] * 7, ("legal", "L")]
    d1_guess = ["headline", "body", "teaser", "body", "body", *["body"] * 7, "legal"]
    d2 = [("headline", "T"), *[("body", "B")] * 14]
    d2_guess = ["headline", "body", *["teaser"] * 6, "body", *["teaser"] * 6]
    frame = frame_of({"d1": d1, "d2": d2})
    blocks = evaluate.error_blocks(frame, [*d1_guess, *d2_guess])
    assert blocks == {
        "errors": 20,
        "block_min_lines": 6,
        "in_blocks": 19,
        "at_edges": 13,
        "block_share": pytest.approx(19 / 20),
        "edge_share": pytest.approx(13 / 20),
    }
    # Five identical errors are no block; a change of predicted label splits a run.
    five = frame_of({"d": [("headline", "T"), *[("teaser", "X")] * 6]})
    split = evaluate.error_blocks(five, ["headline", *["body"] * 5, "legal"])
    assert (split["errors"], split["in_blocks"]) == (6, 0)
    assert evaluate.score(five, ["headline", *["body"] * 6])["error_blocks"]["at_edges"] == 6


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
    assert "tiers" not in cv  # no manifest names a tier


def test_cross_validate_scores_each_label_tier_apart(tiny_corpus):
    frame = dataset.read_documents([tiny_corpus], labeled=True)
    reviewed = frame["site"].isin(["daily-planet", "metro-herald", "valley-post"])
    frame["tier"] = np.where(reviewed, "reviewed", "rules")
    cv = evaluate.cross_validate(ParagraphLabeler(**TINY_PARAMS), frame, folds=3)
    assert set(cv["tiers"]) == {"reviewed", "rules"}
    assert cv["tiers"]["reviewed"]["documents"] == cv["tiers"]["rules"]["documents"] == 6
    total = sum(tier["confusion"]["matrix"][0][0] for tier in cv["tiers"].values())
    assert total == cv["pooled"]["confusion"]["matrix"][0][0]  # headline hits, split in two
    assert "by label tier" in report.cv_table(cv)


def test_grouped_folds_by_document(tiny_corpus):
    frame = dataset.read_documents([tiny_corpus], labeled=True)
    splits = evaluate.grouped_folds(frame, 12, group_by="doc")
    assert len(splits) == 12
    for train, test in splits:
        assert frame["doc_id"].iloc[test].nunique() == 1
        assert not set(frame["doc_id"].iloc[train]) & set(frame["doc_id"].iloc[test])
    with pytest.raises(ValueError, match="needs 13 documents; the data has 12"):
        evaluate.grouped_folds(frame, 13, group_by="doc")
    with pytest.raises(ValueError, match="group_by must be one of site, doc"):
        evaluate.grouped_folds(frame, 3, group_by="url")


def test_training_subsets_grow_nested_from_whole_groups():
    groups = np.array(["a", "a", "b", "c", "c", "d", "e"])
    train_rows = np.array([0, 1, 2, 3, 4, 5])  # groups a-d; e is held out
    subsets = evaluate.training_subsets(groups, train_rows, evaluate.curve_fractions(4))
    sizes = [len(set(groups[rows])) for rows in subsets]
    assert sizes == [1, 2, 3, 4]
    for smaller, larger in itertools.pairwise(subsets):
        assert set(smaller) <= set(larger)
    for rows in subsets:  # a group is in whole or not at all
        for group in set(groups[rows]):
            assert set(np.flatnonzero(groups[train_rows] == group)) <= set(rows)


def test_cross_validate_gives_per_label_spread_folds_and_a_learning_curve(tiny_corpus):
    frame = dataset.read_documents([tiny_corpus], labeled=True)
    seen = []

    def track(items, description, total=None):
        seen.append((description, total))
        yield from items

    cv = evaluate.cross_validate(
        ParagraphLabeler(**TINY_PARAMS), frame, folds=3, curve_points=2, track=track
    )
    assert seen == [("cross-validation (3 folds)", 6)]
    assert set(cv["per_label"]["teaser"]) == {"precision", "recall", "f1"}
    assert set(cv["per_label"]["teaser"]["f1"]) == {"mean", "std"}
    assert [fold["fold"] for fold in cv["fold_scores"]] == [1, 2, 3]
    assert sum(fold["test_documents"] for fold in cv["fold_scores"]) == 12
    curve = cv["learning_curve"]
    assert [point["fraction"] for point in curve] == [0.5, 1.0]
    assert curve[0]["documents"] < curve[1]["documents"] == 8
    assert curve[1]["macro_f1"]["mean"] == pytest.approx(cv["per_fold"]["macro_f1"]["mean"])


def evaluation_frame_of(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(doc, true, predicted, confidence) rows as an evaluation frame."""
    frame = pd.DataFrame(
        {
            "doc_id": [row[0] for row in rows],
            "text": [f"paragraph {i} of some text here" for i in range(len(rows))],
            "label": [row[1] for row in rows],
            "source": [f"{row[0]}.tsv" for row in rows],
            "line": list(range(1, len(rows) + 1)),
            "site": [row[0].split("__")[0] for row in rows],
            "collection": ["" for _ in rows],
            evaluate.PREDICTED: [row[2] for row in rows],
            evaluate.CONFIDENCE: [row[3] for row in rows],
        }
    )
    return frame


def test_evaluation_lists_every_misclassified_paragraph_and_the_worst_documents():
    frame = evaluation_frame_of(
        [
            ("a__1", "headline", "headline", 0.9),
            ("a__1", "body", "body", 0.8),
            ("a__1", "teaser", "body", 0.6),
            ("b__1", "headline", "headline", 0.9),
            ("b__1", "legal", "teaser", 0.7),
            ("b__1", "teaser", "legal", 0.5),
        ]
    )
    result = evaluate.evaluation(frame)
    matrix = np.array(result.scores["confusion"]["matrix"])
    assert len(result.errors) == matrix.sum() - np.trace(matrix) == 3
    assert result.errors[["file", "line"]].values.tolist() == [
        ["a__1.tsv", 3],
        ["b__1.tsv", 5],
        ["b__1.tsv", 6],
    ]
    assert result.errors["true_label"].tolist() == ["teaser", "legal", "teaser"]
    assert result.errors["predicted_label"].tolist() == ["body", "teaser", "legal"]
    assert [doc["doc_id"] for doc in result.documents] == ["b__1", "a__1"]
    assert result.documents[0]["errors"] == 2
    assert [site["site"] for site in result.by_site] == ["b", "a"]
    assert result.by_source == []  # no manifest named a source


def test_evaluation_by_source_when_a_manifest_names_them():
    frame = evaluation_frame_of(
        [("a__1", "headline", "headline", 0.9), ("b__1", "body", "legal", 1)]
    )
    frame["collection"] = ["wcxb", "scrapinghub"]
    result = evaluate.evaluation(frame)
    assert [row["collection"] for row in result.by_source] == ["scrapinghub", "wcxb"]


def test_cv_body_f1_is_the_article_body_score_not_the_body_labels_f1(tiny_corpus):
    frame = dataset.read_documents([tiny_corpus], labeled=True)
    everything_is_body = DummyClassifier(strategy="constant", constant="body")
    cv = evaluate.cross_validate(everything_is_body, frame, folds=3)
    body_f1s = [fold["body_f1"] for fold in cv["fold_scores"]]
    assert cv["per_fold"]["body_f1"]["mean"] == pytest.approx(np.mean(body_f1s))
    assert cv["per_label"]["body"]["f1"]["mean"] < min(body_f1s)  # a different score


def test_calibration_scores_a_hand_made_set_of_probabilities():
    from newsseg.evaluate import calibration, expected_calibration_error

    # Ten paragraphs at 0.9 confidence of which 9 are right: perfectly calibrated.
    proba = np.tile([0.9, 0.1], (10, 1))
    truth = np.array([0] * 9 + [1])
    scores = calibration(proba, truth, predicted_index=np.zeros(10, dtype=int))
    assert scores["ece"] == pytest.approx(0.0)
    assert scores["decoded_ece"] == pytest.approx(0.0)
    assert scores["brier"] == pytest.approx((9 * 0.02 + 1.62) / 10)
    assert scores["log_loss"] == pytest.approx(-(9 * np.log(0.9) + np.log(0.1)) / 10)
    # Always sure, right half of the time: a gap of one half.
    assert expected_calibration_error(np.ones(4), np.array([1, 0, 1, 0])) == pytest.approx(0.5)
    # The decoded label's confidence is scored, not the largest probability: label 1 at
    # 0.1 is right once in ten, calibrated too; at 0.9 it would be off by 0.8.
    decoded = calibration(proba, truth, predicted_index=np.ones(10, dtype=int))["decoded_ece"]
    assert decoded == pytest.approx(0.0)
    wrong = calibration(proba[:, ::-1], truth, predicted_index=np.ones(10, dtype=int))
    assert wrong["decoded_ece"] == pytest.approx(0.8)


def test_ablation_switches_each_component_and_reuses_a_given_baseline(tiny_frame_for_ablation):
    model = ParagraphLabeler(**TINY_PARAMS, inner_folds=2)
    frame = tiny_frame_for_ablation
    cv = evaluate.cross_validate(model, frame, folds=2)
    variants = {evaluate.ABLATION_BASELINE: {}, "without layout cues": {"use_layout": False}}
    table = evaluate.ablation(model, frame, folds=2, variants=variants, baseline=(cv, 12.34))
    assert table["folds"] == 2 and table["group_by"] == "site"
    baseline, switched = table["variants"]
    assert baseline["variant"] == evaluate.ABLATION_BASELINE
    assert baseline["seconds"] == 12.3 and baseline["macro_f1"] == cv["pooled"]["macro_f1"]
    assert switched["variant"] == "without layout cues"
    assert switched["params"] == {"use_layout": False}
    assert set(switched["f1"]) == {"headline", "body", "legal", "teaser"}
    assert 0.0 <= switched["macro_f1"] <= 1.0


@pytest.fixture(scope="module")
def tiny_frame_for_ablation(tiny_corpus):
    return dataset.read_documents([tiny_corpus], labeled=True)
