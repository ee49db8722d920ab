"""Pictures of scores, drawn with matplotlib's file-only Agg backend and returned as PNG bytes
(so a report can embed them and write them atomically)."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from newsseg.evaluate import SUMMARY_METRICS

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
                f"{int(counts[row, column])}\n{shares[row, column]:.0%}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )
    return figure


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
