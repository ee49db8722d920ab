"""Model files: which model a caller means, loading it safely, saving it with its metadata.

A model argument is a path, None (the shipped default model) or a fitted model
(:class:`~newsseg.model.ParagraphLabeler` or :class:`~newsseg.predictor.ArrayLabeler`);
:func:`resolve` turns any of them into the model and what is known of it, once.

Model files are ``.npz`` archives of plain arrays and one JSON header (see
:mod:`newsseg.model_arrays`): reading one runs no code from it and needs no scikit-learn, and
every array is checked before it is used. The header holds the metadata (versions, label
set, settings, training-data hash and scores); a readable copy of it lies beside the file
(``MODEL.meta.json``). Loading gives an :class:`~newsseg.predictor.ArrayLabeler`.

Model files of newsseg 0.x are skops archives (``.skops``): reading them needs skops
(``pip install 'newsseg[skops]'``) and the scikit-learn minor version that wrote them; they
are converted to arrays as they load, and :func:`convert` writes them as ``.npz`` once and
for all. Pickle-based files (``.joblib``) load only with ``trust_pickle``.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsseg import dataset, model_arrays
from newsseg.config import (
    DEFAULT_MODEL_NAME,
    DEFAULT_MODEL_PACKAGE,
    MODEL_META_MEMBER,
    VERSION,
    ordered_labels,
)
from newsseg.errors import ModelError, OutputError
from newsseg.model_arrays import MAX_ARCHIVE_BYTES, MODEL_SUFFIX
from newsseg.predictor import ArrayLabeler, Labeler

if TYPE_CHECKING:
    import pandas as pd

    from newsseg.model import ParagraphLabeler

ModelArgument = Labeler | str | Path | None
"""What the functions of newsseg take as ``model``: a fitted model, the path of a model
file, or None for the shipped default model."""

SKOPS_SUFFIX = ".skops"
"""The suffix of newsseg 0.x's model files (skops archives)."""
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")

TRUSTED_TYPES = [
    "newsseg.binning.BinQuantiser",
    "newsseg.feature_steps.NgramTfidf",
    "newsseg.feature_steps.CompactTfidfVectorizer",
    "newsseg.feature_steps.TopicFeatures",
    "newsseg.feature_steps.ParagraphMemory",
    "newsseg.feature_steps.LayoutFeatures",
    "newsseg.model.ParagraphLabeler",
]
"""Types a newsseg 0.x model file may hold beyond those skops trusts by default."""
MOVED_TYPES = {
    ("newsseg.ngrams", "NgramTfidf"): "newsseg.feature_steps",
    ("newsseg.features", "CompactTfidfVectorizer"): "newsseg.feature_steps",
    ("newsseg.features", "TopicFeatures"): "newsseg.feature_steps",
    ("newsseg.features", "ParagraphMemory"): "newsseg.feature_steps",
    ("newsseg.features", "LayoutFeatures"): "newsseg.feature_steps",
}
"""Where the classes a 0.x skops file names live now: ``(module, class)`` to module."""

LEGACY_TREE_TYPE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
"""How files saved before the packed trees (see :func:`pack_booster`) held the boosting
stage: skops builds these without checking their node indices, so they are refused."""

SKOPS_MISSING = (
    "is a newsseg 0.x model file (skops); reading it needs skops: "
    "pip install 'newsseg[skops]', then convert it once with "
    "'newsseg convert-model {name} {stem}.npz'"
)


def library_versions() -> dict[str, str]:
    """Versions of the libraries newsseg trains with (skops where it is installed)."""
    import joblib
    import numpy
    import pandas as pd
    import scipy
    import sklearn

    versions = {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }
    try:
        import skops
    except ImportError:
        return versions
    return {**versions, "skops": skops.__version__}


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

    labeler: Labeler
    metadata: dict
    path: Path | None
    name: str


def resolve(model: ModelArgument, *, trust_pickle: bool = False) -> ResolvedModel:
    """The model ``model`` means: itself when it is a fitted model, else the model file at
    its path, or the shipped default model for None (see :func:`load`)."""
    if model is not None and not isinstance(model, (str, Path)):
        if not hasattr(model, "predict_with_proba"):
            raise TypeError(f"not a model, a model file's path or None: {type(model).__name__}")
        return ResolvedModel(model, {}, None, "a model given in Python")
    path = default_model_path() if model is None else Path(model)
    labeler, metadata = load(path, trust_pickle=trust_pickle)
    name = "the shipped default model" if model is None else str(model)
    return ResolvedModel(labeler, metadata, path, name)


def labeler_of(model: ModelArgument, *, trust_pickle: bool = False) -> Labeler:
    """The fitted model ``model`` means (see :func:`resolve`)."""
    return resolve(model, trust_pickle=trust_pickle).labeler


