"""The functions behind the commands, for scripts and notebooks: train, evaluate (scores, or a
report with every error), cross-validate, inspect, predict, and label paragraphs, dump files
or DataFrames with a loaded model.

Long-running functions take ``track`` (see :mod:`newsseg.progress`) to report progress; none
of them prints."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

import numpy as np
import pandas as pd

from newsseg import dataset
from newsseg.config import (
    DUMP_SUFFIXES,
    LABELED_SUFFIXES,
    LABELS,
    STDIN_PATH,
    TABLE_SUFFIXES,
    TOP_FEATURES,
    ordered_labels,
)
from newsseg.errors import InputError, NewssegError, OutputError, WorkerLostError
from newsseg.evaluate import (
    CONFIDENCE,
    PREDICTED,
    Evaluation,
    cross_validate,
    evaluation,
    score,
)
from newsseg.evaluate import ablation as run_ablation
from newsseg.health import TrainingHealthWarning, training_health
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
    "Executor",
    "LocalExecutor",
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


def load_model(path: str | Path | None = None, trust_pickle: bool = False) -> ParagraphLabeler:
    """The model at ``path``, or the shipped default model when ``path`` is None."""
    model, _ = _load_model_file(path, trust_pickle=trust_pickle)
    return model


def clone_with(labeler: ParagraphLabeler, **params: Any) -> ParagraphLabeler:
    """A shallow copy of a fitted labeler with other decoding settings (no refit)."""
    import copy

    changed = copy.copy(labeler)
    changed.set_params(**params)
    return changed


def _model(model: ParagraphLabeler | str | Path | None) -> ParagraphLabeler:
    return model if isinstance(model, ParagraphLabeler) else load_model(model)


# --------------------------------------------------------------------------- labeling


def label_frame(
    frame: pd.DataFrame,
    model: ParagraphLabeler | str | Path | None = None,
    *,
    proba: bool = True,
) -> pd.DataFrame:
    """A copy of ``frame`` (columns ``doc_id``, ``text``; rows of a document in page order)
    with the predicted ``label`` and one ``proba_<label>`` column per label, in the label
    order of the reports (``proba=False`` leaves them out, and saves the model a pass over the
    paragraphs). A ``label`` column ``frame`` has already (its true labels) is kept as
    ``true_label``. Every ``text`` must be a string: a missing one (None, NaN) is an error."""
    labeler = _model(model)
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


def label_paragraphs(
    paragraphs: Sequence[str], model: ParagraphLabeler | str | Path | None = None
) -> pd.DataFrame:
    """Label the paragraphs of one document, in page order."""
    return label_frame(pd.DataFrame({"doc_id": "0", "text": list(paragraphs)}), model)


def label_dump(
    path: str | Path, model: ParagraphLabeler | str | Path | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """Label a dump file (``*.txt``), a labeled dump or a table: the reader's columns (see
    :mod:`newsseg.dataset`) with the predicted ``label`` and ``proba_<label>``; the labels a
    labeled dump or table has are kept as ``true_label`` (None where a line has none)."""
    labeler = _model(model)
    frame = dataset.read_input(
        path,
        labeled=False,
        labels=ordered_labels(labeler.classes_),
        encoding=encoding,
        label_hint=PREDICT_LABEL_HINT,
    )
    if frame["label"].isna().all():
        frame = frame.drop(columns="label")  # a dump: no labels to keep
    return label_frame(frame, labeler)


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


MODEL_SUFFIX = ".skops"
"""``train`` writes skops archives, and model files are loaded by their suffix."""


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
    ablation: bool = False,
    labels: Sequence[str] = LABELS,
    params: dict[str, Any] | None = None,
    encoding: str = "utf-8",
    selection: dataset.Selection = dataset.NO_SELECTION,
    weighting: dataset.Weighting = dataset.NO_WEIGHTING,
    force: bool = False,
    track: Track = silent,
) -> dict:
    """Train a model on labeled dumps (the documents ``selection`` keeps, their paragraphs
    weighed by ``weighting``), optionally score it by grouped K-fold CV (and with
    ``ablation`` also each component switched, on the same folds), and save it with its
    metadata to ``output``. Returns the metadata."""
    if not labels:
        raise NewssegError("--labels names no labels")
    if ablation and not cv:
        raise NewssegError("--ablation needs --cv K (the folds it scores on)")
    if output is not None:  # fail before the work, not after it
        if Path(output).suffix.lower() != MODEL_SUFFIX:
            raise OutputError(
                output,
                f"a model is saved as a skops archive, which needs the suffix {MODEL_SUFFIX} "
                f"(loading checks it); name it {Path(output).with_suffix(MODEL_SUFFIX).name}",
            )
        dataset.check_output(output, force)
        dataset.check_output(metadata_path(output))
    frame = _stage(
        track,
        "reading the training data",
        lambda: dataset.read_corpus(paths, labels=labels, encoding=encoding, selection=selection),
    )
    if frame["label"].nunique() < 2:
        raise InputError(_joined(paths), "training needs at least two different labels")
    model = ParagraphLabeler(**(params or {}))
    cv_scores = ablation_table = None
    if cv:
        try:
            start = time.perf_counter()
            cv_scores = cross_validate(model, frame, folds=cv, track=track, weighting=weighting)
            baseline = (cv_scores, time.perf_counter() - start)
            if ablation:
                ablation_table = run_ablation(
                    model, frame, cv, baseline=baseline, track=track, weighting=weighting
                )
        except ValueError as error:
            raise InputError(_joined(paths), str(error)) from None
    # The two halves of fit, a step each: the bars show which runs and for how long.
    documents = frame["doc_id"].nunique()
    stage_two = _stage(
        track,
        f"training on {documents} documents: text model and features",
        lambda: model.stage_two_data(
            frame[["doc_id", "text"]], frame["label"].to_numpy(), weighting.weights(frame)
        ),
    )
    _stage(
        track,
        f"training on {documents} documents: booster, label chain, calibration",
        lambda: model.fit_stage_two(stage_two),
    )
    health = _stage(
        track,
        "checking the trained model",
        lambda: training_health(model, frame, cv_scores),
    )
    for warning in health["warnings"]:
        warnings.warn(warning, TrainingHealthWarning, stacklevel=2)
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
            "selection": selection.describe(),
            "weighting": weighting.describe(),
        },
        "cv": cv_scores,
        "health": health,
    }
    if ablation_table is not None:
        metadata["ablation"] = ablation_table
    if output is not None:
        _save_model_files(model, Path(output), metadata)
    return metadata


Result = TypeVar("Result")


def _stage(track: Track, description: str, work: Callable[[], Result]) -> Result:
    """Do ``work`` as the one step of a progress bar named ``description``."""
    for _ in track([description], description, total=1):
        result = work()
    return result


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
    no_sequence: bool = False,
    selection: dataset.Selection = dataset.NO_SELECTION,
    force: bool = False,
) -> dict:
    """Score a model on labeled dumps (the documents ``selection`` keeps); returns the scores
    as plain data, and with ``json_path`` also writes them there as JSON (an existing file
    only with ``force``)."""
    if json_path is not None:
        dataset.check_output(json_path, force)
    labeler = _model(model)
    if no_sequence:
        labeler = clone_with(labeler, sequence="none")
    labels = ordered_labels(labeler.classes_)
    frame = dataset.read_corpus(
        paths,
        labels=labels,
        encoding=encoding,
        selection=selection,
        label_hint=EVALUATE_LABEL_HINT,
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
    selection: dataset.Selection = dataset.NO_SELECTION,
    track: Track = silent,
) -> pd.DataFrame:
    """The labeled paragraphs of ``paths`` with the model's predictions: the reader's columns
    (``label`` is the true label, ``source`` and ``line`` locate the paragraph), the
    manifest's ``collection``, then ``predicted``, ``confidence`` (the largest label
    probability) and one ``proba_<label>`` column per label."""
    labeler = _model(model)
    labels = ordered_labels(labeler.classes_)
    frame = dataset.read_corpus(paths, labels=labels, encoding=encoding, selection=selection)
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
    selection: dataset.Selection = dataset.NO_SELECTION,
    track: Track = silent,
    no_sequence: bool = False,
) -> Evaluation:
    """Evaluate a model in detail and write ``report.html`` (self-contained), ``report.md``,
    ``confusion.png`` and ``errors.csv`` (every misclassified paragraph) into ``report_dir``.
    Returns the :class:`~newsseg.evaluate.Evaluation`; its ``scores`` are what
    :func:`evaluate_model` returns."""
    metadata: dict = {}
    if isinstance(model, ParagraphLabeler):
        labeler, model_name = model, "a model given in Python"
    else:
        labeler, metadata = _load_model_file(model, trust_pickle=trust_pickle)
        model_name = "the shipped default model" if model is None else str(model)
    model_name += model_provenance(metadata)
    if no_sequence:
        labeler = clone_with(labeler, sequence="none")
        model_name += " (no sequence decoding)"
    result = evaluation(
        evaluation_frame(paths, labeler, encoding=encoding, selection=selection, track=track),
        labels=ordered_labels(labeler.classes_),
    )
    context = [f"Model: {model_name}.", f"Data: {', '.join(map(str, paths))}."]
    write_evaluation_report(report_dir, result, context)
    return result


def model_provenance(metadata: dict) -> str:
    """Where a model came from, for a report: the newsseg that trained it, its training
    data (documents and the start of its SHA-256) and its cross-validation scores."""
    if not metadata:
        return ""
    parts = [f"trained by newsseg {metadata.get('newsseg_version') or 'unknown'}"]
    data = metadata.get("training_data") or {}
    if data:
        parts.append(
            f"on {data.get('documents', '?')} documents "
            f"(training data SHA-256 {str(data.get('sha256', '?'))[:12]})"
        )
    cv = metadata.get("cv") or {}
    macro = (cv.get("per_fold") or {}).get("macro_f1")
    if macro:
        parts.append(
            f"its {cv.get('folds')}-fold CV by {cv.get('group_by')}: macro-F1 "
            f"{macro['mean']:.3f} ± {macro['std']:.3f} over folds, "
            f"{cv['pooled']['macro_f1']:.3f} pooled"
        )
    else:
        parts.append("no cross-validation scores recorded")
    return " (" + "; ".join(parts) + ")"


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
    selection: dataset.Selection = dataset.NO_SELECTION,
    json_path: str | Path | None = None,
    plot_path: str | Path | None = None,
    report_dir: str | Path | None = None,
    track: Track = silent,
    force: bool = False,
) -> dict:
    """Grouped K-fold cross-validation of a new model (settings ``params``) on labeled dumps,
    with a learning curve of ``curve_points`` points (1: none). Optionally writes the result
    as JSON, the learning curve as a PNG (existing files only with ``force``), and a report
    folder (cv.html, cv.md, cv.json and pictures). Returns the result (see
    :func:`newsseg.evaluate.cross_validate`)."""
    if plot_path is not None and curve_points < 2:
        raise InputError(plot_path, "a learning curve needs at least 2 points")
    for path in (json_path, plot_path):  # fail before the work, not after it
        if path is not None:
            dataset.check_output(path, force)
    frame = dataset.read_corpus(paths, labels=labels, encoding=encoding, selection=selection)
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


def inspect_model(
    model: str | Path | None = None, top: int = TOP_FEATURES, trust_pickle: bool = False
) -> dict:
    """What a model file is: where it is, versions, label set, settings, training data (hash,
    documents, paragraphs), cross-validation scores, the ablation table when it was trained
    with one, the ``top`` strongest text features towards each label (``top_features``: the
    text model's weights) and the ``top`` stage-two cues that decide each label
    (``top_cues``: layout, position, topic and context features by their share of the
    booster's split gain for that label)."""
    path = default_model_path() if model is None else Path(model)
    labeler, metadata = _load_model_file(path, trust_pickle=trust_pickle)
    metadata, problems = _well_typed(metadata)
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
        "ablation": metadata.get("ablation"),
        "top_features": {
            label: [{"feature": name, "weight": weight} for name, weight in features]
            for label, features in labeler.top_features(top).items()
        },
        "top_cues": {
            label: [
                {"feature": name, "share": share}
                for name, share in sorted(shares.items(), key=lambda item: -item[1])[:top]
                if share > 0
            ]
            for label, shares in _ordered(labeler.cue_importances()).items()
        },
        "metadata_problems": problems,
    }


@dataclass(frozen=True)
class _Optional:
    """A key of a metadata dict that may be missing (see :data:`METADATA_SHAPES`)."""

    shape: Any


_NUMBER = (int, float)
_MEAN_STD = {"mean": _NUMBER, "std": _NUMBER}
METADATA_SHAPES: dict[str, Any] = {
    "newsseg_version": str,
    "saved": str,
    "labels": [str],
    "training_data": {
        "sha256": _Optional(str),
        "documents": _Optional(int),
        "paragraphs": _Optional(int),
        "sites": _Optional(int),
        "label_counts": _Optional({str: int}),
    },
    "cv": {
        "folds": int,
        "group_by": str,
        "per_fold": {str: _MEAN_STD},
        "pooled": _Optional({str: object}),
    },
    "ablation": {
        "folds": int,
        "group_by": str,
        "variants": [
            {
                "variant": str,
                "macro_f1": _NUMBER,
                "body_f1": _NUMBER,
                "seconds": _NUMBER,
                "f1": {str: _NUMBER},
            }
        ],
    },
}
"""What ``inspect`` shows of a model's metadata, and the type of each part: a type (or a
tuple of them), ``[shape]`` for a list, ``{str: shape}`` for a mapping, or a dict of the
keys that must be there (:class:`_Optional` ones may be missing; others may be there too)."""


def _well_typed(metadata: dict) -> tuple[dict, list[str]]:
    """``metadata`` without the fields that do not have the shape :data:`METADATA_SHAPES`
    gives them (a hand-edited or foreign file), and a note on each field left out."""
    kept, problems = dict(metadata), []
    for name, shape in METADATA_SHAPES.items():
        if kept.get(name) is not None and not _has_shape(kept[name], shape):
            problems.append(f"metadata field {name!r} is not what newsseg writes; not shown")
            kept[name] = None
    return kept, problems


def _has_shape(value: Any, shape: Any) -> bool:
    if isinstance(shape, list):
        return isinstance(value, list) and all(_has_shape(item, shape[0]) for item in value)
    if isinstance(shape, dict) and list(shape) == [str]:
        return isinstance(value, dict) and all(
            isinstance(key, str) and _has_shape(item, shape[str]) for key, item in value.items()
        )
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(
            _has_shape(value[key], getattr(part, "shape", part))
            if key in value
            else isinstance(part, _Optional)
            for key, part in shape.items()
        )
    return isinstance(value, shape) and not (isinstance(value, bool) and shape is not bool)


def _ordered(per_label: dict[str, Any]) -> dict[str, Any]:
    return {label: per_label[label] for label in ordered_labels(per_label)}


# --------------------------------------------------------------------------- predict

PREDICT_BATCH_BYTES = 5_000_000
"""predict labels its inputs in batches of about this many bytes of text (some 20 000
paragraphs of news): many small files share one model call (each costs a tenth of a
second), and memory stays bounded by a batch and the largest single input."""
PARALLEL_BATCH_BYTES = 500_000
"""With several workers, batches are smaller, so that the workers share the work evenly
(labeling 100 000 paragraphs in 2 665 files with --jobs 2 on 2 cores: 25.4 s with 1 MB
batches, 19-21 s with 500 kB; --jobs 1 took 35-36 s with batches of 0.5 to 5 MB)."""
STREAM_TABLE_BYTES = 4_000_000
"""A table file larger than this is read here in chunks of whole documents (see
:func:`newsseg.dataset.iter_table`) that are labeled as they come; a smaller input is read
whole by the worker that labels it."""
PREDICT_SUFFIXES = DUMP_SUFFIXES + LABELED_SUFFIXES + TABLE_SUFFIXES


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
    labeled: int = 0
    """Inputs labeled (neither failed nor skipped)."""
    paragraphs: int = 0
    """Paragraphs labeled."""
    skipped: list[Path] = field(default_factory=list)
    """Existing output files kept with ``skip_existing`` (their inputs are not labeled)."""
    seconds: float = 0.0
    """Wall-clock time of the run."""

    def summary(self) -> str:
        """One line for people: files, paragraphs, seconds and paragraphs per second."""
        rate = self.paragraphs / self.seconds if self.seconds > 0 else 0.0
        line = (
            f"labeled {self.labeled} file(s), {self.paragraphs} paragraph(s) in "
            f"{self.seconds:.1f} s ({rate:.0f} paragraphs/s)"
        )
        if self.skipped:
            line += f"; kept {len(self.skipped)} existing output(s)"
        if self.failed:
            line += f"; {len(self.failed)} input(s) failed"
        return line


@dataclass(frozen=True)
class PredictSettings:
    """How the inputs of a prediction run are read and its outputs formatted."""

    labels: tuple[str, ...]
    encoding: str
    output_format: str
    proba_labels: tuple[str, ...]
    per_document: bool
    """Format each document apart (for one file each), rather than each input."""
    min_confidence: float | None = None
    """Paragraphs whose label has a lower probability are marked for review."""


@dataclass(frozen=True)
class NamedInput:
    """An input file (or ``-``) and its name in outputs: its path below the folder it was
    found in, or below the deepest folder holding the files named on their own, without its
    suffix (``site-a/index``): the ``doc_id`` of a dump, the name of its output file."""

    path: str
    name: str


Source = NamedInput | NewssegError | dataset.Paragraphs
"""What a worker gets of an input: its path to read, its paragraphs, or its error."""
Task = list[tuple[int, Source]]
"""A batch of inputs (or chunks of a table) labeled together, with their input numbers."""
Output = str | list[tuple[str, str]]
"""An input's predictions as text, or with ``per_document`` as ``(doc_id, text)`` pairs."""
TaskResult = list[tuple[int, Output | NewssegError, int]]
"""Each input's (or chunk's) number, its predictions or error, and its paragraphs."""


class Executor(Protocol):
    """Runs ``work(task, model)`` for each task somewhere, yielding results in task order."""

    reads_files: bool
    """Whether workers can read the inputs' files; if not, this process reads them."""
    batch_bytes: int
    """The size of a task, in bytes of input."""

    def map(
        self,
        work: Callable[[Task, Any], TaskResult],
        tasks: Iterable[Task],
        model: ParagraphLabeler,
    ) -> Iterator[TaskResult]: ...


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
    min_confidence: float | None = None,
    no_sequence: bool = False,
    jobs: int = 1,
    skip_existing: bool = False,
    executor: Executor | None = None,
    track: Track = silent,
) -> PredictionRun:
    """Label dumps, labeled dumps and tables, in batches of inputs.

    With ``output_dir``, writes one file per document, named after the input's path (see
    :class:`NamedInput`: ``dumps/site-a/index.txt`` found in ``dumps/`` is written to
    ``output_dir/site-a/index.tsv``; a table's documents beside it, by ``doc_id``); else
    writes the predictions to ``stream``, or returns them as ``text`` of the result. Files
    inside ``output_dir`` are not read from the folders in ``paths``.
    ``output_format="article"`` writes only the headline and body paragraphs, as plain text
    (``.txt`` files). ``skip_existing`` keeps existing output files and does not label their
    inputs (to resume a run). An input
    that cannot be read (or its output written) is recorded in ``failed`` and the others are
    still predicted; with ``fail_fast`` its error is raised instead, once the inputs before
    it are done. Output files that clash or exist (without ``force``) stop it before it starts.

    ``jobs`` worker processes read and label the batches, while this process writes the
    results in input order; the output is the same for any ``jobs``. ``executor`` runs the
    batches elsewhere instead (see :mod:`newsseg.distributed`). A large table is read in
    chunks of whole documents, so memory stays bounded whatever the size of the inputs.
    ``track`` shows progress: inputs done of the total, and paragraphs labeled.
    """
    start = time.perf_counter()
    check_predict_options(
        output_format, proba, min_confidence, jobs, output_dir, force, skip_existing
    )
    labeler = _model(model)
    if no_sequence:
        labeler = clone_with(labeler, sequence="none")
    labels = ordered_labels(labeler.classes_)
    inputs = _expand_inputs(paths, output_dir)
    settings = PredictSettings(
        labels=tuple(labels),
        encoding=encoding,
        output_format=output_format,
        proba_labels=tuple(labels) if proba else (),
        per_document=output_dir is not None,
        min_confidence=min_confidence,
    )
    sink = _PredictionSink(output_dir, stream, settings, force, inputs, skip_existing=skip_existing)
    runner = executor if executor is not None else LocalExecutor(jobs)
    dispatched: list[Task] = []  # the tasks handed to the workers, in order
    tasks = _recorded(_tasks(inputs, settings, runner, skip=sink.skipped_inputs), dispatched)
    results = runner.map(functools.partial(label_task, settings=settings), tasks, labeler)
    failed: dict[int, NewssegError] = {}
    emitted: set[int] = set()
    lost: NewssegError | None = None
    done = 0  # tasks whose results are all handled
    paragraphs = 0

    def handle(index: int, output: Output | NewssegError, count: int) -> None:
        nonlocal paragraphs
        if index in failed:
            return  # a later chunk of a table that failed
        error = output if isinstance(output, NewssegError) else sink.emit(index, output)
        if error is not None:
            if fail_fast:
                raise error
            failed[index] = error
            return
        emitted.add(index)
        paragraphs += count
        for _ in range(count):
            next(paragraph_steps)

    def task_done() -> None:
        nonlocal done
        done += 1

    todo = len(inputs) - len(sink.skipped_inputs)
    paragraph_steps = iter(track(_forever(), "paragraphs labeled"))
    try:
        steps = _input_steps(results, handle, task_done)
        for _ in track(steps, "inputs labeled", total=todo):
            pass
    except WorkerLostError as error:
        lost = _lost_inputs(error, inputs, dispatched, done, failed)
        if fail_fast:
            raise lost from None
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # stop the workers when an error ends the run
        close_steps = getattr(paragraph_steps, "close", None)
        if close_steps is not None:
            close_steps()  # ends the paragraphs' bar
    return PredictionRun(
        inputs=len(inputs),
        written=sink.written,
        text="".join(sink.chunks),
        failed=[failed[index] for index in sorted(failed)] + ([lost] if lost else []),
        labeled=len(emitted - set(failed)),
        paragraphs=paragraphs,
        skipped=sink.skipped,
        seconds=time.perf_counter() - start,
    )


