"""Scores as plain data: per-label precision/recall/F1, accuracy, confusion, ``body_f1``, and
cross-validation grouped by site (never one site on both sides of a split)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold

from newsseg.config import BODY_LABEL, LABELS

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
    return {
        "documents": int(frame["doc_id"].nunique()),
        "paragraphs": len(frame),
        "accuracy": float(np.mean(truth == guess)) if len(truth) else 0.0,
        "macro_f1": float(np.mean([per_label[label]["f1"] for label in scored])),
        "labels": per_label,
        "confusion": {
            "labels": order,
            "matrix": confusion_matrix(truth, guess, labels=order).tolist(),
        },
        **body_f1(frame, guess),
    }


# --------------------------------------------------------------------------- grouped CV


def grouped_folds(frame: pd.DataFrame, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test row indices of ``folds`` splits grouped by ``site``."""
    sites = frame["site"].to_numpy()
    n_sites = len(set(sites))
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if n_sites < folds:
        raise ValueError(
            f"{folds}-fold cross-validation needs {folds} sites; the data has {n_sites}"
        )
    return list(GroupKFold(n_splits=folds).split(frame, groups=sites))


def cross_validate(model, frame: pd.DataFrame, folds: int = 5) -> dict:
    """Grouped-by-site K-fold CV: the pooled scores of all out-of-fold predictions, plus the
    mean and standard deviation over folds of the headline metrics."""
    predicted = np.empty(len(frame), dtype=object)
    fold_scores = []
    for train_rows, test_rows in grouped_folds(frame, folds):
        train, test = frame.iloc[train_rows], frame.iloc[test_rows]
        fitted = clone(model).fit(train[["doc_id", "text"]], train["label"].to_numpy())
        predicted[test_rows] = fitted.predict(test[["doc_id", "text"]])
        fold_scores.append(score(test, predicted[test_rows]))
    pooled = score(frame, predicted)
    summary = {}
    for name in ("macro_f1", "accuracy", "body_f1"):
        values = [fold[name] for fold in fold_scores]
        summary[name] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    for label in pooled["labels"]:
        values = [fold["labels"][label]["f1"] for fold in fold_scores if label in fold["labels"]]
        summary[f"{label}_f1"] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    return {"folds": folds, "group_by": "site", "pooled": pooled, "per_fold": summary}
