"""The functions behind the commands, for scripts and notebooks: train, evaluate, predict,
and label paragraphs, dump files or DataFrames with a loaded model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from newsseg import dataset
from newsseg.config import LABELS, STDIN_PATH, ordered_labels
from newsseg.errors import InputError, OutputError
from newsseg.evaluate import cross_validate, score
from newsseg.model import (
    ParagraphLabeler,
    library_versions,
    save_model,
)
from newsseg.model import (
    load_model as _load_model_file,
)

__all__ = [
    "evaluate_model",
    "label_dump",
    "label_frame",
    "label_paragraphs",
    "load_model",
    "predict",
    "train",
]


def load_model(path: str | Path | None = None, trust_pickle: bool = False) -> ParagraphLabeler:
    """The model at ``path``, or the shipped default model when ``path`` is None."""
    model, _ = _load_model_file(path, trust_pickle=trust_pickle)
    return model


def _model(model: ParagraphLabeler | str | Path | None) -> ParagraphLabeler:
    return model if isinstance(model, ParagraphLabeler) else load_model(model)


# --------------------------------------------------------------------------- labeling


def label_frame(
    frame: pd.DataFrame, model: ParagraphLabeler | str | Path | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` (columns ``doc_id``, ``text``; rows of a document in page order)
    with the predicted ``label`` and one ``proba_<label>`` column per label."""
    labeler = _model(model)
    work = frame.copy()
    if "doc_id" not in work.columns:
        work["doc_id"] = "0"
    work = work.reset_index(drop=True)
    proba = labeler.predict_proba(work[["doc_id", "text"]])
    work["label"] = labeler.predict(work[["doc_id", "text"]])
    for index, label in enumerate(labeler.classes_):
        work[f"proba_{label}"] = proba[:, index]
    return work


def label_paragraphs(
    paragraphs: Sequence[str], model: ParagraphLabeler | str | Path | None = None
) -> pd.DataFrame:
    """Label the paragraphs of one document, in page order."""
    return label_frame(pd.DataFrame({"doc_id": "0", "text": list(paragraphs)}), model)


def label_dump(
    path: str | Path, model: ParagraphLabeler | str | Path | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """Label a dump file (``*.txt``), a labeled dump (its text column) or a table."""
    frame = dataset.read_input(path, labeled=False, encoding=encoding)
    return label_frame(frame.drop(columns="label"), model)


# --------------------------------------------------------------------------- train


def data_hash(frame: pd.DataFrame) -> str:
    """A SHA-256 of the training data: every document's paragraphs and labels in order."""
    digest = hashlib.sha256()
    for doc_id, text, label in zip(frame["doc_id"], frame["text"], frame["label"], strict=True):
        digest.update(f"{doc_id}\t{label}\t{text}\n".encode())
    return digest.hexdigest()


def train(
    paths: Sequence[str | Path],
    output: str | Path | None = None,
    *,
    cv: int | None = None,
    labels: Sequence[str] = LABELS,
    params: dict[str, Any] | None = None,
    encoding: str = "utf-8",
    force: bool = False,
) -> dict:
    """Train a model on labeled dumps, optionally score it by grouped K-fold CV, and save it
    with its metadata to ``output``. Returns the metadata."""
    if output is not None and Path(output).exists() and not force:
        raise OutputError(output, "exists; use --force to overwrite")
    frame = dataset.read_documents(paths, labeled=True, labels=labels, encoding=encoding)
    model = ParagraphLabeler(**(params or {}))
    cv_scores = None
    if cv:
        try:
            cv_scores = cross_validate(model, frame, folds=cv)
        except ValueError as error:
            raise InputError(", ".join(map(str, paths)), str(error)) from None
    model.fit(frame[["doc_id", "text"]], frame["label"].to_numpy())
    metadata = {
        "newsseg_version": _version(),
        "labels": ordered_labels(model.classes_),
        "declared_labels": list(labels),
        "versions": library_versions(),
        "params": model.get_params(),
        "training_data": {
            "sha256": data_hash(frame),
            "documents": int(frame["doc_id"].nunique()),
            "paragraphs": len(frame),
            "sites": int(frame["site"].nunique()),
            "label_counts": {k: int(v) for k, v in frame["label"].value_counts().items()},
        },
        "cv": cv_scores,
    }
    if output is not None:
        save_model(model, output, metadata, force=force)
    return metadata


def _version() -> str:
    from newsseg import __version__

    return __version__


# --------------------------------------------------------------------------- evaluate


def evaluate_model(
    paths: Sequence[str | Path],
    model: ParagraphLabeler | str | Path | None = None,
    encoding: str = "utf-8",
) -> dict:
    """Score a model on labeled dumps; returns the scores as plain data."""
    labeler = _model(model)
    labels = ordered_labels(labeler.classes_)
    frame = dataset.read_documents(paths, labeled=True, labels=labels, encoding=encoding)
    predicted = labeler.predict(frame[["doc_id", "text"]])
    return score(frame, predicted, labels=labels)


# --------------------------------------------------------------------------- predict


def predict(
    paths: Sequence[str | Path],
    model: ParagraphLabeler | str | Path | None = None,
    *,
    output_dir: str | Path | None = None,
    output_format: str = "tsv",
    proba: bool = False,
    encoding: str = "utf-8",
    force: bool = False,
) -> str | list[Path]:
    """Label dumps. Without ``output_dir`` returns the predictions as text; with it writes
    one file per document, named after the input's stem, and returns their paths."""
    labeler = _model(model)
    frame = dataset.read_documents(paths, labeled=False, encoding=encoding)
    labeled = label_frame(frame.drop(columns="label"), labeler)
    proba_labels = ordered_labels(labeler.classes_) if proba else []
    if output_dir is None:
        return dataset.format_predictions(labeled, output_format, proba_labels)
    return _write_per_document(labeled, Path(output_dir), output_format, proba_labels, force)


def _write_per_document(
    labeled: pd.DataFrame,
    output_dir: Path,
    output_format: str,
    proba_labels: list[str],
    force: bool,
) -> list[Path]:
    names = labeled.groupby("doc_id", sort=False)["source"].first()
    targets = {
        doc_id: output_dir / f"{_output_stem(doc_id, source)}.{output_format}"
        for doc_id, source in names.items()
    }
    duplicates = pd.Series(list(targets.values())).duplicated()
    if duplicates.any():
        clash = list(targets.values())[int(np.flatnonzero(duplicates)[0])]
        raise OutputError(clash, "two inputs would be written to the same file; rename one")
    existing = [path for path in targets.values() if path.exists()]
    if existing and not force:
        raise OutputError(existing[0], "exists; use --force to overwrite")
    written = []
    for doc_id, doc in labeled.groupby("doc_id", sort=False):
        text = dataset.format_predictions(doc, output_format, proba_labels)
        dataset.write_text(targets[doc_id], text)
        written.append(targets[doc_id])
    return written


def _output_stem(doc_id: str, source: str) -> str:
    if source == STDIN_PATH or Path(source).suffix.lower() in (".csv", ".jsonl", ".parquet"):
        return str(doc_id).replace("/", "_")
    return Path(source).stem
