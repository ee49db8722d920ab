"""Scores for people (plain-text tables) and for machines (JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from newsseg.dataset import write_text

CONFUSION_CORNER = "true \\ pred"


def score_table(scores: dict) -> str:
    """Per-label precision/recall/F1/support, the summary scores and the confusion matrix."""
    lines = [
        f"{scores['documents']} documents, {scores['paragraphs']} paragraphs",
        "",
        f"{'label':<10} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}",
    ]
    for label, row in scores["labels"].items():
        lines.append(
            f"{label:<10} {row['precision']:>9.3f} {row['recall']:>9.3f} "
            f"{row['f1']:>9.3f} {row['support']:>9d}"
        )
    lines += [
        "",
        f"{'macro-F1':<10} {scores['macro_f1']:>9.3f}",
        f"{'accuracy':<10} {scores['accuracy']:>9.3f}",
        f"{'body_f1':<10} {scores['body_f1']:>9.3f}   (article-body shingle F1; "
        f"P {scores['body_precision']:.3f}, R {scores['body_recall']:.3f})",
        "",
        confusion_table(scores["confusion"]),
    ]
    return "\n".join(lines)


def confusion_table(confusion: dict) -> str:
    """The confusion matrix: rows are true labels, columns predicted ones."""
    labels = confusion["labels"]
    width = max(9, *(len(label) + 1 for label in labels))
    header = f"{CONFUSION_CORNER:<12}" + "".join(f"{label:>{width}}" for label in labels)
    rows = [
        f"{label:<12}" + "".join(f"{count:>{width}d}" for count in counts)
        for label, counts in zip(labels, confusion["matrix"], strict=True)
    ]
    return "\n".join([header, *rows])


def cv_table(cv: dict) -> str:
    """Grouped cross-validation: mean ± std over folds, then the pooled out-of-fold table."""
    lines = [f"{cv['folds']}-fold cross-validation grouped by {cv['group_by']}", ""]
    for name, values in cv["per_fold"].items():
        lines.append(f"{name:<12} {values['mean']:.3f} ± {values['std']:.3f}")
    lines += ["", "pooled out-of-fold predictions:", score_table(cv["pooled"])]
    return "\n".join(lines)


def write_json(path: str | Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