def _recorded(tasks: Iterable[Task], dispatched: list[Task]) -> Iterator[Task]:
    for task in tasks:
        dispatched.append(task)
        yield task


LOST_NAMES_SHOWN = 5
"""A lost worker's message names this many of the inputs it leaves unwritten."""


def _lost_inputs(
    error: WorkerLostError,
    inputs: Sequence[NamedInput | NewssegError],
    dispatched: list[Task],
    done: int,
    failed: dict[int, NewssegError],
) -> WorkerLostError:
    """The one error of a run whose worker died after ``done`` tasks: what was lost, and
    the inputs not written (those of the tasks after ``done``, or never given out); a
    table some of whose documents were written before is named as written in part. Bad
    inputs among them get their own error in ``failed``."""
    finished = {index for task in dispatched[:done] for index, _ in task}
    unfinished = {index for task in dispatched[done:] for index, _ in task}
    never_sent = set(range(len(inputs))) - finished - unfinished
    missing = []
    for index in sorted((unfinished | never_sent) - set(failed)):
        if isinstance(inputs[index], NewssegError):
            failed[index] = inputs[index]  # known before the worker died
        elif index not in finished:
            missing.append(_path_of(inputs[index]))
    partly = [_path_of(inputs[index]) for index in sorted(finished & unfinished - set(failed))]
    message = f"{error}; not written: {_some(missing)}"
    if partly:
        message += f"; written in part (the documents before it): {_some(partly)}"
    return WorkerLostError(message)