def metadata_path(model_path: str | Path) -> Path:
    """The human-readable copy of a model's metadata, beside the model file."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.meta.json")


def read_metadata(path: str | Path) -> dict:
    """The metadata stored in a newsseg model file, without loading the model."""
    source = Path(path)
    if source.suffix.lower() == SKOPS_SUFFIX:
        return read_skops_metadata(source)
    return model_arrays.read_metadata(source)


def load(path: str | Path | None = None, trust_pickle: bool = False) -> tuple[ArrayLabeler, dict]:
    """Load a model file (default: the shipped model) and its metadata.

    A model file of arrays (``.npz``) is read and checked without running anything from
    it. A newsseg 0.x skops file (``.skops``, needs skops) is loaded with an explicit list of
    trusted types and converted to arrays. Pickle-based files (``.joblib``) run code when
    loaded and are refused unless ``trust_pickle`` is true.
    """
    source = default_model_path() if path is None else Path(path)
    suffix = source.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        model, metadata = _load_pickle(source, trust_pickle)
    elif suffix == SKOPS_SUFFIX:
        model, metadata = load_skops(source)
    else:
        arrays = model_arrays.read(source)
        return ArrayLabeler(arrays), arrays.metadata
    if isinstance(model, ArrayLabeler):
        return model, metadata
    return ArrayLabeler(_converted(source, model, metadata)), metadata


def _converted(source: Path, model: ParagraphLabeler, metadata: dict) -> model_arrays.ModelArrays:
    """A 0.x model's arrays, as a model file of arrays would hold them (and checked alike)."""
    from newsseg.conversion import ConversionError, as_model_arrays

    try:
        return as_model_arrays(model, metadata)
    except ConversionError as error:
        raise ModelError(source, str(error)) from None
    except (AttributeError, TypeError, ValueError, IndexError, KeyError) as error:
        raise ModelError(source, f"corrupt model file (incomplete model state: {error})") from None


# --------------------------------------------------------------------------- 0.x files


def read_skops_metadata(source: Path) -> dict:
    """The metadata entry of a newsseg 0.x skops file."""
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
    """Refuse a skops file written by another minor version of scikit-learn."""
    saved = metadata.get("versions", {}).get("scikit-learn", "")
    current = library_versions()["scikit-learn"]
    if _minor(saved) != _minor(current):
        raise ModelError(
            path,
            f"trained with scikit-learn {saved or 'unknown'}, this is {current}; convert it "
            f"where scikit-learn=={_minor(saved)}.* is installed ('newsseg convert-model "
            f"OLD.skops NEW.npz'), or retrain it with 'newsseg train DATA -o MODEL'",
        )


