"""The model file of plain arrays: what prediction needs as named numpy arrays and one JSON
header, in one zip archive (numpy's ``.npz`` layout: any ``numpy.load`` or zip tool lists it),
and how it is read without trusting it.

A model file holds one ``.npy`` member per array (no pickled objects: the dtypes are numbers
and bytes) and the member :data:`HEADER_MEMBER`: the format and its version, the label set,
the settings, how each part was made (TF-IDF analyzers, layout cue names, tree counts), the
temperature and the metadata newsseg writes (versions, training data, scores).

Reading (:func:`read`) trusts nothing in the file:

- sizes are checked from the zip directory before anything is inflated (the directory itself,
  each member, all members together, each member's compression ratio) and again while
  inflating, so a member that inflates beyond what the directory says is cut off and refused;
- every ``.npy`` member's header is parsed by itself (no pickle, no object dtype) and its data
  must be exactly the size its shape says;
- every array's dtype and shape is checked against the header and the other arrays, and its
  values for what prediction relies on (finite, sorted where it is searched, indices in range,
  log-probabilities at most 0, a temperature in bounds; see :func:`problem`).

A file that fails is a :class:`~newsseg.errors.ModelError` naming it, with the reason.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from newsseg.config import BODY_LABEL
from newsseg.errors import ModelError
from newsseg.features import TOPIC_CUES, layout_feature_names
from newsseg.ngrams import ANALYZERS, bucket_order_ok
from newsseg.sequence import SEQUENCE_MODES, TEMPERATURE_BOUNDS, ZONES
from newsseg.stage_two import STRUCTURE_FLAGS, StructureSettings, stage_two_feature_names
from newsseg.trees import NODE_ARRAYS, TreeEnsemble

FORMAT_NAME = "newsseg-model"
FORMAT_VERSION = 1
"""The version of the layout below; a reader refuses files of a later version."""
MODEL_SUFFIX = ".npz"
"""The suffix of newsseg's model files: the file is an ``.npz`` archive, and says so."""
HEADER_MEMBER = "newsseg.json"

MAX_FILE_BYTES = 256 * 2**20
"""The largest model file read (the shipped model's is ~3 MB)."""
MAX_MEMBERS = 64
"""The most members a model file may have (the shipped model has ~35)."""
MAX_DIRECTORY_BYTES = 64 * 2**10
"""The largest zip directory read (its entries are parsed before anything else)."""
MAX_MEMBER_BYTES = 256 * 2**20
"""The largest a member of a model file may inflate to (the shipped model's largest: ~2 MB)."""
MAX_ARCHIVE_BYTES = 512 * 2**20
"""The most all members of a model file may inflate to together."""
MAX_COMPRESSION_RATIO = 200
"""A member over 1 MB that inflates more than this many times its stored size is a zip bomb
(the shipped model's arrays compress about 1-6 times)."""
MAX_HEADER_BYTES = 16 * 2**20
MAX_NGRAM = 10
"""The longest n-grams a model file may ask for."""

SETTING_FLAGS = (
    "use_words",
    "use_chars",
    "use_layout",
    "use_topic",
    "use_context",
    "use_memory",
    "use_structure",
    "zones",
)
"""The settings every model file gives (besides ``sequence`` and the optional structure
flags of :class:`~newsseg.stage_two.StructureSettings`)."""

_DIRECTORY_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_DIRECTORY_END_SIZE = 22
_MAX_COMMENT = 65535


@dataclass(frozen=True)
class ModelArrays:
    """A model as its file holds it: the header (plain JSON data) and the named arrays."""

    header: dict
    arrays: dict[str, np.ndarray]

    @property
    def labels(self) -> list[str]:
        return list(self.header["labels"])

    @property
    def settings(self) -> dict:
        return dict(self.header["settings"])

    @property
    def metadata(self) -> dict:
        return dict(self.header.get("metadata") or {})

    def step_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays named ``<prefix>.<name>``, by ``name``."""
        start = prefix + "."
        return {k[len(start) :]: v for k, v in self.arrays.items() if k.startswith(start)}

    def trees(self) -> TreeEnsemble:
        """The booster's trees (see :mod:`newsseg.trees`)."""
        booster = self.step_arrays("booster")
        return TreeEnsemble(
            **{name: booster[name] for name in NODE_ARRAYS},
            tree_ends=booster["tree_ends"],
            baseline=booster["baseline"],
            trees_per_iteration=int(self.header["booster"]["trees_per_iteration"]),
            n_features=int(self.header["booster"]["n_features"]),
        )


