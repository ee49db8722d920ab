"""The boosting stage's input: one row of cues per paragraph, assembled from its parts in one
fixed order, and the names of its columns.

Training (:class:`newsseg.model.ParagraphLabeler`) and prediction from a model file's arrays
(:class:`newsseg.predictor.ArrayLabeler`) both assemble it here, so that the columns a booster
was trained on are the columns it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from newsseg.config import ROLES
from newsseg.features import Documents
from newsseg.structure import RHYTHM_CUES, SPAN_CUES, rhythm_cues, span_cues

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


def structure_features(
    doc_ids: pd.Series,
    text_proba: np.ndarray | None,
    layout: np.ndarray | None,
    layout_names: Sequence[str],
    classes: Sequence,
) -> np.ndarray:
    """The page-structure cues of paragraphs (see :mod:`newsseg.structure`): the article
    span from the text model's probabilities, the rhythm from the layout cues (columns
    ``layout_names``)."""
    documents = Documents(doc_ids)
    parts = [np.zeros((len(doc_ids), 0))]
    if text_proba is not None:
        parts.append(span_cues(text_proba, documents, [str(c) for c in classes]))
    if layout is not None:
        names = list(layout_names)
        words, stop = (layout[:, names.index(name)] for name in ("log_words", "ends_with_stop"))
        parts.append(rhythm_cues(words, stop, documents))
    return np.hstack(parts)


def stage_two_matrix(
    doc_ids: pd.Series,
    classes: Sequence,
    *,
    layout: np.ndarray | None,
    layout_names: Sequence[str],
    topic: np.ndarray | None,
    memory: np.ndarray | None,
    text_proba: np.ndarray | None,
    use_context: bool,
    use_structure: bool,
) -> np.ndarray:
    """The boosting stage's feature matrix from its parts (None for a part switched off):
    layout, topic and memory cues, the text model's probabilities and their context, and
    the page-structure cues; columns :func:`stage_two_feature_names`."""
    parts = [np.zeros((len(doc_ids), 0))]
    parts += [part for part in (layout, topic, memory) if part is not None]
    if text_proba is not None:
        parts.append(text_proba)
        if use_context:
            parts.append(probability_context(text_proba, doc_ids, np.asarray(classes)))
    if use_structure:
        parts.append(structure_features(doc_ids, text_proba, layout, layout_names, classes))
    return np.hstack(parts)


def stage_two_feature_names(
    classes: Sequence,
    *,
    layout_names: Sequence[str] | None,
    topic_names: Sequence[str] | None,
    memory: bool,
    text: bool,
    use_context: bool,
    use_structure: bool,
) -> list[str]:
    """The names of :func:`stage_two_matrix`'s columns: ``layout__...``, ``topic__...``,
    ``memory__<n>``, the text model's probabilities (``text__<label>``), their context
    (``previous__``, ``next__``, ``window__``, ``document__<label>``,
    ``seen_before__legal|teaser``) and the structure cues (``span__...``, ``rhythm__...``)."""
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
    if use_structure:
        names += [f"span__{name}" for name in SPAN_CUES] if text else []
        names += [f"rhythm__{name}" for name in RHYTHM_CUES] if layout_names is not None else []
    return names