def _path_of(item: NamedInput | NewssegError) -> str:
    return item.path if isinstance(item, NamedInput) else str(item)


def _some(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:LOST_NAMES_SHOWN])
    more = len(names) - LOST_NAMES_SHOWN
    return f"{shown} and {more} more ({len(names)} inputs)" if more > 0 else shown


def check_predict_options(
    output_format: str,
    proba: bool = False,
    min_confidence: float | None = None,
    jobs: int = 1,
    output_dir: str | Path | None = None,
    force: bool = False,
    skip_existing: bool = False,
) -> None:
    """Refuse settings of :func:`predict` that do not go together (before a model loads)."""
    if output_format not in dataset.OUTPUT_FORMATS:
        raise NewssegError(f"unknown output format {output_format!r}")
    if jobs < 1:
        raise NewssegError(f"--jobs must be 1 or more, not {jobs}")
    plain = output_format in ("tsv", ARTICLE_FORMAT)
    if proba and plain:
        raise NewssegError("--proba needs --format jsonl or csv")
    if min_confidence is not None and plain:
        raise NewssegError("--min-confidence needs --format jsonl or csv")
    if skip_existing and output_dir is None:
        raise NewssegError("--skip-existing needs --output-dir (the outputs it keeps)")
    if skip_existing and force:
        raise NewssegError("--skip-existing and --force contradict each other; pick one")


