"""Model files: which model a caller means, loading it safely, saving it with its metadata.

A model argument is a path, None (the shipped default model) or a fitted
:class:`~newsseg.model.ParagraphLabeler`; :func:`resolve` turns any of them into the model
and what is known of it, once. Model files are skops archives (loading runs no code carried
in the file) with a metadata entry beside the estimator (versions, label set, settings,
training-data hash and scores) and a readable copy of it beside the file
(``MODEL.meta.json``). Pickle-based files (``.joblib``) load only with ``trust_pickle``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from newsseg import dataset
from newsseg.config import (
    DEFAULT_MODEL_NAME,
    DEFAULT_MODEL_PACKAGE,
    MODEL_META_MEMBER,
    VERSION,
    ordered_labels,
)
from newsseg.errors import ModelError, OutputError
from newsseg.model import ParagraphLabeler
from newsseg.sequence import TEMPERATURE_BOUNDS, ZONES

ModelArgument = ParagraphLabeler | str | Path | None
"""What the functions of newsseg take as ``model``: a fitted model, the path of a model
file, or None for the shipped default model."""

MODEL_SUFFIX = ".skops"
"""``train`` writes skops archives, and model files are loaded by their suffix."""

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")

TRUSTED_TYPES = [
    "newsseg.binning.BinQuantiser",
    "newsseg.ngrams.NgramTfidf",
    "newsseg.features.CompactTfidfVectorizer",
    "newsseg.features.TopicFeatures",
    "newsseg.features.ParagraphMemory",
    "newsseg.features.LayoutFeatures",
    "newsseg.model.ParagraphLabeler",
]
"""Types a newsseg model file may hold beyond those skops trusts by default."""

LEGACY_TREE_TYPE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
"""How files saved before the packed trees (see :func:`pack_booster`) held the boosting
stage: skops builds these without checking their node indices, so they are refused."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file depends on."""
    import joblib
    import numpy
    import scipy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "skops": skops.__version__,
    }


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def default_model_path() -> Path:
    """Where the shipped default model is installed."""
    try:
        return Path(str(resources.files(DEFAULT_MODEL_PACKAGE).joinpath(DEFAULT_MODEL_NAME)))
    except ModuleNotFoundError:
        # An editable install maps only src/; the checkout keeps the model in models/.
        return Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class ResolvedModel:
    """A model argument made concrete: the model, its metadata (empty for a model given in
    Python), the file it came from and how reports name it."""

    labeler: ParagraphLabeler
    metadata: dict
    path: Path | None
    name: str


def resolve(model: ModelArgument, *, trust_pickle: bool = False) -> ResolvedModel:
    """The model ``model`` means: itself when it is fitted model, else the model file at
    its path, or the shipped default model for None (see :func:`load`)."""
    if isinstance(model, ParagraphLabeler):
        return ResolvedModel(model, {}, None, "a model given in Python")
    path = default_model_path() if model is None else Path(model)
    labeler, metadata = load(path, trust_pickle=trust_pickle)
    name = "the shipped default model" if model is None else str(model)
    return ResolvedModel(labeler, metadata, path, name)


def labeler_of(model: ModelArgument, *, trust_pickle: bool = False) -> ParagraphLabeler:
    """The fitted model ``model`` means (see :func:`resolve`)."""
    return resolve(model, trust_pickle=trust_pickle).labeler