def load_skops(source: Path) -> tuple[ParagraphLabeler, dict]:
    """A newsseg 0.x skops file's model and metadata: skops audits the types before it builds
    anything (only newsseg's own and those skops trusts are built)."""
    metadata = read_skops_metadata(source)
    try:
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException
    except ImportError:
        raise ModelError(source, SKOPS_MISSING.format(name=source.name, stem=source.stem)) from None
    check_versions(source, metadata)
    check_archive_sizes(source)
    data = _with_moved_types(source)
    try:
        # skops audits the types before it builds anything; one pass over the file.
        model = sio.loads(data, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException:
        # The exception only holds text: list the types again to name them.
        unknown = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
        raise ModelError(source, untrusted_reason(unknown)) from None
    except Exception as error:  # skops raises many kinds on a damaged archive
        raise ModelError(source, f"corrupt model file ({type(error).__name__}: {error})") from None
    return _checked(source, model), metadata


def renamed_modules(node: Any, modules: dict[tuple[str, str], str]) -> Any:
    """A skops schema ``node`` with the class ``(module, name)`` of every object found in
    ``modules`` named from the module it maps to."""
    if isinstance(node, dict):
        node = {key: renamed_modules(value, modules) for key, value in node.items()}
        key = (node.get("__module__"), node.get("__class__"))
        if key in modules:
            node["__module__"] = modules[key]
        return node
    if isinstance(node, list):
        return [renamed_modules(item, modules) for item in node]
    return node


def _with_moved_types(source: Path) -> bytes:
    """The skops archive with the classes of :data:`MOVED_TYPES` named where they live now."""
    try:
        with zipfile.ZipFile(source) as archive:
            schema = json.loads(archive.read("schema.json"))
            members = [(info, archive.read(info)) for info in archive.infolist()]
    except KeyError:
        raise ModelError(source, "not a newsseg model file (not a skops archive)") from None
    except (zipfile.BadZipFile, ValueError, RecursionError, NotImplementedError, OSError) as error:
        raise ModelError(source, f"corrupt model file ({error})") from None

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            if info.filename == "schema.json":
                data = json.dumps(renamed_modules(schema, MOVED_TYPES)).encode("utf-8")
            archive.writestr(info.filename, data)
    return buffer.getvalue()


def check_archive_sizes(source: Path) -> None:
    """Refuse a skops archive whose members would inflate beyond the caps, from the sizes its
    directory declares, before anything is inflated (a zip bomb would fill memory)."""
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelError(source, f"corrupt model file ({error})") from None
    total = 0
    for member in members:
        model_arrays.refuse_inflation(source, member)
        total += member.file_size
    if total > MAX_ARCHIVE_BYTES:
        raise ModelError(source, f"refused: its members would inflate to {total} bytes")


def untrusted_reason(unknown: list[str]) -> str:
    """Why a model file holding the ``unknown`` types is refused."""
    if unknown == [LEGACY_TREE_TYPE]:
        return (
            "was saved by an older newsseg (unchecked boosting trees); retrain it with "
            "'newsseg train DATA -o MODEL'"
        )
    return f"holds types newsseg does not trust: {', '.join(unknown)}"


def _checked(source: Path, model: Any) -> Any:
    """``model`` if it is a newsseg model, else a ModelError (its state is checked when it
    is converted to arrays)."""
    from newsseg.model import ParagraphLabeler

    if not isinstance(model, (ParagraphLabeler, ArrayLabeler)):
        raise ModelError(source, "not a newsseg model file (holds no ParagraphLabeler)")
    return model


def _load_pickle(source: Path, trust_pickle: bool) -> tuple[Any, dict]:
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
            f"a model is saved as an archive of arrays, which needs the suffix {MODEL_SUFFIX} "
            f"(loading checks it); name it {Path(path).with_suffix(MODEL_SUFFIX).name}",
        )
    dataset.check_output(path, force)
    dataset.check_output(metadata_path(path))


def save(model: Labeler, path: str | Path, metadata: dict, force: bool = True) -> None:
    """Write a fitted ``model`` with ``metadata`` (and the time it is saved) as a model file
    of arrays at ``path``, and the metadata's readable copy beside it: both are written in
    a temporary folder beside ``path`` and moved into place, so a failure at any point
    leaves neither file nor temporary behind. ``force=False`` refuses to overwrite."""
    metadata = {**metadata, "saved": _now()}
    if isinstance(model, ArrayLabeler):
        arrays = model_arrays.ModelArrays(
            {**model.stored.header, "metadata": metadata}, model.stored.arrays
        )
    else:
        from newsseg.conversion import as_model_arrays

        try:
            arrays = as_model_arrays(model, metadata)
        except ValueError as error:  # a state no reader would accept: never write it
            raise OutputError(path, f"not written: the model fails the checks ({error})") from None
    write_model(arrays, path, force)


def write_model(arrays: model_arrays.ModelArrays, path: str | Path, force: bool = True) -> None:
    """Write a model file and its metadata's readable copy beside it, atomically."""
    target = Path(path)
    dataset.check_output(target, force)
    text = json.dumps(arrays.metadata, indent=2, sort_keys=True)
    with dataset.staged_outputs([metadata_path(target), target]) as (staged_meta, staged):
        with open(staged, "wb") as stream:
            model_arrays.write(stream, arrays)
        with dataset.new_file(staged_meta) as stream:
            stream.write(text + "\n")


def convert(
    source: str | Path, target: str | Path, *, force: bool = False, trust_pickle: bool = False
) -> dict:
    """Write the newsseg 0.x model file ``source`` (``.skops``, or a trusted pickle) as a
    model file of arrays at ``target`` (``.npz``), with its metadata and a note of the
    conversion; returns the metadata. The new file labels as the old one did, to the bit."""
    source = Path(source)
    check_model_output(target, force)
    if source.suffix.lower() in PICKLE_SUFFIXES:
        model, metadata = _load_pickle(source, trust_pickle)
    elif source.suffix.lower() == SKOPS_SUFFIX:
        model, metadata = load_skops(source)
    else:
        raise ModelError(source, f"not a newsseg 0.x model file (not {SKOPS_SUFFIX} or .joblib)")
    if isinstance(model, ArrayLabeler):  # a trusted pickle of a loaded model
        arrays = model.stored
    else:
        arrays = _converted(source, model, metadata)
    note = {"from": source.name, "by_newsseg": VERSION, "at": _now()}
    converted = {**metadata, "converted": note}
    write_model(
        model_arrays.ModelArrays({**arrays.header, "metadata": converted}, arrays.arrays),
        target,
        force,
    )
    return converted


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