ARTICLE_FORMAT = dataset.ARTICLE_FORMAT


def _forever() -> Iterator[None]:
    while True:
        yield None


def _input_steps(
    results: Iterable[TaskResult],
    handle: Callable[[int, Output | NewssegError, int], None],
    task_done: Callable[[], None],
) -> Iterator[int]:
    """Hand every input's (or chunk's) result to ``handle`` and call ``task_done`` after each
    task's; yield once per input (the chunks of a table come one after another)."""
    last = None
    for result in results:
        for index, output, count in result:
            handle(index, output, count)
            if index != last:
                last = index
                yield index
        task_done()


def _expand_inputs(
    paths: Sequence[str | Path], output_dir: str | Path | None
) -> list[NamedInput | NewssegError]:
    """The files named by ``paths``, each with its name (see :class:`NamedInput`), and an
    error for each path that names none. Files found in a folder that lie inside
    ``output_dir`` are left out: earlier outputs, not inputs."""
    outputs = None if output_dir is None else os.path.abspath(output_dir)
    files_root = _deepest_folder([raw for raw in paths if not Path(raw).is_dir()])
    inputs: list[NamedInput | NewssegError] = []
    for raw in paths:
        try:
            found = dataset.expand_path(raw, PREDICT_SUFFIXES)
        except InputError as error:
            inputs.append(error)
            continue
        if not Path(raw).is_dir():
            inputs += [NamedInput(str(path), input_name(path, files_root)) for path in found]
            continue
        if outputs is not None:
            found = [path for path in found if not _is_inside(path, outputs)]
            if not found:
                inputs.append(InputError(raw, "no inputs in folder outside the output folder"))
        root = os.path.abspath(raw)
        inputs += [NamedInput(str(path), input_name(path, root)) for path in found]
    return inputs