# --------------------------------------------------------------------------- the layout

_F8, _F4, _U8, _I8, _B1, _BYTES = (
    np.dtype("<f8"),
    np.dtype("<f4"),
    np.dtype("<u8"),
    np.dtype("<i8"),
    np.dtype("|b1"),
    np.dtype("|u1"),
)
VOCABULARY_ARRAYS = {"hashes": _U8, "idf": _F4}
TERM_ARRAYS = {"terms": _BYTES, "term_ends": _I8}
BOOSTER_ARRAYS = {
    "feature": _I8,
    "threshold": _F8,
    "missing_left": _B1,
    "left": _I8,
    "right": _I8,
    "is_leaf": _B1,
    "value": _F8,
    "gain": _F8,
    "tree_ends": _I8,
    "baseline": _F8,
}
QUANTISER_ARRAYS = {"columns": _I8, "threshold_ends": _I8, "thresholds": _F8}
CHAIN_ARRAYS = {"log_start": _F8, "log_transitions": _F8, "log_end": _F8, "log_prior": _F8}
MEMORY_ARRAYS = {"hashes": _I8, "counts": _I8}


def expected_arrays(header: Mapping) -> dict[str, np.dtype]:
    """The arrays a model file with this header holds, and the dtype of each."""
    expected: dict[str, np.dtype] = {}

    def add(prefix: str, arrays: Mapping[str, np.dtype]) -> None:
        expected.update({f"{prefix}.{name}": dtype for name, dtype in arrays.items()})

    text = header.get("text")
    if text:
        for step in text["steps"]:
            add(f"text.{step['name']}", {**VOCABULARY_ARRAYS, **TERM_ARRAYS})
        dtype = _F4 if text.get("dtype") == "float32" else _F8
        add("text", {"coef": dtype, "intercept": dtype})
    if header.get("topic"):
        add("topic", VOCABULARY_ARRAYS)
    if header.get("memory"):
        add("memory", MEMORY_ARRAYS)
    add("quantiser", QUANTISER_ARRAYS)
    add("booster", BOOSTER_ARRAYS)
    add("chain", CHAIN_ARRAYS)
    return expected


# --------------------------------------------------------------------------- writing


