"""Scores as plain data: per-label precision/recall/F1, accuracy, confusion, ``body_f1``;
breakdowns by site, source and document with every misclassified paragraph; and
cross-validation grouped by site or document (never one group on both sides of a split),
with a learning curve over the number of training documents; calibration of probabilities;
and the ablation table (grouped CV with each component of the model switched)."""

from __future__ import annotations

import re
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold

from newsseg.config import BODY_LABEL, LABELS
from newsseg.dataset import COLLECTION_COLUMN, TIER_COLUMN, Weighting
from newsseg.features import document_slices
from newsseg.progress import Track, silent
from newsseg.runs import run_slices

SHINGLE_SIZE = 4
"""``body_f1`` compares multisets of this many consecutive ``\\w+`` tokens."""

_TOKEN = re.compile(r"\w+")


# --------------------------------------------------------------------------- body_f1


def shingles(text: str, size: int = SHINGLE_SIZE) -> Counter:
    """The multiset of ``size``-token shingles of a text."""
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def body_scores(true_body: str, predicted_body: str) -> tuple[float, float]:
    """Shingle precision and recall of one document's predicted body against its true body.

    tp/fp/fn are normalised per document; an empty prediction of an empty body is perfect.
    """
    truth, guess = shingles(true_body), shingles(predicted_body)
    tp = sum((truth & guess).values())
    fp = sum(guess.values()) - tp
    fn = sum(truth.values()) - tp
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if fp == 0 else 0.0)
    return precision, recall


def body_f1(frame: pd.DataFrame, predicted: Sequence[str]) -> dict[str, float]:
    """The article-body score: per-document shingle precision and recall, averaged over
    documents, and the F1 of the two averages."""
    work = pd.DataFrame(
        {
            "doc_id": frame["doc_id"].to_numpy(),
            "text": frame["text"].to_numpy(),
            "true": frame["label"].to_numpy() == BODY_LABEL,
            "pred": np.asarray(predicted, dtype=object) == BODY_LABEL,
        }
    )
    precisions, recalls = [], []
    for _, doc in work.groupby("doc_id", sort=False):
        precision, recall = body_scores(
            " ".join(doc["text"][doc["true"]]), " ".join(doc["text"][doc["pred"]])
        )
        precisions.append(precision)
        recalls.append(recall)
    precision, recall = float(np.mean(precisions)), float(np.mean(recalls))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"body_precision": precision, "body_recall": recall, "body_f1": f1}


# --------------------------------------------------------------------------- error blocks

BLOCK_MIN_LINES = 6
"""An error block: at least this many consecutive paragraphs of a document with the same
wrong (true, predicted) pair."""


def error_blocks(
    frame: pd.DataFrame, predicted: Sequence[str], min_lines: int = BLOCK_MIN_LINES
) -> dict[str, float | int]:
    """Where the errors are: how many misclassified paragraphs stand in blocks of at least
    ``min_lines`` identical errors, and how many of those blocks lie at the article's edges
    (the block reaches outside the span from a document's first to its last true body line,
    or touches its first or last line) rather than inside the body. Shares are of all errors.
    """
    truth = frame["label"].to_numpy(dtype=object)
    guess = np.asarray(predicted, dtype=object)
    wrong = truth != guess
    errors = int(wrong.sum())
    in_blocks = at_edges = 0
    for part in document_slices(frame["doc_id"]):
        body = np.flatnonzero(truth[part] == BODY_LABEL)
        first, last = (body[0], body[-1]) if len(body) else (part.stop - part.start, -1)
        for run_start, run_end in _error_runs(truth[part], guess[part]):
            lines = run_end - run_start
            if lines < min_lines:
                continue
            in_blocks += lines
            if run_start <= first or run_end - 1 >= last:
                at_edges += lines
    return {
        "errors": errors,
        "block_min_lines": min_lines,
        "in_blocks": in_blocks,
        "at_edges": at_edges,
        "block_share": in_blocks / errors if errors else 0.0,
        "edge_share": at_edges / errors if errors else 0.0,
    }