def _is_inside(path: str | Path, folder: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), folder]) == folder


def _deepest_folder(files: Sequence[str | Path]) -> str | None:
    """The deepest folder holding all ``files`` (standard input aside)."""
    folders = [os.path.dirname(os.path.abspath(f)) for f in files if str(f) != STDIN_PATH]
    try:
        return os.path.commonpath(folders) if folders else None
    except ValueError:  # paths on different drives
        return None


def input_name(source: str | Path, root: str | None) -> str:
    """An input's name in outputs: its path below ``root`` without its suffix, with ``/``
    between folders (``site-a/index``); ``stdin`` for standard input."""
    if str(source) == STDIN_PATH:
        return "stdin"
    if root is None:
        return Path(source).stem
    relative = Path(os.path.relpath(os.path.abspath(source), root))
    if relative.parts[:1] == ("..",):  # not below root (cannot happen for named paths)
        return Path(source).stem
    return relative.with_suffix("").as_posix()


def _tasks(
    inputs: Sequence[NamedInput | NewssegError],
    settings: PredictSettings,
    runner: Executor,
    skip: set[int] | frozenset[int] = frozenset(),
) -> Iterator[Task]:
    """The inputs (but those numbered in ``skip``) in batches of about
    ``runner.batch_bytes``, in input order."""
    task: Task = []
    size = 0
    for index, item in enumerate(inputs):
        if index in skip:
            continue
        for source, weight in _sources(item, settings, runner.reads_files):
            task.append((index, source))
            size += weight
            if size >= runner.batch_bytes:
                yield task
                task, size = [], 0
    if task:
        yield task


