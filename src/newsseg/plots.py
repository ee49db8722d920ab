"""Pictures of scores, drawn with matplotlib's file-only Agg backend and returned as PNG bytes
(so a report can embed them and write them atomically)."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from newsseg.evaluate import CALIBRATION_BINS, SUMMARY_METRICS, expected_calibration_error

DPI = 110
HEAT_MAP = "Blues"
CURVE_STYLES = {"macro_f1": "o-", "accuracy": "s--", "body_f1": "^-"}


def png_bytes(figure: Figure) -> bytes:
    """A figure as PNG bytes."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # draw with Agg whatever backend pyplot was given elsewhere
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def confusion_figure(confusion: dict, title: str = "Confusion matrix") -> Figure:
    """A heat map of the confusion matrix (rows true, columns predicted), each cell with its
    count and its share of the true label's paragraphs."""
    labels, counts = confusion["labels"], np.asarray(confusion["matrix"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = 1.2 + 1.1 * len(labels)
    figure = Figure(figsize=(size + 1.2, size))
    axes = figure.subplots()
    image = axes.imshow(shares, cmap=HEAT_MAP, vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of true label")
    axes.set_xticks(range(len(labels)), labels=labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels=labels)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title(title)
    for row in range(len(labels)):
        for column in range(len(labels)):
            dark = shares[row, column] > 0.5
            axes.text(
                column,
                row,
                f"{int(counts[row, column])}\n{share_text(shares[row, column])}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )
    return figure


def share_text(share: float) -> str:
    """A share as a whole percentage, except that a share that is not 0 or 1 never reads
    as one: 1 paragraph of 472 is "<1%", not "0%"."""
    if 0 < share < 0.005:
        return "<1%"
    if 0.995 <= share < 1:
        return ">99%"
    return f"{share:.0%}"


def confusion_png(confusion: dict, title: str = "Confusion matrix") -> bytes:
    """The confusion heat map as PNG bytes."""
    return png_bytes(confusion_figure(confusion, title))


def learning_curve_figure(cv: dict) -> Figure:
    """Scores on held-out groups against the number of training documents: the mean over
    folds with a ±1 standard deviation band."""
    points = cv["learning_curve"]
    documents = [point["documents"] for point in points]
    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.subplots()
    for name in SUMMARY_METRICS:
        mean = np.array([point[name]["mean"] for point in points])
        std = np.array([point[name]["std"] for point in points])
        axes.plot(documents, mean, CURVE_STYLES.get(name, "o-"), label=name)
        axes.fill_between(documents, mean - std, np.minimum(mean + std, 1.0), alpha=0.15)
    axes.set_xlabel("training documents (mean over folds)")
    axes.set_ylabel("score on held-out data")
    axes.set_title(f"Learning curve, {cv['folds']}-fold CV grouped by {cv['group_by']}")
    axes.set_ylim(top=1.0)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return figure


def learning_curve_png(cv: dict) -> bytes:
    """The learning curve as PNG bytes."""
    return png_bytes(learning_curve_figure(cv))


def reliability_figure(
    confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS
) -> Figure:
    """A reliability diagram: for each of ``bins`` equal-width bins of confidence, the share
    of right labels (bars, with the count of paragraphs above) against the diagonal of
    perfect calibration, and the expected calibration error in the title."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    right = np.bincount(which, weights=correct.astype(float), minlength=bins)
    accuracy = np.divide(right, counts, out=np.zeros(bins), where=counts > 0)
    centres = (edges[:-1] + edges[1:]) / 2
    figure = Figure(figsize=(5.6, 4.4))
    axes = figure.subplots()
    axes.bar(centres, accuracy, width=1 / bins, edgecolor="white", alpha=0.85, label="right")
    axes.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    for centre, share, count in zip(centres, accuracy, counts, strict=True):
        if count:
            axes.text(centre, share + 0.01, str(int(count)), ha="center", va="bottom", fontsize=7)
    ece = expected_calibration_error(confidence, correct, bins)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.08)
    axes.set_xlabel("confidence (the largest label probability)")
    axes.set_ylabel("share of paragraphs labeled right")
    axes.set_title(f"Reliability (expected calibration error {ece:.3f})")
    axes.legend(loc="upper left")
    return figure


def reliability_png(confidence: np.ndarray, correct: np.ndarray) -> bytes:
    """The reliability diagram as PNG bytes."""
    return png_bytes(reliability_figure(confidence, correct))