def write(stream: BinaryIO, model: ModelArrays) -> None:
    """Write ``model`` to ``stream`` as a model file: the header first, then the arrays in
    name order, each member deflated and dated 1980-01-01, so that one model always gives
    the same bytes."""
    problem_found = problem(model.header, model.arrays)
    if problem_found:
        raise ValueError(f"not a valid model: {problem_found}")
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(model.header, indent=1, sort_keys=True, allow_nan=False)
        archive.writestr(_member_info(HEADER_MEMBER), text.encode("utf-8"))
        for name in sorted(model.arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(
                buffer, np.ascontiguousarray(model.arrays[name]), allow_pickle=False
            )
            archive.writestr(_member_info(f"{name}.npy"), buffer.getvalue())


def _member_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


# --------------------------------------------------------------------------- reading


def read(path: str | Path) -> ModelArrays:
    """The model file at ``path``, checked (see the module docstring); a
    :class:`~newsseg.errors.ModelError` if it is missing, no model file or damaged."""
    source = Path(path)
    with _opened(source) as archive:
        members = _checked_members(source, archive)
        header = read_header(source, archive, members)
        expected = expected_arrays(header)
        names = {name for name in members if name != HEADER_MEMBER}
        found = {name.removesuffix(".npy") for name in names}
        missing = sorted(set(expected) - found)
        if missing:
            raise ModelError(source, f"corrupt model file (no array {missing[0]!r})")
        unknown = sorted(found - set(expected))
        if unknown or any(not name.endswith(".npy") for name in names):
            raise ModelError(source, f"corrupt model file (unknown member {sorted(names)[0]!r})")
        arrays = {
            name: _array(source, name, _inflated(source, archive, members[f"{name}.npy"]), dtype)
            for name, dtype in expected.items()
        }
    found_problem = problem(header, arrays)
    if found_problem:
        raise ModelError(source, f"corrupt model file ({found_problem})")
    return ModelArrays(header, arrays)


def read_metadata(path: str | Path) -> dict:
    """The metadata stored in a model file, read without its arrays."""
    source = Path(path)
    with _opened(source) as archive:
        return dict(read_header(source, archive, _checked_members(source, archive))["metadata"])


@contextmanager
def _opened(source: Path) -> Iterator[zipfile.ZipFile]:
    """``zipfile.ZipFile`` of a model file, after the checks that come before parsing its
    directory: a regular file, not too large, a zip directory of bounded size."""
    if not source.is_file():
        raise ModelError(source, "no such model file")
    try:
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelError(source, f"refused: {size} bytes, larger than any model file")
        _check_directory_end(source, size)
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ModelError(source, f"corrupt model file ({error})") from None
    with archive:
        yield archive


def _check_directory_end(source: Path, size: int) -> None:
    """Refuse a file whose zip directory (as ``zipfile`` finds it: the last end record in
    the file's tail) is missing, is a zip64 one, or lists too many members or bytes: they
    are all parsed before anything else is read."""
    tail_size = min(size, _DIRECTORY_END_SIZE + _MAX_COMMENT)
    with source.open("rb") as stream:
        stream.seek(size - tail_size)
        tail = stream.read(tail_size)
    at = tail.rfind(_DIRECTORY_END)
    if at < 0 or len(tail) - at < _DIRECTORY_END_SIZE:
        raise ModelError(source, "not a newsseg model file (not a zip archive)")
    entries, directory_bytes = struct.unpack("<HI", tail[at + 10 : at + 16])
    zip64 = at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR
    if zip64 or entries > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise ModelError(
            source,
            f"refused: its zip directory lists {entries} members in {directory_bytes} bytes"
            + (" (zip64)" if zip64 else "")
            + f"; a model file has at most {MAX_MEMBERS}",
        )


def refuse_inflation(source: Path, info: zipfile.ZipInfo) -> None:
    """A :class:`ModelError` if the zip directory says member ``info`` would inflate past
    :data:`MAX_MEMBER_BYTES`, or (over a MB) past :data:`MAX_COMPRESSION_RATIO` times its
    stored size."""
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MAX_MEMBER_BYTES or (
        info.file_size > 2**20 and ratio > MAX_COMPRESSION_RATIO
    ):
        raise ModelError(
            source,
            f"refused: member {info.filename!r} would inflate to {info.file_size} bytes "
            f"({ratio:.0f} times its stored size)",
        )


def _checked_members(source: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The members by name, after checking what the directory says of them: names once
    each, plain deflate or stored, not encrypted, sizes and ratios within the caps."""
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        name = info.filename
        if name in members:
            raise ModelError(source, f"corrupt model file (member {name!r} twice)")
        if info.flag_bits & 0x1:
            raise ModelError(source, f"corrupt model file (member {name!r} is encrypted)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelError(source, f"corrupt model file (member {name!r}: unknown compression)")
        refuse_inflation(source, info)
        total += info.file_size
        members[name] = info
    if total > MAX_ARCHIVE_BYTES:
        raise ModelError(source, f"refused: its members would inflate to {total} bytes")
    return members


def _inflated(source: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes: at most the size the directory gives (``zipfile`` stops there and
    checks the CRC), and exactly that size."""
    try:
        with archive.open(info) as stream:
            data = stream.read(info.file_size + 1)
            if len(data) != info.file_size:
                raise ModelError(source, f"corrupt model file (member {info.filename!r} size)")
            if stream.read(1):
                raise ModelError(source, f"corrupt model file (member {info.filename!r} size)")
    except ModelError:
        raise
    # zlib.error is an Exception; NotImplementedError: a compression zipfile cannot read.
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise ModelError(source, f"corrupt model file ({error})") from None
    except Exception as error:  # zlib.error, RuntimeError (a password), struct.error
        raise ModelError(source, f"corrupt model file ({type(error).__name__}: {error})") from None
    return data


def read_header(source: Path, archive: zipfile.ZipFile, members: Mapping) -> dict:
    """The header of a model file: its format and version checked, its fields typed."""
    info = members.get(HEADER_MEMBER)
    if info is None and "schema.json" in members:
        raise ModelError(
            source,
            "is a skops archive (a newsseg 0.x model file?), not a model file of arrays: "
            "name it .skops to read it, or convert it with 'newsseg convert-model OLD.skops "
            "NEW.npz'",
        )
    if info is None:
        raise ModelError(source, f"not a newsseg model file (no {HEADER_MEMBER})")
    if info.file_size > MAX_HEADER_BYTES:
        raise ModelError(source, f"refused: a header of {info.file_size} bytes")
    try:
        header = json.loads(_inflated(source, archive, info))
    except (ValueError, RecursionError) as error:
        raise ModelError(source, f"corrupt model file (header: {error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelError(source, "not a newsseg model file (its header names another format)")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(source, f"corrupt model file (format version {version!r})")
    if version > FORMAT_VERSION:
        raise ModelError(
            source,
            f"written by a newer newsseg (model format {version}; this newsseg reads format "
            f"{FORMAT_VERSION}): upgrade newsseg",
        )
    found = header_problem(header)
    if found:
        raise ModelError(source, f"corrupt model file (header: {found})")
    return header


def _array(source: Path, name: str, data: bytes, dtype: np.dtype) -> np.ndarray:
    """The array of a ``.npy`` member, read without unpickling anything: its header parsed,
    its dtype the one the layout gives, its data exactly as long as its shape says."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, found = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, found = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"npy version {version}")
    except (ValueError, SyntaxError, TypeError, EOFError, RecursionError) as error:
        raise ModelError(source, f"corrupt model file (array {name!r}: {error})") from None
    if found != dtype:
        raise ModelError(source, f"corrupt model file (array {name!r} is {found}, not {dtype})")
    if fortran_order or not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 2:
        raise ModelError(source, f"corrupt model file (array {name!r} of shape {shape})")
    count = math.prod(shape)
    offset = stream.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise ModelError(source, f"corrupt model file (array {name!r} is cut or padded)")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    if dtype == _B1 and (array.view(np.uint8) > 1).any():  # a bool must be 0 or 1
        raise ModelError(source, f"corrupt model file (array {name!r} holds no booleans)")
    return array


# --------------------------------------------------------------------------- checks


def header_problem(header: Mapping) -> str | None:
    """What is wrong with the fields of a header (types, and settings against parts)."""
    labels = header.get("labels")
    if isinstance(labels, list) and len(set(map(str, labels))) != len(labels):
        return "a label named twice"
    if not _labels_ok(labels):
        return "labels must be two or more different names, sorted"
    settings = header.get("settings")
    if not isinstance(settings, dict) or not all(
        isinstance(settings.get(flag), bool) for flag in SETTING_FLAGS
    ):
        return "settings must give every use_... flag and zones as true or false"
    unknown = sorted(set(settings) - {*SETTING_FLAGS, *STRUCTURE_FLAGS, "sequence"})
    if unknown:  # a later newsseg's cues: this one would compute other columns
        return f"settings this newsseg does not know ({', '.join(unknown)}): upgrade newsseg"
    if not all(isinstance(settings.get(flag, False), bool) for flag in STRUCTURE_FLAGS):
        return "settings must give every use_... flag and zones as true or false"
    if settings.get("sequence") not in SEQUENCE_MODES:
        return f"sequence must be one of {', '.join(SEQUENCE_MODES)}"
    if not isinstance(header.get("params"), dict) or not isinstance(header.get("metadata"), dict):
        return "params and metadata must be mappings"
    text, topic, layout = header.get("text"), header.get("topic"), header.get("layout")
    steps = [name for name in ("words", "chars") if settings[f"use_{name}"]]
    if bool(text) != bool(steps):
        return "the text model is there without use_words/use_chars, or missing"
    if text:
        found = text.get("steps") if isinstance(text, dict) else None
        names = [s.get("name") for s in found if isinstance(s, dict)] if found else []
        if not isinstance(found, list) or names != steps:
            return f"the text model's steps must be {steps}"
        if not all(_ngrams_ok(step) for step in found):
            return "a text step has an unknown analyzer or n-gram range"
        if not _labels_ok(text.get("labels")) or not set(text["labels"]) <= set(labels):
            return "the text model's labels are not the model's"
        if text.get("dtype") not in ("float32", "float64"):
            return "the text model's dtype must be float32 or float64"
    if bool(topic) != settings["use_topic"] or (topic and not _ngrams_ok(topic)):
        return "the topic cues do not agree with use_topic"
    if bool(layout) != settings["use_layout"]:
        return "the layout cues do not agree with use_layout"
    if layout and not (
        isinstance(layout, dict)
        and isinstance(layout.get("features"), list)
        and all(isinstance(name, str) for name in layout["features"])
    ):
        return "the layout cue names must be a list of names"
    if header.get("memory") is not settings["use_memory"]:
        return "the memory does not agree with use_memory"
    booster = header.get("booster")
    if not isinstance(booster, dict) or not _labels_ok(booster.get("labels")):
        return "the booster's labels are missing"
    if not set(booster["labels"]) <= set(labels):
        return "the booster's labels are not the model's"
    per_iteration = 1 if len(booster["labels"]) == 2 else len(booster["labels"])
    if booster.get("trees_per_iteration") != per_iteration:
        return f"the booster needs {per_iteration} tree(s) an iteration"
    if not _count_ok(booster.get("n_features")):
        return "the booster's number of features is missing"
    temperature = header.get("temperature")
    low, high = TEMPERATURE_BOUNDS
    if not _number(temperature) or not low <= temperature <= high:
        return f"temperature {temperature!r} outside [{low}, {high}]"
    return None


def _labels_ok(labels: Any) -> bool:
    return (
        isinstance(labels, list)
        and len(labels) >= 2
        and all(isinstance(label, str) and label for label in labels)
        and labels == sorted(set(labels))
    )


def _ngrams_ok(step: Any) -> bool:
    if not isinstance(step, dict) or step.get("analyzer") not in ANALYZERS:
        return False
    n_range = step.get("ngram_range")
    return (
        isinstance(n_range, list)
        and len(n_range) == 2
        and all(_count_ok(n) for n in n_range)
        and 1 <= n_range[0] <= n_range[1] <= MAX_NGRAM
    )


def _count_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def problem(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str | None:
    """What makes ``arrays`` (with ``header``) no model prediction can run, or None: each
    array's dtype, its shape against the header and the other arrays, and its values."""
    found = header_problem(header)
    if found:
        return found
    expected = expected_arrays(header)
    if set(arrays) != set(expected):
        return f"arrays {sorted(set(arrays) ^ set(expected))} do not belong to this header"
    for name, dtype in expected.items():
        if arrays[name].dtype != dtype:
            return f"array {name!r} is {arrays[name].dtype}, not {dtype}"
    checks = (
        _stage_two_problem,
        _text_problem,
        _topic_problem,
        _memory_problem,
        _booster_problem,
        _chain_problem,
    )
    for check in checks:
        found = check(header, arrays)
        if found:
            return found
    return None


def vocabulary_problem(name: str, step: Mapping[str, np.ndarray], terms: bool) -> str | None:
    """What is wrong with a TF-IDF vocabulary's arrays (hashes, IDF, maybe term names)."""
    hashes, idf = step["hashes"], step["idf"]
    if hashes.ndim != 1 or len(hashes) == 0 or idf.shape != hashes.shape:
        return f"{name}: {hashes.shape} hashes, {idf.shape} IDF values"
    if not bucket_order_ok(hashes) or len(np.unique(hashes)) != len(hashes):
        return f"{name}: hashes not in bucket order, or one twice"
    if not (np.isfinite(idf).all() and (idf > 0).all()):
        return f"{name}: IDF values that are not finite and positive"
    if terms:
        blob, ends = step["terms"], step["term_ends"]
        if blob.ndim != 1 or ends.shape != hashes.shape:
            return f"{name}: {ends.shape} term names for {hashes.shape} terms"
        if (np.diff(ends, prepend=0) < 0).any() or ends[-1] != len(blob):
            return f"{name}: term name ends out of order"
        if len(blob) and ((blob[ends[ends < len(blob)]] & 0xC0) == 0x80).any():
            return f"{name}: a term name ends inside a character"
        try:
            blob.tobytes().decode("utf-8")
        except UnicodeDecodeError:
            return f"{name}: term names that are no UTF-8"
    return None


def _text_problem(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str | None:
    text = header.get("text")
    if not text:
        return None
    width = 0
    for step in text["steps"]:
        prefix = f"text.{step['name']}"
        found = vocabulary_problem(prefix, _part(arrays, prefix), terms=True)
        if found:
            return found
        width += len(arrays[f"{prefix}.hashes"])
    rows = 1 if len(text["labels"]) == 2 else len(text["labels"])
    coef, intercept = arrays["text.coef"], arrays["text.intercept"]
    if coef.shape != (rows, width) or intercept.shape != (rows,):
        return (
            f"text model: coefficients {coef.shape} and intercepts {intercept.shape}, "
            f"not ({rows}, {width}) and ({rows},)"
        )
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        return "text model: coefficients that are not finite"
    return None


def _topic_problem(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str | None:
    if not header.get("topic"):
        return None
    return vocabulary_problem("topic", _part(arrays, "topic"), terms=False)


def _memory_problem(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str | None:
    if not header.get("memory"):
        return None
    hashes, counts = arrays["memory.hashes"], arrays["memory.counts"]
    if hashes.ndim != 1 or counts.shape != hashes.shape:
        return f"memory: {hashes.shape} hashes and {counts.shape} counts"
    if (np.diff(hashes) <= 0).any() or (counts < 0).any():
        return "memory: hashes not sorted, or negative counts"
    return None


def _booster_problem(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str | None:
    booster = _part(arrays, "booster")
    if any(booster[name].ndim != 1 for name in BOOSTER_ARRAYS):
        return "booster: node arrays that are not vectors"
    found = ModelArrays(dict(header), dict(arrays)).trees().problem()
    if found:
        return f"booster: {found}"
    n_features = header["booster"]["n_features"]
    columns, ends, thresholds = (arrays[f"quantiser.{name}"] for name in QUANTISER_ARRAYS)
    if columns.ndim != 1 or ends.shape != columns.shape or thresholds.ndim != 1:
        return "quantiser: its arrays do not agree"
    in_range = len(columns) == 0 or (columns[0] >= 0 and columns[-1] < n_features)
    if (np.diff(columns) <= 0).any() or not in_range:
        return "quantiser: columns out of order or beyond the booster's features"
    if (np.diff(ends, prepend=0) < 1).any() or (len(ends) and ends[-1] != len(thresholds)):
        return "quantiser: threshold counts do not add up"
    if not np.isfinite(thresholds).all():
        return "quantiser: thresholds that are not finite"
    within = np.ones(max(len(thresholds) - 1, 0), dtype=bool)
    within[ends[:-1] - 1] = False  # a difference across two columns' thresholds
    if (np.diff(thresholds)[within] <= 0).any():
        return "quantiser: a column's thresholds are not increasing"
    return None


def _stage_two_problem(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str | None:
    """The layout cues must be those this newsseg computes, and the booster must read as
    many columns as the parts give (see :func:`newsseg.stage_two.stage_two_matrix`)."""
    layout = header.get("layout")
    if layout and list(layout["features"]) != list(layout_feature_names()):
        return "its layout cues are not those of this newsseg"
    names = header_stage_two_names(header)
    if header["booster"]["n_features"] != len(names):
        return (
            f"the booster reads {header['booster']['n_features']} features, "
            f"its parts give {len(names)}"
        )
    return None


def header_stage_two_names(header: Mapping) -> list[str]:
    """The names of the boosting stage's columns of a model with this header."""
    settings = header["settings"]
    return stage_two_feature_names(
        header["labels"],
        layout_names=header["layout"]["features"] if header.get("layout") else None,
        topic_names=TOPIC_CUES if header.get("topic") else None,
        memory=bool(header.get("memory")),
        text=bool(header.get("text")),
        use_context=settings["use_context"],
        structure=structure_settings(settings),
    )


def structure_settings(settings: Mapping) -> StructureSettings | None:
    """The structure cues a model's settings ask for (a flag the file lacks reads false:
    the file was written before the cue existed)."""
    if not settings["use_structure"]:
        return None
    return StructureSettings(**{flag: bool(settings.get(flag, False)) for flag in STRUCTURE_FLAGS})


def _chain_problem(header: Mapping, arrays: Mapping[str, np.ndarray]) -> str | None:
    """The chain's shapes and values (``-inf`` marks a move a zoned chain rules out; NaN and
    ``+inf`` are never valid) and the booster's prior."""
    k = len(header["labels"])
    zoned = header["settings"]["zones"] and BODY_LABEL in header["labels"]
    states = k * (ZONES if zoned else 1)
    shapes = {
        "chain.log_start": (states,),
        "chain.log_transitions": (states, states),
        "chain.log_end": (states,),
        "chain.log_prior": (k,),
    }
    for name, shape in shapes.items():
        values = arrays[name]
        if values.shape != shape:
            return f"{name} has shape {values.shape}, not {shape}"
        if np.isnan(values).any() or np.isposinf(values).any() or values.max() > 0:
            return f"{name} holds values that are no log-probabilities"
    for name in ("chain.log_start", "chain.log_end"):
        if not np.isfinite(arrays[name]).any():
            return f"{name} rules out every state"
    if not np.isfinite(arrays["chain.log_prior"]).all():
        return "chain.log_prior is not finite"
    return None


def _part(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    start = prefix + "."
    return {k[len(start) :]: v for k, v in arrays.items() if k.startswith(start)}