def _sources(
    item: NamedInput | NewssegError, settings: PredictSettings, workers_read: bool
) -> Iterator[tuple[Source, int]]:
    """What workers get of one input, with its weight in bytes: its path, for a worker to
    read; or its paragraphs read here (standard input, a large table in chunks, and any
    input when workers cannot read our files); or the error of reading it."""
    if isinstance(item, NewssegError):
        yield item, 0
        return
    size = None if item.path == STDIN_PATH else _file_size(item.path)
    large_table = (
        Path(item.path).suffix.lower() in TABLE_SUFFIXES and (size or 0) > STREAM_TABLE_BYTES
    )
    if workers_read and size is not None and not large_table:
        yield item, size
        return
    try:
        empty = True
        for part in _read_paragraphs(item, settings):
            if len(part):
                empty = False
                yield part, sum(map(len, part.texts))
        if empty:
            raise InputError(item.path, "no paragraphs")
    except NewssegError as error:
        yield error, 0


def _file_size(path: str | Path) -> int | None:
    """The size of a regular file; None for a pipe or device (``<(cat page.txt)``), which
    only this process can read, and only once."""
    try:
        status = os.stat(path)
    except OSError:
        return 0  # reading it says what is wrong
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _read_paragraphs(item: NamedInput, settings: PredictSettings) -> Iterator[dataset.Paragraphs]:
    parts = dataset.iter_paragraphs(
        item.path,
        labels=settings.labels,
        encoding=settings.encoding,
        label_hint=PREDICT_LABEL_HINT,
    )
    if _named_by_content(item.path):
        return parts
    # A dump is one document, named by its path (two index.txt in two folders stay apart).
    return (dataclasses.replace(part, doc_ids=[item.name] * len(part)) for part in parts)


def label_task(task: Task, model: Any, settings: PredictSettings) -> TaskResult:
    """Read the inputs of a batch that are given by path, label them all in one model call
    and format each input's predictions: the work of one worker."""
    labeler = _worker_model(model)
    read: list[tuple[int, dataset.Paragraphs | NewssegError]] = []
    for index, source in task:
        try:
            read.append((index, _whole_input(source, settings)))
        except NewssegError as error:
            read.append((index, error))
    parts = [part for _, part in read if isinstance(part, dataset.Paragraphs)]
    outputs = iter(_label_and_format(parts, labeler, settings))
    return [
        (index, part, 0) if isinstance(part, NewssegError) else (index, next(outputs), len(part))
        for index, part in read
    ]