def _error_runs(truth: np.ndarray, guess: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of each maximal run of the same wrong (true, predicted) pair."""
    true_codes, guess_codes = pd.factorize(truth)[0], pd.factorize(guess)[0]
    pairs = true_codes * (guess_codes.max(initial=0) + 1) + guess_codes
    return [
        (part.start, part.stop)
        for part in run_slices(pairs)
        if truth[part.start] != guess[part.start]
    ]


# --------------------------------------------------------------------------- scores


def score(frame: pd.DataFrame, predicted: Sequence[str], labels: Sequence[str] = LABELS) -> dict:
    """All scores of ``predicted`` against ``frame["label"]`` as a JSON-ready dict."""
    truth = frame["label"].to_numpy(dtype=object)
    guess = np.asarray(predicted, dtype=object)
    present = [label for label in labels if label in set(truth) | set(guess)]
    extra = sorted((set(truth) | set(guess)) - set(labels))
    order = present + extra
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=order, zero_division=0
    )
    per_label = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(order)
    }
    scored = [label for label in order if per_label[label]["support"] > 0]
    with warnings.catch_warnings():
        # One label in truth and prediction (a one-site or one-document breakdown) gives a
        # correct 1x1 matrix, yet scikit-learn warns as if ``labels`` had not been passed.
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        matrix = confusion_matrix(truth, guess, labels=order).tolist()
    return {
        "documents": int(frame["doc_id"].nunique()),
        "paragraphs": len(frame),
        "accuracy": float(np.mean(truth == guess)) if len(truth) else 0.0,
        "macro_f1": float(np.mean([per_label[label]["f1"] for label in scored])),
        "labels": per_label,
        "confusion": {
            "labels": order,
            "matrix": matrix,
        },
        **body_f1(frame, guess),
        "error_blocks": error_blocks(frame, guess),
    }


# --------------------------------------------------------------------------- calibration

CALIBRATION_BINS = 10
"""Equal-width confidence bins of the expected calibration error."""
LOG_LOSS_FLOOR = 1e-12
"""Smallest probability of a true label counted in the log-loss (a zero would be infinite)."""


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """The mean gap between confidence and accuracy over ``bins`` equal-width confidence
    bins, each weighted by its share of the paragraphs."""
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            gap += chosen.mean() * abs(confidence[chosen].mean() - correct[chosen].mean())
    return float(gap)


def calibration(
    proba: np.ndarray, truth_index: np.ndarray, predicted_index: np.ndarray | None = None
) -> dict[str, float]:
    """How well label probabilities ``(n, K)`` fit the true label indices: the expected
    calibration error of the largest probability (``ece``), or of the probability of
    ``predicted_index`` when given (``decoded_ece``: the confidence a decoder reports for its
    own label), the multi-class Brier score and the log-loss."""
    rows = np.arange(len(truth_index))
    guess = proba.argmax(axis=1)
    onehot = np.zeros_like(proba)
    onehot[rows, truth_index] = 1.0
    result = {
        "ece": expected_calibration_error(proba.max(axis=1), guess == truth_index),
        "brier": float(np.mean(((proba - onehot) ** 2).sum(axis=1))) if len(rows) else 0.0,
        "log_loss": float(-np.mean(np.log(np.clip(proba[rows, truth_index], LOG_LOSS_FLOOR, 1))))
        if len(rows)
        else 0.0,
    }
    if predicted_index is not None:
        result["decoded_ece"] = expected_calibration_error(
            proba[rows, predicted_index], predicted_index == truth_index
        )
    return result


# --------------------------------------------------------------------------- breakdowns

PREDICTED = "predicted"
"""Column of an evaluation frame holding the predicted label (``label`` is the true one)."""
CONFIDENCE = "confidence"
"""Column holding a paragraph's largest label probability."""
COLLECTION = COLLECTION_COLUMN
"""Column holding a document's source collection (the manifest's ``source`` column)."""

ERROR_COLUMNS = ["file", "line", "doc_id", "site", "true_label", "predicted_label", CONFIDENCE]


@dataclass
class Evaluation:
    """A model's evaluation in detail: the scores, the paragraphs with their predictions, the
    scores per site, per source and per document, and every misclassified paragraph."""

    scores: dict
    paragraphs: pd.DataFrame
    by_site: list[dict]
    by_source: list[dict]
    documents: list[dict]
    errors: pd.DataFrame


def evaluation(paragraphs: pd.DataFrame, labels: Sequence[str] = LABELS) -> Evaluation:
    """Score an evaluation frame: the reader's columns plus ``predicted``, ``confidence`` and
    ``proba_<label>``. The source breakdown is empty unless ``collection`` names sources."""
    paragraphs = paragraphs.reset_index(drop=True)
    has_sources = COLLECTION in paragraphs.columns and (paragraphs[COLLECTION] != "").any()
    return Evaluation(
        scores=score(paragraphs, paragraphs[PREDICTED].to_numpy(dtype=object), labels),
        paragraphs=paragraphs,
        by_site=breakdown(paragraphs, "site", labels),
        by_source=breakdown(paragraphs, COLLECTION, labels) if has_sources else [],
        documents=document_scores(paragraphs),
        errors=misclassified(paragraphs),
    )


def breakdown(paragraphs: pd.DataFrame, by: str, labels: Sequence[str] = LABELS) -> list[dict]:
    """Scores of each group of paragraphs (``by`` names the column), worst accuracy first."""
    rows = []
    for key, part in paragraphs.groupby(by, sort=True):
        scores = score(part, part[PREDICTED].to_numpy(dtype=object), labels)
        rows.append(
            {
                by: str(key),
                "documents": scores["documents"],
                "paragraphs": scores["paragraphs"],
                "errors": int((part["label"] != part[PREDICTED]).sum()),
                "accuracy": scores["accuracy"],
                "macro_f1": scores["macro_f1"],
                "body_f1": scores["body_f1"],
            }
        )
    return sorted(rows, key=lambda row: (row["accuracy"], row["body_f1"], row[by]))


def document_scores(paragraphs: pd.DataFrame) -> list[dict]:
    """Accuracy and ``body_f1`` of each document, worst first (lowest accuracy, then
    lowest ``body_f1``)."""
    rows = []
    for (source, doc_id), doc in paragraphs.groupby(["source", "doc_id"], sort=False):
        predicted = doc[PREDICTED].to_numpy(dtype=object)
        rows.append(
            {
                "doc_id": str(doc_id),
                "file": str(source),
                "site": str(doc["site"].iloc[0]),
                "paragraphs": len(doc),
                "errors": int((doc["label"].to_numpy(dtype=object) != predicted).sum()),
                "accuracy": float(np.mean(doc["label"].to_numpy(dtype=object) == predicted)),
                "body_f1": body_f1(doc, predicted)["body_f1"],
            }
        )
    return sorted(rows, key=lambda row: (row["accuracy"], row["body_f1"], row["doc_id"]))


def misclassified(paragraphs: pd.DataFrame) -> pd.DataFrame:
    """Every paragraph whose predicted label is not its true one, in input order: file,
    line, document, site, true and predicted label, confidence, probabilities and text."""
    wrong = paragraphs[paragraphs["label"] != paragraphs[PREDICTED]]
    proba_columns = [column for column in paragraphs.columns if column.startswith("proba_")]
    table = pd.DataFrame(
        {
            "file": wrong["source"].astype(str),
            "line": wrong["line"].astype(int),
            "doc_id": wrong["doc_id"].astype(str),
            "site": wrong["site"].astype(str),
            "true_label": wrong["label"].astype(str),
            "predicted_label": wrong[PREDICTED].astype(str),
            CONFIDENCE: wrong[CONFIDENCE].astype(float),
        }
    )
    for column in proba_columns:
        table[column] = wrong[column].astype(float)
    table["text"] = wrong["text"].astype(str)
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------- grouped CV

GROUP_COLUMNS = {"site": "site", "doc": "doc_id"}
"""What ``group_by`` may name, and the frame column holding each kind of group."""
GROUP_NOUNS = {"site": "sites", "doc": "documents"}
SUMMARY_METRICS = ("macro_f1", "accuracy", "body_f1")
LABEL_METRICS = ("precision", "recall", "f1")
CURVE_SEED = 0
"""Seed of the order in which training groups join a learning curve: runs are repeatable."""


def grouped_folds(
    frame: pd.DataFrame, folds: int, group_by: str = "site"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test row indices of ``folds`` splits grouped by ``site`` or by ``doc``."""
    if group_by not in GROUP_COLUMNS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_COLUMNS)}, not {group_by!r}")
    groups = frame[GROUP_COLUMNS[group_by]].to_numpy()
    n_groups = len(set(groups))
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if n_groups < folds:
        noun = GROUP_NOUNS[group_by]
        raise ValueError(
            f"{folds}-fold cross-validation needs {folds} {noun}; the data has {n_groups}"
        )
    return list(GroupKFold(n_splits=folds).split(frame, groups=groups))


def curve_fractions(points: int) -> list[float]:
    """The fractions of a fold's training groups a learning curve of ``points`` trains on."""
    return [step / points for step in range(1, points + 1)]


def training_subsets(
    groups: np.ndarray, train_rows: np.ndarray, fractions: Sequence[float], seed: int = CURVE_SEED
) -> list[np.ndarray]:
    """Rows of growing, nested subsets of the training groups, one per fraction (at least
    one group each): the groups join in a fixed random order."""
    train_groups = groups[train_rows]
    order = np.random.default_rng(seed).permutation(np.unique(train_groups))
    subsets = []
    for fraction in fractions:
        count = max(1, int(np.ceil(fraction * len(order) - 1e-9)))
        subsets.append(train_rows[np.isin(train_groups, order[:count])])
    return subsets


def cross_validate(
    model,
    frame: pd.DataFrame,
    folds: int = 5,
    group_by: str = "site",
    curve_points: int = 1,
    track: Track = silent,
    weighting: Weighting | None = None,
) -> dict:
    """Grouped K-fold CV (training paragraphs weighed by ``weighting``): the pooled scores of
    all out-of-fold predictions, mean and standard deviation over folds of the summary metrics
    and of each label's precision, recall and F1, and each fold's scores. With ``curve_points``
    > 1 also a learning curve: each fold is trained again on growing fractions of its training
    groups (``learning_curve``)."""
    splits = grouped_folds(frame, folds, group_by)
    groups = frame[GROUP_COLUMNS[group_by]].to_numpy()
    fractions = curve_fractions(max(1, curve_points))
    predicted = np.empty(len(frame), dtype=object)
    fold_scores: list[dict] = []
    curve: list[list[dict]] = [[] for _ in fractions]
    jobs = [(fold, step) for fold in range(len(splits)) for step in range(len(fractions))]
    subsets: list[np.ndarray] = []
    for fold, step in track(jobs, f"cross-validation ({folds} folds)", total=len(jobs)):
        train_rows, test_rows = splits[fold]
        if step == 0:
            subsets = training_subsets(groups, train_rows, fractions)
        train, test = frame.iloc[subsets[step]], frame.iloc[test_rows]
        weights = weighting.weights(train) if weighting else None
        fitted = clone(model).fit(train[["doc_id", "text"]], train["label"].to_numpy(), weights)
        guess = fitted.predict(test[["doc_id", "text"]])
        scores = score(test, guess)
        curve[step].append(
            {
                "documents": int(train["doc_id"].nunique()),
                "groups": len(set(groups[subsets[step]])),
                **{name: scores[name] for name in SUMMARY_METRICS},
            }
        )
        if step == len(fractions) - 1:
            predicted[test_rows] = guess
            fold_scores.append(_fold_row(fold, train, test, groups[test_rows], scores))
    pooled = score(frame, predicted)
    per_fold = [row["scores"] for row in fold_scores]
    result = {
        "folds": folds,
        "group_by": group_by,
        "pooled": pooled,
        "per_fold": _summary(pooled, per_fold),
        "per_label": _label_summary(pooled, per_fold),
    }
    if tiers := tier_scores(frame, predicted):
        result["tiers"] = tiers
    result["fold_scores"] = [
        {key: value for key, value in row.items() if key != "scores"} for row in fold_scores
    ]
    if len(fractions) > 1:
        result["learning_curve"] = [
            _curve_point(fraction, points)
            for fraction, points in zip(fractions, curve, strict=True)
        ]
    return result


def tier_scores(frame: pd.DataFrame, predicted: np.ndarray) -> dict[str, dict]:
    """The pooled scores of each label tier's documents (the manifest's ``labels`` column,
    such as ``reviewed`` and ``rules``): trained together, scored apart. Empty when the
    frame names no tier."""
    if TIER_COLUMN not in frame.columns:
        return {}
    tiers = frame[TIER_COLUMN].to_numpy(dtype=object)
    return {
        str(tier): score(frame[tiers == tier], predicted[tiers == tier])
        for tier in sorted({tier for tier in tiers if tier})
    }


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _fold_row(
    fold: int, train: pd.DataFrame, test: pd.DataFrame, test_groups: np.ndarray, scores: dict
) -> dict:
    return {
        "fold": fold + 1,
        "train_documents": int(train["doc_id"].nunique()),
        "test_documents": int(test["doc_id"].nunique()),
        "test_groups": len(set(test_groups)),
        **{name: scores[name] for name in SUMMARY_METRICS},
        "scores": scores,
    }


def _summary(pooled: dict, fold_scores: list[dict]) -> dict:
    """Mean ± std over folds of the summary metrics and of each label's F1 (``<label>_f1``;
    the ``body`` label's F1 is in :func:`_label_summary`, as ``body_f1`` names the article-body
    score)."""
    summary = {name: _mean_std([fold[name] for fold in fold_scores]) for name in SUMMARY_METRICS}
    for label in pooled["labels"]:
        if f"{label}_f1" in summary:
            continue
        values = [fold["labels"][label]["f1"] for fold in fold_scores if label in fold["labels"]]
        summary[f"{label}_f1"] = _mean_std(values)
    return summary


def _label_summary(pooled: dict, fold_scores: list[dict]) -> dict:
    """Mean ± std over folds of each label's precision, recall and F1 (over the folds where
    the label was present or predicted)."""
    return {
        label: {
            metric: _mean_std(
                [fold["labels"][label][metric] for fold in fold_scores if label in fold["labels"]]
            )
            for metric in LABEL_METRICS
        }
        for label in pooled["labels"]
    }


def _curve_point(fraction: float, folds: list[dict]) -> dict:
    return {
        "fraction": fraction,
        "documents": float(np.mean([fold["documents"] for fold in folds])),
        "groups": float(np.mean([fold["groups"] for fold in folds])),
        **{name: _mean_std([fold[name] for fold in folds]) for name in SUMMARY_METRICS},
    }


# --------------------------------------------------------------------------- ablation

ABLATION_BASELINE = "default model"
ABLATION_VARIANTS: dict[str, dict] = {
    ABLATION_BASELINE: {},
    "without sequence decoding": {"sequence": "none"},
    "without context (neighbours' text-model probabilities)": {"use_context": False},
    "with cross-document memory": {"use_memory": True},
    "without character n-grams": {"use_chars": False},
    "without layout cues": {"use_layout": False},
    "without topic cues": {"use_topic": False},
    "without composed training pages": {"compose": 0.0},
    "without structure cues": {"use_structure": False},
    "without page-relative cues": {"use_relative": False},
    "without series cues": {"use_series": False},
    "without zones (a plain label chain)": {"zones": False},
    "with early stopping (the holdout's best macro-F1)": {"early_stopping": True},
    "120 booster iterations (v0.4's)": {"boost_iterations": 120},
}
"""The ablation's rows: each component switched (settings changed from the model's own)."""


def ablation_row(name: str, params: dict, cv: dict, seconds: float) -> dict:
    """One ablation row: its name, the changed settings and the pooled out-of-fold scores
    of a CV."""
    pooled = cv["pooled"]
    return {
        "variant": name,
        "params": params,
        "macro_f1": pooled["macro_f1"],
        "f1": {label: row["f1"] for label, row in pooled["labels"].items()},
        "body_f1": pooled["body_f1"],
        "seconds": round(seconds, 1),
    }


def ablation(
    model,
    frame: pd.DataFrame,
    folds: int = 5,
    group_by: str = "site",
    variants: dict[str, dict] | None = None,
    baseline: tuple[dict, float] | None = None,
    track: Track = silent,
    weighting: Weighting | None = None,
) -> dict:
    """Grouped K-fold CV of ``model`` with each component switched (``variants``: row name
    to changed settings; default :data:`ABLATION_VARIANTS`). Every row trains from scratch
    on the training folds only. ``baseline`` (a CV result of ``model`` itself on the same
    folds, and its seconds) stands for the unchanged row instead of running it again.
    Returns ``folds``, ``group_by`` and ``variants``: a list of :func:`ablation_row` (a list,
    so that the order survives JSON with sorted keys)."""
    rows = []
    chosen = ABLATION_VARIANTS if variants is None else variants
    for name, params in track(list(chosen.items()), f"ablation ({len(chosen)} variants)"):
        if not params and baseline is not None:
            rows.append(ablation_row(name, params, *baseline))
            continue
        start = time.perf_counter()
        variant = clone(model).set_params(**params)
        cv = cross_validate(variant, frame, folds, group_by, weighting=weighting)
        rows.append(ablation_row(name, params, cv, time.perf_counter() - start))
    return {"folds": folds, "group_by": group_by, "variants": rows}
