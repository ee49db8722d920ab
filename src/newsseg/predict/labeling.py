"""Label paragraphs with a fitted model: a frame of documents, in one call or in batches of
whole documents; the probability of each decoded label."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from newsseg.config import ordered_labels
from newsseg.errors import NewssegError
from newsseg.features import document_slices
from newsseg.model_file import ModelArgument, labeler_of
from newsseg.predictor import Labeler
from newsseg.progress import Track


def label_frame(
    frame: pd.DataFrame,
    model: ModelArgument = None,
    *,
    proba: bool = True,
    trust_pickle: bool = False,
) -> pd.DataFrame:
    """A copy of ``frame`` (columns ``doc_id``, ``text``; rows of a document in page order)
    with the predicted ``label`` and one ``proba_<label>`` column per label, in the label
    order of the reports (``proba=False`` leaves them out, and saves the model a pass over the
    paragraphs). A ``label`` column ``frame`` has already (its true labels) is kept as
    ``true_label``. Every ``text`` must be a string: a missing one (None, NaN) is an error."""
    labeler = labeler_of(model, trust_pickle=trust_pickle)
    _check_texts(frame)
    work = frame.copy()
    if "doc_id" not in work.columns:
        work["doc_id"] = "0"
    if "label" in work.columns and TRUE_LABEL not in work.columns:
        work = work.rename(columns={"label": TRUE_LABEL})
    work = work.reset_index(drop=True)
    paragraphs = work[["doc_id", "text"]]
    if proba:
        work["label"], probabilities = labeler.predict_with_proba(paragraphs)
        classes = list(map(str, labeler.classes_))
        for label in ordered_labels(classes):
            work[f"proba_{label}"] = probabilities[:, classes.index(label)]
    else:
        work["label"] = labeler.predict(paragraphs)
    return work


TRUE_LABEL = "true_label"
"""Column of :func:`label_frame`'s result holding the labels its input already had."""


def _check_texts(frame: pd.DataFrame) -> None:
    """Refuse a frame without a ``text`` column of strings, naming the first bad row."""
    if "text" not in frame.columns:
        raise NewssegError("the frame has no 'text' column (and needs 'doc_id' and 'text')")
    for position, (row, text) in enumerate(zip(frame.index, frame["text"], strict=True)):
        if not isinstance(text, str):
            raise NewssegError(
                f"row {position} (index {row!r}) has text {text!r} of type "
                f"{type(text).__name__}, not a string: drop or fill such rows first "
                "(e.g. frame.dropna(subset=['text']))"
            )


def label_confidence(labeled: pd.DataFrame) -> np.ndarray:
    """The probability of each paragraph's decoded label (from :func:`label_frame`)."""
    proba = labeled[[column for column in labeled.columns if column.startswith("proba_")]]
    names = [column.removeprefix("proba_") for column in proba.columns]
    index = pd.Index(names).get_indexer(labeled["label"].astype(str))
    return proba.to_numpy()[np.arange(len(labeled)), index]


BATCH_DOCUMENTS = 32
"""Documents labeled at a time when progress is tracked: a batch is one step of the bar."""


def document_batches(doc_ids: pd.Series, size: int = BATCH_DOCUMENTS) -> list[slice]:
    """Row slices of up to ``size`` consecutive documents each."""
    documents = document_slices(doc_ids)
    return [
        slice(documents[start].start, documents[min(start + size, len(documents)) - 1].stop)
        for start in range(0, len(documents), size)
    ]


def label_in_batches(
    frame: pd.DataFrame, labeler: Labeler, track: Track, description: str
) -> pd.DataFrame:
    """:func:`label_frame` over batches of whole documents (features and decoding work per
    document, so the result is the same as in one go), one progress step per batch."""
    frame = frame.reset_index(drop=True)
    batches = document_batches(frame["doc_id"])
    labeled = [
        label_frame(frame.iloc[rows], labeler)
        for rows in track(batches, description, total=len(batches))
    ]
    return pd.concat(labeled, ignore_index=True)


def clone_with(labeler: Labeler, **params: Any) -> Labeler:
    """A shallow copy of a fitted labeler with other decoding settings (no refit)."""
    changed = copy.copy(labeler)
    changed.set_params(**params)
    return changed


def without_sequence(labeler: Labeler, no_sequence: bool) -> Labeler:
    """``labeler``, or with ``no_sequence`` a copy that takes each paragraph's most probable
    booster label instead of decoding each document's labels together."""
    return clone_with(labeler, sequence="none") if no_sequence else labeler