def _whole_input(source: Source, settings: PredictSettings) -> dataset.Paragraphs:
    if isinstance(source, NewssegError):
        raise source  # found while expanding the arguments or reading a table here
    if isinstance(source, dataset.Paragraphs):
        return source
    parts = list(_read_paragraphs(source, settings))
    whole = parts[0] if len(parts) == 1 else _joined_parts(source.path, parts)
    if not len(whole):
        raise InputError(source.path, "no paragraphs")
    return whole


def _joined_parts(source: str, parts: list[dataset.Paragraphs]) -> dataset.Paragraphs:
    def chained(name: str) -> list:
        return list(itertools.chain.from_iterable(getattr(part, name) for part in parts))

    return dataset.Paragraphs(source, chained("doc_ids"), chained("texts"), chained("lines"))


def _label_and_format(
    parts: list[dataset.Paragraphs], labeler: ParagraphLabeler, settings: PredictSettings
) -> list[Output]:
    """Label the paragraphs of several inputs in one model call, then format each input;
    documents of different inputs stay apart even when their ``doc_id`` is the same."""
    if not parts:
        return []
    texts = list(itertools.chain.from_iterable(part.texts for part in parts))
    keys = [f"{n}/{doc_id}" for n, part in enumerate(parts) for doc_id in part.doc_ids]
    wants_proba = bool(settings.proba_labels) or settings.min_confidence is not None
    labeled = label_frame(pd.DataFrame({"doc_id": keys, "text": texts}), labeler, proba=wants_proba)
    columns: dict[str, list] = {
        "doc_id": list(itertools.chain.from_iterable(part.doc_ids for part in parts)),
        "line": list(itertools.chain.from_iterable(part.lines for part in parts)),
        "text": texts,
        "label": labeled["label"].tolist(),
    }
    if settings.min_confidence is not None:
        columns["review"] = (label_confidence(labeled) < settings.min_confidence).tolist()
    for label in settings.proba_labels:
        columns[f"proba_{label}"] = labeled[f"proba_{label}"].tolist()
    fmt, proba_labels = settings.output_format, settings.proba_labels
    lines = dataset.prediction_lines(columns, fmt, proba_labels)
    header = dataset.prediction_header(fmt, proba_labels, review="review" in columns)
    outputs: list[Output] = []
    start = 0
    for part in parts:
        end = start + len(part)
        if settings.per_document or fmt in ("tsv", ARTICLE_FORMAT):
            documents = dataset.join_documents(columns["doc_id"][start:end], lines[start:end])
            if settings.per_document:
                outputs.append([(doc_id, header + text) for doc_id, text in documents])
            else:
                outputs.append("\n".join(text for _, text in documents))
        else:
            outputs.append(header + "".join(lines[start:end]))
        start = end
    return outputs


# --------------------------------------------------------------------------- workers


class LocalExecutor:
    """Runs prediction batches in this process (``jobs=1``) or in ``jobs`` worker processes
    (joblib's loky backend), yielding their results in batch order."""

    reads_files = True

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self.batch_bytes = PREDICT_BATCH_BYTES if jobs == 1 else PARALLEL_BATCH_BYTES

    def map(
        self,
        work: Callable[[Task, Any], TaskResult],
        tasks: Iterable[Task],
        model: ParagraphLabeler,
    ) -> Iterator[TaskResult]:
        if self.jobs == 1:
            return (work(task, model) for task in tasks)
        return self._in_workers(work, tasks, model)

    def _in_workers(self, work, tasks, model) -> Iterator[TaskResult]:
        from concurrent.futures.process import BrokenProcessPool  # loky's errors are these

        import joblib

        with tempfile.TemporaryDirectory(prefix="newsseg-model-") as folder:
            shipped = ModelFile(str(Path(folder) / "model.joblib"))
            joblib.dump(model, shipped.path)
            # At most two batches a worker in flight: memory stays bounded.
            parallel = joblib.Parallel(
                n_jobs=self.jobs, backend="loky", return_as="generator", pre_dispatch="2*n_jobs"
            )
            results = parallel(joblib.delayed(work)(task, shipped) for task in tasks)
            try:
                # Not `yield from`: it would close them outside the guard below.
                for result in results:  # noqa: UP028
                    yield result
            except BrokenProcessPool as error:  # a worker was killed (the OOM killer, say)
                raise WorkerLostError(_worker_death(error)) from None
            finally:  # an error ended the run: cancel the batches in flight
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # joblib's note saying so
                    results.close()


def _worker_death(error: Exception) -> str:
    """What loky says of a dead worker, in a few words: its exit code (a negative one is
    the signal that killed it; SIGKILL is what the out-of-memory killer sends)."""
    codes = re.search(r"exit codes of the workers are (\{[^}]*\})", str(error))
    how = f"exit codes {codes.group(1)}" if codes else type(error).__name__
    return f"a --jobs worker process died ({how}: killed, out of memory or crashed)"


@dataclass(frozen=True)
class ModelFile:
    """A model saved by this run for its worker processes, each of which loads it once."""

    path: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


_worker_models: dict[ModelFile, ParagraphLabeler] = {}
"""The model of the run a worker process serves, loaded on its first batch."""