def metadata_path(model_path: str | Path) -> Path:
    """The human-readable copy of a model's metadata, beside the model file."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.meta.json")


def read_metadata(path: str | Path) -> dict:
    """The metadata stored in a newsseg model file, without loading the model."""
    source = Path(path)
    if not source.is_file():
        raise ModelError(source, "no such model file")
    if not zipfile.is_zipfile(source):
        raise ModelError(source, "not a newsseg model file (not a skops archive)")
    try:
        with zipfile.ZipFile(source) as archive:
            metadata = json.loads(archive.read(MODEL_META_MEMBER))
    except KeyError:
        raise ModelError(source, "not a newsseg model file (no newsseg metadata)") from None
    # ValueError covers bad JSON and bad UTF-8; NotImplementedError an unknown zip method.
    except (zipfile.BadZipFile, ValueError, RecursionError, NotImplementedError, OSError) as error:
        raise ModelError(source, f"corrupt model file ({error})") from None
    versions = metadata.get("versions", {}) if isinstance(metadata, dict) else None
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise ModelError(source, "corrupt model file (malformed newsseg metadata)")
    return metadata


def check_versions(path: str | Path, metadata: dict) -> None:
    """Refuse a model written by another minor version of scikit-learn."""
    saved = metadata.get("versions", {}).get("scikit-learn", "")
    current = library_versions()["scikit-learn"]
    if _minor(saved) != _minor(current):
        raise ModelError(
            path,
            f"trained with scikit-learn {saved or 'unknown'}, this is {current}; retrain it "
            f"with 'newsseg train DATA -o MODEL' or install scikit-learn=={_minor(saved)}.*",
        )


def load(
    path: str | Path | None = None, trust_pickle: bool = False
) -> tuple[ParagraphLabeler, dict]:
    """Load a model file (default: the shipped model) and its metadata.

    skops files are loaded with an explicit list of trusted types, so loading runs no code
    from the file. Pickle-based files (``.joblib``) run code when loaded and are refused
    unless ``trust_pickle`` is true.
    """
    source = default_model_path() if path is None else Path(path)
    if source.suffix.lower() in PICKLE_SUFFIXES:
        return _load_pickle(source, trust_pickle)
    metadata = read_metadata(source)
    check_versions(source, metadata)
    check_archive_sizes(source)
    # Imported here: importing skops lists every scikit-learn estimator, about a second.
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        # skops audits the types before it builds anything; one pass over the file.
        model = sio.load(source, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException:
        # The exception only holds text: list the types again to name them.
        unknown = sorted(set(sio.get_untrusted_types(file=source)) - set(TRUSTED_TYPES))
        raise ModelError(source, untrusted_reason(unknown)) from None
    except Exception as error:  # skops raises many kinds on a damaged archive
        raise ModelError(source, f"corrupt model file ({type(error).__name__}: {error})") from None
    return _checked(source, model), metadata


MAX_MEMBER_BYTES = 256 * 2**20
"""The largest a member of a model file may inflate to (the shipped model's largest: ~4 MB)."""
MAX_ARCHIVE_BYTES = 1024 * 2**20
"""The most all members of a model file may inflate to together."""
MAX_COMPRESSION_RATIO = 200
"""A member that inflates more than this many times its stored size is a zip bomb (the
shipped model's arrays compress about 2-6 times)."""


def check_archive_sizes(source: Path) -> None:
    """Refuse a model archive whose members would inflate beyond the caps, from the sizes
    its directory declares, before anything is inflated (a zip bomb would fill memory)."""
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelError(source, f"corrupt model file ({error})") from None
    total = 0
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > MAX_MEMBER_BYTES or (
            member.file_size > 2**20 and ratio > MAX_COMPRESSION_RATIO
        ):
            raise ModelError(
                source,
                f"refused: member {member.filename!r} would inflate to {member.file_size} "
                f"bytes ({ratio:.0f} times its stored size)",
            )
        total += member.file_size
    if total > MAX_ARCHIVE_BYTES:
        raise ModelError(source, f"refused: its members would inflate to {total} bytes")


def state_problem(model: ParagraphLabeler) -> str | None:
    """What is wrong with a loaded model's learned state (shapes and values that prediction
    relies on and scikit-learn would not check), or None. Checked: the label set, the chain's
    shapes and values (``-inf`` marks a move a zoned chain rules out; NaN and ``+inf`` are
    never valid), the temperature, the booster's prior and its label set."""
    try:
        classes = np.asarray(model.classes_)
        k = len(classes)
        if k < 2 or len(set(map(str, classes))) != k:
            return f"{k} labels, or a label named twice"
        states = k * (ZONES if model._zoned else 1)
        shapes = {
            "log_start_": (states,),
            "log_transitions_": (states, states),
            "log_end_": (states,),
            "log_prior_": (k,),
        }
        for name, shape in shapes.items():
            values = np.asarray(getattr(model, name), dtype=float)
            if values.shape != shape:
                return f"{name} has shape {values.shape}, not {shape}"
            if np.isnan(values).any() or np.isposinf(values).any() or values.max() > 0:
                return f"{name} holds values that are no log-probabilities"
        for name in ("log_start_", "log_end_"):
            if not np.isfinite(getattr(model, name)).any():
                return f"{name} rules out every state"
        if not np.isfinite(model.log_prior_).all():
            return "log_prior_ is not finite"
        temperature = float(model.temperature_)
        low, high = TEMPERATURE_BOUNDS
        if not low <= temperature <= high:
            return f"temperature {temperature!r} outside [{low}, {high}]"
        booster_classes = [str(c) for c in model.booster_.classes_]
        if not set(booster_classes) <= set(map(str, classes)):
            return "the booster's labels are not the model's"
    except (AttributeError, TypeError, ValueError) as error:
        return f"incomplete model state: {error}"
    return None


def untrusted_reason(unknown: list[str]) -> str:
    """Why a model file holding the ``unknown`` types is refused."""
    if unknown == [LEGACY_TREE_TYPE]:
        return (
            "was saved by an older newsseg (unchecked boosting trees); retrain it with "
            "'newsseg train DATA -o MODEL'"
        )
    return f"holds types newsseg does not trust: {', '.join(unknown)}"


def _checked(source: Path, model: Any) -> ParagraphLabeler:
    """``model`` if it is a newsseg model whose learned state is sound, else a ModelError."""
    if not isinstance(model, ParagraphLabeler):
        raise ModelError(source, "not a newsseg model file (holds no ParagraphLabeler)")
    problem = state_problem(model)
    if problem:
        raise ModelError(source, f"corrupt model file ({problem})")
    return model


def _load_pickle(source: Path, trust_pickle: bool) -> tuple[ParagraphLabeler, dict]:
    if not trust_pickle:
        raise ModelError(
            source,
            "is a pickle-based file and loading it runs any code it carries; "
            "pass trust_pickle=True only if you trust where it came from",
        )
    if not source.is_file():
        raise ModelError(source, "no such model file")
    import joblib

    try:
        loaded = joblib.load(source)
    except Exception as error:  # unpickling raises anything
        raise ModelError(source, f"corrupt model file ({type(error).__name__}: {error})") from None
    model, metadata = loaded if isinstance(loaded, tuple) else (loaded, {})
    return _checked(source, model), metadata


# --------------------------------------------------------------------------- saving


def check_model_output(path: str | Path, force: bool = False) -> None:
    """Fail before training if a model cannot be saved at ``path``: its suffix is not
    :data:`MODEL_SUFFIX`, it exists (without ``force``), or it cannot be written."""
    if Path(path).suffix.lower() != MODEL_SUFFIX:
        raise OutputError(
            path,
            f"a model is saved as a skops archive, which needs the suffix {MODEL_SUFFIX} "
            f"(loading checks it); name it {Path(path).with_suffix(MODEL_SUFFIX).name}",
        )
    dataset.check_output(path, force)
    dataset.check_output(metadata_path(path))


def save(model: ParagraphLabeler, path: str | Path, metadata: dict, force: bool = True) -> None:
    """Write ``model`` with ``metadata`` (and the time it is saved) to a skops file at
    ``path``, and the metadata's readable copy beside it: both are written in a temporary
    folder beside ``path`` and moved into place, so a failure at any point leaves neither
    file nor temporary behind. ``force=False`` refuses to overwrite."""
    import skops.io as sio

    target = Path(path)
    dataset.check_output(target, force)
    metadata = {**metadata, "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps(metadata, indent=2, sort_keys=True)
    with dataset.staged_outputs([metadata_path(target), target]) as (staged_meta, staged):
        sio.dump(model, staged, compression=zipfile.ZIP_DEFLATED)
        with zipfile.ZipFile(staged, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MODEL_META_MEMBER, text)
        with dataset.new_file(staged_meta) as stream:
            stream.write(text + "\n")


def data_hash(frame: pd.DataFrame) -> str:
    """A SHA-256 of the training data: every document's paragraphs and labels in order."""
    digest = hashlib.sha256()
    for doc_id, text, label in zip(frame["doc_id"], frame["text"], frame["label"], strict=True):
        digest.update(f"{doc_id}\t{label}\t{text}\n".encode())
    return digest.hexdigest()


def training_metadata(
    model: ParagraphLabeler,
    frame: pd.DataFrame,
    declared_labels: list[str],
    selection: dataset.Selection,
    weighting: dataset.Weighting,
    **scores: Any,
) -> dict:
    """The metadata of a model trained on ``frame``: its labels, the libraries' versions,
    its settings, the training data and ``scores`` (``cv``, ``health``, maybe ``ablation``)."""
    return {
        "newsseg_version": VERSION,
        "labels": ordered_labels(model.classes_),
        "declared_labels": declared_labels,
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
        **scores,
    }


# --------------------------------------------------------------------------- metadata


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


def well_typed(metadata: dict) -> tuple[dict, list[str]]:
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
