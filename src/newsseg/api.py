"""The functions behind the commands, for scripts and notebooks: train, evaluate (scores, or a
report with every error), cross-validate, inspect, predict, and label paragraphs, dump files
or DataFrames with a loaded model.

Long-running functions take ``track`` (see :mod:`newsseg.progress`) to report progress; none
of them prints."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from newsseg import dataset
from newsseg.config import (
    DUMP_SUFFIXES,
    LABELED_SUFFIXES,
    LABELS,
    STDIN_PATH,
    TABLE_SUFFIXES,
    ordered_labels,
)
from newsseg.errors import InputError, NewssegError, OutputError
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
    metadata_path,
    save_model,
)
from newsseg.model import (
    load_model as _load_model_file,
)
from newsseg.progress import Track, silent
from newsseg.report import write_cv_report, write_evaluation_report, write_json, write_png

__all__ = [
    "PredictionRun",
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

EVALUATE_LABEL_HINT = "the model's labels; a model learns new ones from 'train --labels'"
PREDICT_LABEL_HINT = (
    "the model's labels; predict reads *.tsv as label<TAB>text, plain text as *.txt"
)

PREDICT_BATCH_PARAGRAPHS = 20_000
PREDICT_BATCH_CHARS = 50_000_000
"""predict labels its inputs in batches of about this many paragraphs or characters: many
small files share one model call (each costs a tenth of a second), and memory stays bounded
by a batch and the largest single input."""
PREDICT_SUFFIXES = DUMP_SUFFIXES + LABELED_SUFFIXES + TABLE_SUFFIXES


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
    work["label"], proba = labeler.predict_with_proba(work[["doc_id", "text"]])
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
    labeler = _model(model)
    frame = dataset.read_input(
        path,
        labeled=False,
        labels=ordered_labels(labeler.classes_),
        encoding=encoding,
        label_hint=PREDICT_LABEL_HINT,
    )
    return label_frame(frame.drop(columns="label"), labeler)


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
    if not labels:
        raise NewssegError("--labels names no labels")
    if output is not None:  # fail before the work, not after it
        dataset.check_output(output, force)
        dataset.check_output(metadata_path(output))
    frame = dataset.read_documents(paths, labeled=True, labels=labels, encoding=encoding)
    if frame["label"].nunique() < 2:
        raise InputError(_joined(paths), "training needs at least two different labels")
    model = ParagraphLabeler(**(params or {}))
    cv_scores = None
    if cv:
        try:
            cv_scores = cross_validate(model, frame, folds=cv, track=track)
        except ValueError as error:
            raise InputError(_joined(paths), str(error)) from None
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
        _save_model_files(model, Path(output), metadata)
    return metadata


def _joined(paths: Sequence[str | Path]) -> str:
    return ", ".join(map(str, paths))


def _save_model_files(model: ParagraphLabeler, target: Path, metadata: dict) -> None:
    """Save the model and its metadata copy in a temporary folder beside ``target``, then
    move both into place: a failure at any point leaves neither file nor temporary behind."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise OutputError(target, f"cannot write: {error.strerror or error}") from None
    try:
        staged = staging / target.name
        save_model(model, staged, metadata)
        os.replace(metadata_path(staged), metadata_path(target))
        os.replace(staged, target)
    except OSError as error:
        raise OutputError(target, f"cannot write: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _version() -> str:
    from newsseg import __version__

    return __version__


# --------------------------------------------------------------------------- evaluate


def evaluate_model(
    paths: Sequence[str | Path],
    model: ParagraphLabeler | str | Path | None = None,
    encoding: str = "utf-8",
    json_path: str | Path | None = None,
    track: Track = silent,
) -> dict:
    """Score a model on labeled dumps; returns the scores as plain data, and with
    ``json_path`` also writes them there as JSON."""
    if json_path is not None:
        dataset.check_output(json_path)
    labeler = _model(model)
    labels = ordered_labels(labeler.classes_)
    frame = dataset.read_documents(
        paths, labeled=True, labels=labels, encoding=encoding, label_hint=EVALUATE_LABEL_HINT
    )
    batches = document_batches(frame["doc_id"])
    predicted = np.concatenate(
        [
            labeler.predict(frame.iloc[rows][["doc_id", "text"]])
            for rows in track(batches, "evaluating", total=len(batches))
        ]
    )
    scores = score(frame, predicted, labels=labels)
    if json_path is not None:
        write_json(json_path, scores)
    return scores


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


@dataclass
class PredictionRun:
    """What :func:`predict` did."""

    inputs: int = 0
    """Inputs tried: files, and standard input."""
    written: list[Path] = field(default_factory=list)
    """Files written (with ``output_dir``)."""
    text: str = ""
    """The predictions, when neither ``output_dir`` nor ``stream`` was given."""
    failed: list[NewssegError] = field(default_factory=list)
    """One error for each input that was not predicted, in input order."""


def predict(
    paths: Sequence[str | Path],
    model: ParagraphLabeler | str | Path | None = None,
    *,
    output_dir: str | Path | None = None,
    stream: TextIO | None = None,
    output_format: str = "tsv",
    proba: bool = False,
    encoding: str = "utf-8",
    force: bool = False,
    fail_fast: bool = False,
    track: Track = silent,
) -> PredictionRun:
    """Label dumps, labeled dumps and tables, input by input.

    With ``output_dir``, writes one file per document, named after the input's stem; else
    writes the predictions to ``stream``, or returns them as ``text`` of the result. An input
    that cannot be read (or its output written) is recorded in ``failed`` and the others are
    still predicted; with ``fail_fast`` its error is raised instead, once the inputs before
    it are done. Output files that clash or exist (without ``force``) stop it before it starts.
    ``track`` shows progress over the inputs.
    """
    if output_format not in dataset.OUTPUT_FORMATS:
        raise NewssegError(f"unknown output format {output_format!r}")
    labeler = _model(model)
    labels = ordered_labels(labeler.classes_)
    inputs: list[str | Path | NewssegError] = []
    for raw in paths:
        try:
            inputs.extend(dataset.expand_path(raw, PREDICT_SUFFIXES))
        except InputError as error:
            inputs.append(error)
    sink = _PredictionSink(
        output_dir, stream, output_format, labels if proba else [], force, inputs
    )
    failed: dict[int, NewssegError] = {}
    batch: list[tuple[int, pd.DataFrame]] = []

    def flush() -> None:
        for (index, _), labeled in zip(batch, _label_inputs(batch, labeler), strict=True):
            try:
                sink.emit(index, labeled)
            except NewssegError as error:
                if fail_fast:
                    raise
                failed[index] = error
        batch.clear()

    for index, item in track(enumerate(inputs), "labeling", total=len(inputs)):
        try:
            batch.append((index, _read_prediction_input(item, labels, encoding)))
        except NewssegError as error:
            if fail_fast:
                flush()
                raise
            failed[index] = error
        if _batch_is_full(batch):
            flush()
    flush()
    return PredictionRun(
        inputs=len(inputs),
        written=sink.written,
        text="".join(sink.chunks),
        failed=[failed[index] for index in sorted(failed)],
    )


def _read_prediction_input(
    item: str | Path | NewssegError, labels: list[str], encoding: str
) -> pd.DataFrame:
    if isinstance(item, NewssegError):
        raise item  # a missing path, found while expanding the arguments
    frame = dataset.read_input(
        item, labeled=False, labels=labels, encoding=encoding, label_hint=PREDICT_LABEL_HINT
    )
    if frame.empty:
        raise InputError(item, "no paragraphs")
    return frame.drop(columns="label")


def _batch_is_full(batch: list[tuple[int, pd.DataFrame]]) -> bool:
    paragraphs = sum(len(frame) for _, frame in batch)
    chars = sum(int(frame["text"].str.len().sum()) for _, frame in batch)
    return paragraphs >= PREDICT_BATCH_PARAGRAPHS or chars >= PREDICT_BATCH_CHARS


def _label_inputs(
    batch: list[tuple[int, pd.DataFrame]], labeler: ParagraphLabeler
) -> list[pd.DataFrame]:
    """Label the frames of several inputs in one model call; documents of different inputs
    stay apart even when their ``doc_id`` is the same."""
    if not batch:
        return []
    combined = pd.concat(
        [frame.assign(input=position) for position, (_, frame) in enumerate(batch)],
        ignore_index=True,
    )
    doc_ids = combined["doc_id"]
    combined["doc_id"] = combined["input"].astype(str) + "/" + doc_ids.astype(str)
    labeled = label_frame(combined, labeler)
    labeled["doc_id"] = doc_ids
    return [
        part.drop(columns="input").reset_index(drop=True)
        for _, part in labeled.groupby("input", sort=True)
    ]


class _PredictionSink:
    """Where predictions go: one file per document in a folder, a stream, or a list."""

    def __init__(
        self,
        output_dir: str | Path | None,
        stream: TextIO | None,
        output_format: str,
        proba_labels: list[str],
        force: bool,
        inputs: Sequence[str | Path | NewssegError],
    ) -> None:
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.stream = stream
        self.output_format = output_format
        self.proba_labels = proba_labels
        self.force = force
        self.written: list[Path] = []
        self.chunks: list[str] = []
        self.emitted_text = False
        self.claimed: dict[Path, int] = {}
        """Output files and the input writing each, so no two inputs write the same one."""
        if self.output_dir is not None:
            self._claim_named_outputs(inputs)

    def _claim_named_outputs(self, inputs: Sequence[str | Path | NewssegError]) -> None:
        """Check, before anything is predicted, the output folder and the outputs of inputs
        whose output name is their file name (a table's come from its ``doc_id`` column)."""
        assert self.output_dir is not None
        dataset.check_folder(self.output_dir)
        for index, item in enumerate(inputs):
            if isinstance(item, NewssegError) or _named_by_content(str(item)):
                continue
            target = self._target(Path(item).stem)
            if target in self.claimed:
                raise OutputError(
                    target, "two inputs would be written to the same file; rename one"
                )
            dataset.check_output(target, self.force)
            self.claimed[target] = index

    def _target(self, stem: str) -> Path:
        assert self.output_dir is not None
        return self.output_dir / f"{stem}.{self.output_format}"

    def emit(self, index: int, labeled: pd.DataFrame) -> None:
        """Write the predictions of input number ``index``."""
        if self.output_dir is None:
            self._emit_text(labeled)
            return
        documents = list(labeled.groupby("doc_id", sort=False))
        targets = [
            self._target(_output_stem(doc_id, doc["source"].iloc[0])) for doc_id, doc in documents
        ]
        for target in targets:  # check all of an input's outputs before writing any
            if self.claimed.setdefault(target, index) != index or targets.count(target) > 1:
                raise OutputError(
                    target, "two inputs would be written to the same file; rename one"
                )
            dataset.check_output(target, self.force)
        for target, (_, doc) in zip(targets, documents, strict=True):
            text = dataset.format_predictions(doc, self.output_format, self.proba_labels)
            dataset.write_text(target, text)
            self.written.append(target)

    def _emit_text(self, labeled: pd.DataFrame) -> None:
        text = dataset.format_predictions(labeled, self.output_format, self.proba_labels)
        if self.emitted_text:
            if self.output_format == "tsv":
                text = "\n" + text  # a blank line between documents
            elif self.output_format == "csv":
                text = text.partition("\n")[2]  # one header line
        self.emitted_text = True
        if self.stream is None:
            self.chunks.append(text)
        else:
            self.stream.write(text)
            self.stream.flush()


def _named_by_content(source: str) -> bool:
    """Whether an input's output files are named by its ``doc_id`` column, not its name."""
    return source == STDIN_PATH or Path(source).suffix.lower() in TABLE_SUFFIXES


_UNSAFE_IN_NAME = re.compile(r"[/\\\x00]")
"""Characters a ``doc_id`` cannot keep in an output file name."""


def _output_stem(doc_id: str, source: str) -> str:
    if _named_by_content(source):
        return _UNSAFE_IN_NAME.sub("_", str(doc_id)) or "_"
    return Path(source).stem
