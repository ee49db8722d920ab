"""The functions behind the commands, for scripts and notebooks: train, evaluate (scores, or a
report with every error), cross-validate, inspect, predict, and label paragraphs, dump files
or DataFrames with a model.

A ``model`` argument is a fitted model, the path of a model file or None for the shipped
default model (see :func:`newsseg.model_file.resolve`). Long-running functions take
``track`` (see :mod:`newsseg.progress`) to report progress; none of them prints.

Labeling needs no scikit-learn: training, scoring and reports import it (and matplotlib)
when they are called, so that ``load_model`` and the labeling functions start fast."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from newsseg import dataset, model_file
from newsseg.config import LABELS, TOP_FEATURES, ordered_labels
from newsseg.errors import InputError, NewssegError
from newsseg.model_file import ModelArgument, labeler_of
from newsseg.predict import (
    PREDICT_LABEL_HINT,
    Executor,
    LocalExecutor,
    PredictionRun,
    label_confidence,
    label_frame,
    predict,
)
from newsseg.predict.labeling import document_batches, label_in_batches, without_sequence
from newsseg.predictor import ArrayLabeler
from newsseg.progress import Track, silent

if TYPE_CHECKING:
    from newsseg.evaluate import Evaluation

__all__ = [
    "Executor",
    "LocalExecutor",
    "PredictionRun",
    "cross_validation",
    "evaluate_model",
    "evaluate_report",
    "evaluation_frame",
    "inspect_model",
    "label_confidence",
    "label_dump",
    "label_frame",
    "label_paragraphs",
    "load_model",
    "predict",
    "train",
]

EVALUATE_LABEL_HINT = "the model's labels; a model learns new ones in training (labels=L1,L2,...)"


def load_model(path: str | Path | None = None, trust_pickle: bool = False) -> ArrayLabeler:
    """The model at ``path``, or the shipped default model when ``path`` is None."""
    return model_file.load(path, trust_pickle=trust_pickle)[0]


# --------------------------------------------------------------------------- labeling


def label_paragraphs(
    paragraphs: Sequence[str], model: ModelArgument = None, *, trust_pickle: bool = False
) -> pd.DataFrame:
    """Label the paragraphs of one document, in page order."""
    frame = pd.DataFrame({"doc_id": "0", "text": list(paragraphs)})
    return label_frame(frame, model, trust_pickle=trust_pickle)


def label_dump(
    path: str | Path,
    model: ModelArgument = None,
    encoding: str = "utf-8",
    *,
    trust_pickle: bool = False,
) -> pd.DataFrame:
    """Label a dump file (``*.txt``), a labeled dump or a table: the reader's columns (see
    :mod:`newsseg.dataset`) with the predicted ``label`` and ``proba_<label>``; the labels a
    labeled dump or table has are kept as ``true_label`` (None where a line has none)."""
    labeler = labeler_of(model, trust_pickle=trust_pickle)
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


# --------------------------------------------------------------------------- train


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
    from newsseg.evaluate import ablation as run_ablation
    from newsseg.evaluate import cross_validate
    from newsseg.health import TrainingHealthWarning, training_health
    from newsseg.model import ParagraphLabeler

    if not labels:
        raise NewssegError("labels=L1,L2,... names no labels")
    if ablation and not cv:
        raise NewssegError("ablation=True needs cv=K (the folds it scores on)")
    if output is not None:  # fail before the work, not after it
        model_file.check_model_output(output, force)
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
    metadata = model_file.training_metadata(
        model, frame, list(labels), selection, weighting, cv=cv_scores, health=health
    )
    if ablation_table is not None:
        metadata["ablation"] = ablation_table
    if output is not None:
        model_file.save(model, output, metadata, force=force)
    return metadata


Result = TypeVar("Result")


def _stage(track: Track, description: str, work: Callable[[], Result]) -> Result:
    """Do ``work`` as the one step of a progress bar named ``description``."""
    for _ in track([description], description, total=1):
        result = work()
    return result


def _joined(paths: Sequence[str | Path]) -> str:
    return ", ".join(map(str, paths))


# --------------------------------------------------------------------------- evaluate


def evaluate_model(
    paths: Sequence[str | Path],
    model: ModelArgument = None,
    encoding: str = "utf-8",
    json_path: str | Path | None = None,
    track: Track = silent,
    no_sequence: bool = False,
    selection: dataset.Selection = dataset.NO_SELECTION,
    force: bool = False,
    trust_pickle: bool = False,
) -> dict:
    """Score a model on labeled dumps (the documents ``selection`` keeps); returns the scores
    as plain data, and with ``json_path`` also writes them there as JSON (an existing file
    only with ``force``)."""
    from newsseg.evaluate import score
    from newsseg.report import write_json

    if json_path is not None:
        dataset.check_output(json_path, force)
    labeler = without_sequence(labeler_of(model, trust_pickle=trust_pickle), no_sequence)
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
    model: ModelArgument = None,
    *,
    encoding: str = "utf-8",
    selection: dataset.Selection = dataset.NO_SELECTION,
    track: Track = silent,
    trust_pickle: bool = False,
) -> pd.DataFrame:
    """The labeled paragraphs of ``paths`` with the model's predictions: the reader's columns
    (``label`` is the true label, ``source`` and ``line`` locate the paragraph), the
    manifest's ``collection``, then ``predicted``, ``confidence`` (the largest label
    probability) and one ``proba_<label>`` column per label."""
    from newsseg.evaluate import CONFIDENCE, PREDICTED

    labeler = labeler_of(model, trust_pickle=trust_pickle)
    labels = ordered_labels(labeler.classes_)
    frame = dataset.read_corpus(paths, labels=labels, encoding=encoding, selection=selection)
    labeled = label_in_batches(frame.drop(columns="label"), labeler, track, "evaluating")
    proba_columns = [f"proba_{label}" for label in labels]
    frame[PREDICTED] = labeled["label"].to_numpy(dtype=object)
    frame[CONFIDENCE] = labeled[proba_columns].max(axis=1).to_numpy()
    for column in proba_columns:
        frame[column] = labeled[column].to_numpy()
    return frame


def evaluate_report(
    paths: Sequence[str | Path],
    report_dir: str | Path,
    model: ModelArgument = None,
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
    from newsseg.evaluate import evaluation
    from newsseg.report import write_evaluation_report

    resolved = model_file.resolve(model, trust_pickle=trust_pickle)
    labeler = without_sequence(resolved.labeler, no_sequence)
    model_name = resolved.name + model_file.model_provenance(resolved.metadata)
    if no_sequence:
        model_name += " (no sequence decoding)"
    result = evaluation(
        evaluation_frame(paths, labeler, encoding=encoding, selection=selection, track=track),
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
    from newsseg.evaluate import cross_validate
    from newsseg.model import ParagraphLabeler
    from newsseg.report import write_cv_report, write_json, write_png

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
        raise InputError(_joined(paths), str(error)) from None
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
    resolved = model_file.resolve(model, trust_pickle=trust_pickle)
    labeler = resolved.labeler
    metadata, problems = model_file.well_typed(resolved.metadata)
    cv = metadata.get("cv") or None
    return {
        "model": str(resolved.path),
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


def _ordered(per_label: dict[str, Any]) -> dict[str, Any]:
    return {label: per_label[label] for label in ordered_labels(per_label)}