def _worker_model(model: ParagraphLabeler | ModelFile) -> ParagraphLabeler:
    if not isinstance(model, ModelFile):
        return model
    if model not in _worker_models:
        import joblib

        _worker_models.clear()  # a worker serves one run at a time
        # A pickle, trusted: this run wrote it a moment ago in its own private folder.
        _worker_models[model] = joblib.load(model.path)
    return _worker_models[model]


# --------------------------------------------------------------------------- outputs


class _PredictionSink:
    """Where predictions go: one file per document in a folder, a stream, or a list."""

    def __init__(
        self,
        output_dir: str | Path | None,
        stream: TextIO | None,
        settings: PredictSettings,
        force: bool,
        inputs: Sequence[NamedInput | NewssegError],
        skip_existing: bool = False,
    ) -> None:
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.stream = stream
        self.output_format = settings.output_format
        self.force = force
        self.skip_existing = skip_existing
        self.inputs = inputs
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        """Existing outputs kept with ``skip_existing``."""
        self.skipped_inputs: set[int] = set()
        """Inputs not to label: their output exists and is kept."""
        self.chunks: list[str] = []
        self.emitted_text = False
        self.claimed: dict[Path, int] = {}
        """Output files and the input writing each, so no two inputs write the same one."""
        self.done: set[Path] = set()
        if self.output_dir is not None:
            self._claim_named_outputs(inputs)

    def _claim_named_outputs(self, inputs: Sequence[NamedInput | NewssegError]) -> None:
        """Check, before anything is predicted, the output folder and the outputs of inputs
        whose output name is their path (a table's come from its ``doc_id`` column)."""
        assert self.output_dir is not None
        dataset.check_folder(self.output_dir)
        for index, item in enumerate(inputs):
            if isinstance(item, NewssegError) or _named_by_content(item.path):
                continue
            target = self._target(item.name)
            if target in self.claimed:
                raise OutputError(
                    target, "two inputs would be written to the same file; rename one"
                )
            if os.path.abspath(target) == os.path.abspath(item.path):
                raise OutputError(target, "would overwrite its own input; choose another -o")
            self.claimed[target] = index
            if self.skip_existing and target.exists():
                self.skipped.append(target)
                self.skipped_inputs.add(index)
            else:
                dataset.check_output(target, self.force)

    def _target(self, name: str) -> Path:
        assert self.output_dir is not None
        suffix = "txt" if self.output_format == ARTICLE_FORMAT else self.output_format
        folder, _, stem = name.rpartition("/")  # the folders are the inputs': names that exist
        return self.output_dir / folder / f"{_short_stem(stem)}.{suffix}"

    def emit(self, index: int, output: Output) -> NewssegError | None:
        """Write the predictions of input number ``index`` (or of a chunk of it); the error
        that stopped it, if any."""
        try:
            if isinstance(output, str):
                self._emit_text(output)
            else:
                self._emit_files(index, output)
        except NewssegError as error:
            return error
        return None

    def _emit_files(self, index: int, documents: list[tuple[str, str]]) -> None:
        item = self.inputs[index]
        assert isinstance(item, NamedInput)
        targets = [self._target(_output_name(doc_id, item)) for doc_id, _ in documents]
        counts = Counter(targets)
        for target in targets:  # check all of an input's outputs before writing any
            if self.claimed.setdefault(target, index) != index or counts[target] > 1:
                raise OutputError(
                    target, "two inputs would be written to the same file; rename one"
                )
            if target in self.done:  # written from an earlier chunk of the same table
                raise OutputError(
                    target, "the rows of its document are apart in the table; keep them together"
                )
            if not (self.skip_existing and target.exists()):
                dataset.check_output(target, self.force)
        for target, (_, text) in zip(targets, documents, strict=True):
            self.done.add(target)
            if self.skip_existing and target.exists():
                self.skipped.append(target)  # a table's document written by an earlier run
                continue
            dataset.write_text(target, text)
            self.written.append(target)

    def _emit_text(self, text: str) -> None:
        if self.emitted_text:
            if self.output_format in ("tsv", ARTICLE_FORMAT):
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


MAX_STEM_BYTES = 200
"""Output names are cut to this many bytes before their suffix: a file system allows 255
for a name, and the temporary file written beside it adds a dot and 9 characters."""
STEM_HASH_CHARS = 16


def _short_stem(stem: str) -> str:
    """``stem``, or when it is longer than :data:`MAX_STEM_BYTES` in UTF-8, its start and a
    hash of the whole of it: the same ``doc_id`` always gives the same name."""
    encoded = stem.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_STEM_BYTES:
        return stem
    digest = hashlib.sha256(encoded).hexdigest()[:STEM_HASH_CHARS]
    start = encoded[: MAX_STEM_BYTES - STEM_HASH_CHARS - 1].decode("utf-8", "ignore")
    return f"{start}-{digest}"


def _output_name(doc_id: str, item: NamedInput) -> str:
    """The name of a document's output file, without suffix: a dump's is its input's name;
    a table's is its ``doc_id``, in the folder of the table's name."""
    if not _named_by_content(item.path):
        return item.name
    name = _UNSAFE_IN_NAME.sub("_", str(doc_id)) or "_"
    return (Path(item.name).parent / name).as_posix()
