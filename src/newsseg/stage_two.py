"""The boosting stage's input: one row of cues per paragraph, assembled from its parts in one
fixed order, and the names of its columns.

Training (:class:`newsseg.model.ParagraphLabeler`) and prediction from a model file's arrays
(:class:`newsseg.predictor.ArrayLabeler`) both assemble it here, so that the columns a booster
was trained on are the columns it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from newsseg.config import ROLES
from newsseg.features import DOC_COLUMN, TEXT_COLUMN, Documents
from newsseg.structure import (
    RHYTHM_CUES,
    SERIES_CUES,
    SPAN_CUES,
    relative_cue_names,
    relative_cues,
    rhythm_cues,
    series_cues,
    span_cues,
)

WINDOW_CONTEXT = 5
"""Paragraphs in the centred window of the text model's context cues."""
BANNER_ROWS = 4
"""A notice among a page's first rows is a banner, not the start of its footer."""
CONTEXT_PARTS = ("previous", "next", "window", "document")
MEMORY_COLUMNS = 2
"""Columns of the cross-document memory (see :func:`newsseg.features.memory_cues`)."""


def probability_context(proba: np.ndarray, doc_ids: pd.Series, classes: np.ndarray) -> np.ndarray:
    """The text model's view of each paragraph's surroundings: the previous and next
    paragraph's probabilities, a window mean, the document mean, and the largest legal and
    teaser probability seen so far (a notice after the body starts the footer)."""
    k = proba.shape[1]
    documents = Documents(doc_ids)
    first = (documents.position == 0)[:, None]
    last = (documents.position == documents.document_size - 1)[:, None]
    columns = range(k)
    parts = [
        np.where(first, 0.0, np.roll(proba, 1, axis=0)),
        np.where(last, 0.0, np.roll(proba, -1, axis=0)),
        np.column_stack([documents.window_mean(proba[:, j], WINDOW_CONTEXT) for j in columns]),
        np.column_stack([documents.total(proba[:, j]) for j in columns])
        / np.maximum(documents.document_size, 1)[:, None],
    ]
    for label in (ROLES.notice, ROLES.teaser):
        seen = np.zeros(len(proba))
        if label in classes:
            seen = proba[:, list(classes).index(label)].copy()
            if label == ROLES.notice:
                seen[documents.position < BANNER_ROWS] = 0.0  # a banner, not a footer
            seen = documents.running_max_before(seen)
        parts.append(seen[:, None])
    return np.hstack(parts)


@dataclass(frozen=True)
class StructureSettings:
    """Which page-structure cues the boosting stage reads besides the article span and the
    rhythm (see :mod:`newsseg.structure`); a model without ``use_structure`` reads none."""

    use_relative: bool = False
    """The text model's scores against the page's own (log-odds minus the page's median,
    the body rank in the page)."""
    use_series: bool = False
    """Lines starting with the headline's word shapes, and how many lines start alike."""


STRUCTURE_FLAGS = tuple(field.name for field in fields(StructureSettings))
"""The settings of :class:`StructureSettings` (a model file records each; one written before
a setting existed reads it as false)."""


def structure_features(
    frame: pd.DataFrame,
    text_proba: np.ndarray | None,
    layout: np.ndarray | None,
    layout_names: Sequence[str],
    classes: Sequence,
    settings: StructureSettings,
) -> np.ndarray:
    """The page-structure cues of paragraphs (``frame``: ``doc_id`` and ``text``; see
    :mod:`newsseg.structure`): the article span and the page-relative scores from the text
    model's probabilities, the rhythm from the layout cues (columns ``layout_names``), the
    series cues from the text; columns :func:`structure_feature_names`."""
    documents = Documents(frame[DOC_COLUMN])
    parts = [np.zeros((len(frame), 0))]
    labels = [str(c) for c in classes]
    if text_proba is not None:
        parts.append(span_cues(text_proba, documents, labels))
        if settings.use_relative:
            parts.append(relative_cues(text_proba, documents, labels))
    if layout is not None:
        names = list(layout_names)
        words, stop = (layout[:, names.index(name)] for name in ("log_words", "ends_with_stop"))
        parts.append(rhythm_cues(words, stop, documents))
    if settings.use_series:
        parts.append(series_cues(frame[TEXT_COLUMN], documents))
    return np.hstack(parts)


def structure_feature_names(
    classes: Sequence, *, text: bool, layout: bool, settings: StructureSettings
) -> list[str]:
    """The names of :func:`structure_features`' columns."""
    names = []
    if text:
        names += list(SPAN_CUES)
        if settings.use_relative:
            names += relative_cue_names([str(c) for c in classes])
    if layout:
        names += list(RHYTHM_CUES)
    if settings.use_series:
        names += list(SERIES_CUES)
    return names


def stage_two_matrix(
    frame: pd.DataFrame,
    classes: Sequence,
    *,
    layout: np.ndarray | None,
    layout_names: Sequence[str],
    topic: np.ndarray | None,
    memory: np.ndarray | None,
    text_proba: np.ndarray | None,
    use_context: bool,
    structure: StructureSettings | None,
) -> np.ndarray:
    """The boosting stage's feature matrix of the paragraphs of ``frame`` from its parts
    (None for a part switched off): layout, topic and memory cues, the text model's
    probabilities and their context, and the page-structure cues (none when ``structure``
    is None); columns :func:`stage_two_feature_names`."""
    doc_ids = frame[DOC_COLUMN]
    parts = [np.zeros((len(frame), 0))]
    parts += [part for part in (layout, topic, memory) if part is not None]
    if text_proba is not None:
        parts.append(text_proba)
        if use_context:
            parts.append(probability_context(text_proba, doc_ids, np.asarray(classes)))
    if structure is not None:
        parts.append(
            structure_features(frame, text_proba, layout, layout_names, classes, structure)
        )
    return np.hstack(parts)


def stage_two_feature_names(
    classes: Sequence,
    *,
    layout_names: Sequence[str] | None,
    topic_names: Sequence[str] | None,
    memory: bool,
    text: bool,
    use_context: bool,
    structure: StructureSettings | None,
) -> list[str]:
    """The names of :func:`stage_two_matrix`'s columns: ``layout__...``, ``topic__...``,
    ``memory__<n>``, the text model's probabilities (``text__<label>``), their context
    (``previous__``, ``next__``, ``window__``, ``document__<label>``,
    ``seen_before__legal|teaser``) and the structure cues (``structure__...``)."""
    labels = [str(label) for label in classes]
    names = [f"layout__{name}" for name in (() if layout_names is None else layout_names)]
    names += [f"topic__{name}" for name in (() if topic_names is None else topic_names)]
    names += [f"memory__{n}" for n in range(MEMORY_COLUMNS if memory else 0)]
    if text:
        names += [f"text__{label}" for label in labels]
        if use_context:
            for part in CONTEXT_PARTS:
                names += [f"{part}__{label}" for label in labels]
            names += [f"seen_before__{ROLES.notice}", f"seen_before__{ROLES.teaser}"]
    if structure is not None:
        found = structure_feature_names(
            classes, text=text, layout=layout_names is not None, settings=structure
        )
        names += [f"structure__{name}" for name in found]
    return names
