"""The functions behind the commands, for scripts and notebooks: train, evaluate (scores, or a
report with every error), cross-validate, inspect, predict, and label paragraphs, dump files
or DataFrames with a loaded model.

Long-running functions take ``track`` (see :mod:`newsseg.progress`) to report progress; none
of them prints."""

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
from newsseg.evaluate import (
    CONFIDENCE,
    PREDICTED,
    Evaluation,
    cross_validate,
    evaluation,
    score,
)
from newsseg.model import (
    ParagraphLabeler,
    default_model_path,
    document_slices,
    library_versions,
    save_model,
)
from newsseg.model import (
    load_model as _load_model_file,
)
from newsseg.progress import Track, silent
from newsseg.report import write_cv_report, write_evaluation_report, write_json, write_png

__all__ = [
    "cross_validation",
    "evaluate_model",
    "evaluate_report",
    "evaluation_frame",
    "inspect_model",
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


BATCH_DOCUMENTS = 32
"""Documents labeled at a time when progress is tracked: a batch is one step of the bar."""


def document_batches(doc_ids: pd.Series, size: int = BATCH_DOCUMENTS) -> list[slice]:
    """Row slices of up to ``size`` consecutive documents each."""
    documents = document_slices(doc_ids)
    return [
        slice(documents[start].start, documents[min(start + size, len(documents)) - 1].stop)
        for start in range(0, len(documents), size)
    ]


def _label_in_batches(
    frame: pd.DataFrame, labeler: ParagraphLabeler, track: Track, description: str
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
    track: Track = silent,
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
            cv_scores = cross_validate(model, frame, folds=cv, track=track)
        except ValueError as error:
            raise InputError(", ".join(map(str, paths)), str(error)) from None
    # One step: the bar shows that training runs and for how long.
    for labeler in track([model], f"training on {frame['doc_id'].nunique()} documents"):
        labeler.fit(frame[["doc_id", "text"]], frame["label"].to_numpy())
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
    track: Track = silent,
) -> dict:
    """Score a model on labeled dumps; returns the scores as plain data."""
    labeler = _model(model)
    labels = ordered_labels(labeler.classes_)
    frame = dataset.read_documents(paths, labeled=True, labels=labels, encoding=encoding)
    batches = document_batches(frame["doc_id"])
    predicted = np.concatenate(
        [
            labeler.predict(frame.iloc[rows][["doc_id", "text"]])
            for rows in track(batches, "evaluating", total=len(batches))
        ]
    )
    return score(frame, predicted, labels=labels)


def evaluation_frame(
    paths: Sequence[str | Path],
    model: ParagraphLabeler | str | Path | None = None,
    *,
    encoding: str = "utf-8",
    track: Track = silent,
) -> pd.DataFrame:
    """The labeled paragraphs of ``paths`` with the model's predictions: the reader's columns
    (``label`` is the true label, ``source`` and ``line`` locate the paragraph), the
    manifest's ``collection``, then ``predicted``, ``confidence`` (the largest label
    probability) and one ``proba_<label>`` column per label."""
    labeler = _model(model)
    labels = ordered_labels(labeler.classes_)
    frame = dataset.read_documents(paths, labeled=True, labels=labels, encoding=encoding)
    frame = dataset.with_collections(frame).reset_index(drop=True)
    labeled = _label_in_batches(frame.drop(columns="label"), labeler, track, "evaluating")
    proba_columns = [f"proba_{label}" for label in labels]
    frame[PREDICTED] = labeled["label"].to_numpy(dtype=object)
    frame[CONFIDENCE] = labeled[proba_columns].max(axis=1).to_numpy()
    for column in proba_columns:
        frame[column] = labeled[column].to_numpy()
    return frame


def evaluate_report(
    paths: Sequence[str | Path],
    report_dir: str | Path,
    model: ParagraphLabeler | str | Path | None = None,
    *,
    trust_pickle: bool = False,
    encoding: str = "utf-8",
    track: Track = silent,
) -> Evaluation:
    """Evaluate a model in detail and write ``report.html`` (self-contained), ``report.md``,
    ``confusion.png`` and ``errors.csv`` (every misclassified paragraph) into ``report_dir``.
    Returns the :class:`~newsseg.evaluate.Evaluation`; its ``scores`` are what
    :func:`evaluate_model` returns."""
    if isinstance(model, ParagraphLabeler):
        labeler, model_name = model, "a model given in Python"
    else:
        labeler = load_model(model, trust_pickle=trust_pickle)
        model_name = "the shipped default model" if model is None else str(model)
    result = evaluation(
        evaluation_frame(paths, labeler, encoding=encoding, track=track),
        labels=ordered_labels(labeler.classes_),
    )
    context = [f"Model: {model_name}.", f"Data: {', '.join(map(str, paths))}."]
    write_evaluation_report(report_dir, result, context)
    return result


# --------------------------------------------------------------------------- cross-validate


def cross_validation(
    paths: Sequence[str | Path],
    *,
    folds: int = 5,
    group_by: str = "site",
    curve_points: int = 4,
    labels: Sequence[str] = LABELS,
    params: dict[str, Any] | None = None,
    encoding: str = "utf-8",
    json_path: str | Path | None = None,
    plot_path: str | Path | None = None,
    report_dir: str | Path | None = None,
    track: Track = silent,
) -> dict:
    """Grouped K-fold cross-validation of a new model (settings ``params``) on labeled dumps,
    with a learning curve of ``curve_points`` points (1: none). Optionally writes the result
    as JSON, the learning curve as a PNG, and a report folder (cv.html, cv.md, cv.json and
    pictures). Returns the result (see :func:`newsseg.evaluate.cross_validate`)."""
    if plot_path is not None and curve_points < 2:
        raise InputError(plot_path, "a learning curve needs at least 2 points")
    frame = dataset.read_documents(paths, labeled=True, labels=labels, encoding=encoding)
    try:
        result = cross_validate(
            ParagraphLabeler(**(params or {})),
            frame,
            folds=folds,
            group_by=group_by,
            curve_points=curve_points,
            track=track,
        )
    except ValueError as error:
        raise InputError(", ".join(map(str, paths)), str(error)) from None
    if json_path is not None:
        write_json(json_path, result)
    if plot_path is not None:
        from newsseg.plots import learning_curve_png

        write_png(plot_path, learning_curve_png(result))
    if report_dir is not None:
        write_cv_report(report_dir, result, [f"Data: {', '.join(map(str, paths))}."])
    return result


# --------------------------------------------------------------------------- inspect

TOP_FEATURES = 15


def inspect_model(
    model: str | Path | None = None, top: int = TOP_FEATURES, trust_pickle: bool = False
) -> dict:
    """What a model file is: where it is, versions, label set, settings, training data (hash,
    documents, paragraphs), cross-validation scores, and the ``top`` strongest features
    towards each label."""
    path = default_model_path() if model is None else Path(model)
    labeler, metadata = _load_model_file(path, trust_pickle=trust_pickle)
    cv = metadata.get("cv") or None
    return {
        "model": str(path),
        "newsseg_version": metadata.get("newsseg_version"),
        "saved": metadata.get("saved"),
        "labels": metadata.get("labels") or ordered_labels(labeler.classes_),
        "versions": metadata.get("versions", {}),
        "params": labeler.get_params(),
        "training_data": metadata.get("training_data", {}),
        "cv": None
        if cv is None
        else {
            "folds": cv.get("folds"),
            "group_by": cv.get("group_by"),
            "per_fold": cv.get("per_fold", {}),
            "pooled": {
                name: cv.get("pooled", {}).get(name) for name in ("macro_f1", "accuracy", "body_f1")
            },
        },
        "top_features": {
            label: [{"feature": name, "weight": weight} for name, weight in features]
            for label, features in labeler.top_features(top).items()
        },
    }


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
    track: Track = silent,
) -> str | list[Path]:
    """Label dumps. Without ``output_dir`` returns the predictions as text; with it writes
    one file per document, named after the input's stem, and returns their paths."""
    labeler = _model(model)
    frame = dataset.read_documents(paths, labeled=False, encoding=encoding)
    labeled = _label_in_batches(frame.drop(columns="label"), labeler, track, "labeling")
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
