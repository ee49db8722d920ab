"""Model files of arrays that are damaged or hostile: each one is one clean error line naming
the file and exit status 1 through the command line, never a traceback, never a crash at
predict time, and none inflates more than the caps allow (checked with tracemalloc).

Every fixture is written here, from the tiny model trained once for the session.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from newsseg import model_arrays, model_file
from newsseg.cli import app
from newsseg.errors import ModelError

runner = CliRunner()

DUMP = (
    "Council approves new bridge over the river\n"
    "The bridge has been the talk of the town this week, and engineers say the council will "
    "change how residents spend their days for years to come.\n"
    "© 2024 Example News. All rights reserved.\n"
)
PEAK_BYTES = 2**30
"""No hostile file may make reading it allocate more than this."""


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dump") / "page.txt"
    path.write_text(DUMP, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def parts(tiny_model_path) -> tuple[dict, dict[str, np.ndarray]]:
    """The tiny model's header and arrays (writable copies)."""
    model = model_arrays.read(tiny_model_path)
    return model.header, {name: np.array(array) for name, array in model.arrays.items()}


@pytest.fixture(scope="module")
def expected_output(dump, tiny_model_path) -> str:
    result = runner.invoke(app, ["predict", str(dump), "-m", str(tiny_model_path)])
    assert result.exit_code == 0, result.output
    return result.stdout


def predict_with(model: Path, dump: Path):
    """``newsseg predict DUMP -m MODEL``, and the most memory reading the model took."""
    tracemalloc.start()
    try:
        result = runner.invoke(app, ["predict", str(dump), "-m", str(model)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, peak
    return result


def assert_refused(result, path: Path, *fragments: str) -> str:
    """Exit 1 and one stderr line ``newsseg: error: PATH: ...`` holding ``fragments``."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in result.output, result.output
    assert message.startswith(f"newsseg: error: {path}: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=True)
    return buffer.getvalue()


def write_raw(path: Path, header: dict | None, arrays: dict[str, np.ndarray]) -> Path:
    """A model file as ``write`` would write it, but without checking anything."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if header is not None:
            archive.writestr(model_arrays.HEADER_MEMBER, json.dumps(header))
        for name, array in arrays.items():
            archive.writestr(f"{name}.npy", npy_bytes(array))
    return path


def raw_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip archive written byte by byte: each member is ``(name, stored bytes, method,
    CRC-32, declared inflated size)``, so that a test can make the directory lie."""
    local, central = io.BytesIO(), io.BytesIO()
    for name, data, method, crc, size in members:
        encoded = name.encode()
        offset = local.tell()
        fields = (20, 0, method, 0, 0x21, crc, len(data), size, len(encoded), 0)
        local.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", *fields) + encoded + data)
        central.write(
            struct.pack(
                "<4s6H3I5H2I",
                b"PK\x01\x02",
                20,
                *fields[:-1],
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + encoded
        )
    directory = central.getvalue()
    end = struct.pack(
        "<4s4H2IH",
        b"PK\x05\x06",
        0,
        0,
        len(members),
        len(members),
        len(directory),
        local.tell(),
        0,
    )
    path.write_bytes(local.getvalue() + directory + end)
    return path


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def zeros_deflated(size: int, block: int = 2**24) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (a multiple of ``block``), made in
    milliseconds: after a full flush a block's output does not depend on what came before,
    so one block's compressed bytes repeat."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return one * (size // block) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def members_of(path: Path) -> list[tuple[str, bytes, int, int, int]]:
    with zipfile.ZipFile(path) as archive:
        return [
            (info.filename, deflated(archive.read(info)), 8, info.CRC, info.file_size)
            for info in archive.infolist()
        ]


# --------------------------------------------------------------------------- damaged copies


def test_a_truncated_copy_is_refused(tmp_path, tiny_model_path, dump):
    data = tiny_model_path.read_bytes()
    for size in (0, 100, len(data) // 2, len(data) - 10):
        cut = tmp_path / f"cut-{size}.npz"
        cut.write_bytes(data[:size])
        assert_refused(predict_with(cut, dump), cut)


def test_bit_flipped_copies_are_refused_or_label_alike(
    tmp_path, tiny_model_path, dump, expected_output
):
    """A flipped bit in an array's data breaks its CRC; one in the zip's bookkeeping is
    refused or, where the field is not used (a date), harmless: never anything else."""
    data = bytearray(tiny_model_path.read_bytes())
    positions = np.linspace(0, len(data) - 1, 48).astype(int).tolist()
    refused = 0
    for position in positions:
        flipped = bytearray(data)
        flipped[position] ^= 0x10
        path = tmp_path / f"flip-{position}.npz"
        path.write_bytes(bytes(flipped))
        result = predict_with(path, dump)
        if result.exit_code == 0:
            assert result.stdout == expected_output, position
        else:
            assert_refused(result, path)
            refused += 1
    assert refused >= len(positions) * 3 // 4


# --------------------------------------------------------------------------- zip bombs


def test_a_member_that_inflates_to_gigabytes_is_refused_before_inflating(
    tmp_path, tiny_model_path, dump
):
    size = 2**31  # 2 GB of zeros in about 2 MB
    members = members_of(tiny_model_path)
    members.append(("bomb.npy", zeros_deflated(size), 8, 0, size))
    bomb = raw_zip(tmp_path / "bomb.npz", members)
    assert bomb.stat().st_size < 10 * 2**20
    assert_refused(predict_with(bomb, dump), bomb, "refused", "would inflate to 2147483648 bytes")


def test_a_member_whose_header_lies_about_its_size_is_cut_off(tmp_path, tiny_model_path, dump):
    """The directory says 4 kB; the data inflates to 1 GB: at most 4 kB are inflated, and
    the member is refused (its CRC does not match, or its array is cut)."""
    members = [m for m in members_of(tiny_model_path) if m[0] != "chain.log_prior.npy"]
    real = npy_bytes(np.zeros(4))
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = stream.compress(real) + stream.flush(zlib.Z_FULL_FLUSH)
    lying = head + zeros_deflated(2**30)
    for crc in (0, zlib.crc32(real + bytes(4096 - len(real)))):
        members_with_lie = [*members, ("chain.log_prior.npy", lying, 8, crc, 4096)]
        path = raw_zip(tmp_path / f"lie-{crc}.npz", members_with_lie)
        assert_refused(predict_with(path, dump), path, "corrupt model file")


def test_members_beyond_the_caps_are_refused_from_the_directory(tmp_path, tiny_model_path, dump):
    members = members_of(tiny_model_path)
    many = [(f"extra-{n}.npy", deflated(b"x"), 8, zlib.crc32(b"x"), 1) for n in range(100)]
    path = raw_zip(tmp_path / "many.npz", members + many)
    assert_refused(predict_with(path, dump), path, "refused", "members")
    ratio = [("text.extra.npy", zeros_deflated(2**25), 8, 0, 2**25)]  # 32 MB in 30 kB
    path = raw_zip(tmp_path / "ratio.npz", members + ratio)
    assert_refused(predict_with(path, dump), path, "refused", "times its stored size")


# --------------------------------------------------------------------------- crafted arrays


def _set(name: str, value: Callable[[np.ndarray], np.ndarray]):
    def change(header: dict, arrays: dict) -> None:
        arrays[name] = value(arrays[name])

    return change


def _header(**changes):
    def change(header: dict, arrays: dict) -> None:
        header.update(changes)

    return change


def _node(field: str, value, nodes: str = "splits"):
    """Set ``field`` of the first split (or leaf) node of the booster."""

    def change(header: dict, arrays: dict) -> None:
        leaf = arrays["booster.is_leaf"]
        at = np.flatnonzero(leaf if nodes == "leaves" else ~leaf)[0]
        array = arrays[f"booster.{field}"]
        array[at] = value

    return change


def _drop(name: str):
    def change(header: dict, arrays: dict) -> None:
        del arrays[name]

    return change


def _second_parent(header: dict, arrays: dict) -> None:
    """In the first tree whose root's left child splits, the root's right child becomes that
    child's right child too."""
    left, right, leaf = arrays["booster.left"], arrays["booster.right"], arrays["booster.is_leaf"]
    for first in np.concatenate([[0], arrays["booster.tree_ends"][:-1]]).tolist():
        child = first + left[first]
        if not leaf[first] and not leaf[child]:
            right[child] = right[first]
            return
    raise AssertionError("no tree to craft")


def _quantiser(columns: list[int], thresholds: list[float]):
    def change(header: dict, arrays: dict) -> None:
        arrays["quantiser.columns"] = np.array(columns, dtype="<i8")
        arrays["quantiser.threshold_ends"] = np.array([len(thresholds)], dtype="<i8")
        arrays["quantiser.thresholds"] = np.array(thresholds, dtype="<f8")

    return change


def _object_array(header: dict, arrays: dict) -> None:
    arrays["chain.log_prior"] = np.array([{"a": 1}, None, "x", 2.0], dtype=object)


CRAFTED = {
    "coef-one-column-short": (_set("text.coef", lambda a: a[:, :-1]), "coefficients"),
    "transitions-wrong-shape": (_set("chain.log_transitions", lambda a: a[:3, :3]), "has shape"),
    "idf-shorter-than-hashes": (_set("text.words.idf", lambda a: a[:-1]), "IDF values"),
    "tree-ends-short": (_set("booster.tree_ends", lambda a: a[:-1]), "booster"),
    "quantiser-column-beyond": (_quantiser([10**6], [0.5]), "beyond the booster's features"),
    "quantiser-thresholds-unsorted": (_quantiser([0], [0.5, 0.1]), "not increasing"),
    "nan-transitions": (
        _set("chain.log_transitions", lambda a: np.full_like(a, np.nan)),
        "no log-p",
    ),
    "nan-coef": (_set("text.coef", lambda a: np.where(a == a.max(), np.nan, a)), "not finite"),
    "nan-leaf": (_node("value", np.nan, nodes="leaves"), "leaf value"),
    "inf-leaf": (_node("value", 1e300, nodes="leaves"), "leaf value"),
    "nan-idf": (_set("topic.idf", lambda a: np.where(a == a.max(), np.nan, a)), "IDF"),
    "nan-quantiser-threshold": (_quantiser([0], [np.nan]), "not finite"),
    "positive-log-prior": (_set("chain.log_prior", lambda a: a + 1.0), "no log-probabilities"),
    "no-start": (_set("chain.log_start", lambda a: np.full_like(a, -np.inf)), "rules out every"),
    "zero-temperature": (_header(temperature=0.0), "temperature 0.0 outside"),
    "negative-temperature": (_header(temperature=-1.0), "temperature -1.0 outside"),
    "huge-temperature": (_header(temperature=1e9), "outside"),
    "nan-temperature": (_header(temperature=float("nan")), "temperature nan outside"),
    "left-child-beyond": (_node("left", 10**6), "outside its tree"),
    "right-child-loops-back": (_node("right", 0), "outside its tree or before it"),
    "negative-child": (_node("left", -5), "outside its tree"),
    "feature-beyond": (_node("feature", 10**6), "feature"),
    "negative-feature": (_node("feature", -1), "feature"),
    "nan-threshold": (_node("threshold", np.nan), "threshold is NaN"),
    "two-parents": (_second_parent, "child of no split or of several"),
    "float-indices": (_set("booster.left", lambda a: a.astype(np.float64)), "not int64"),
    "int-hashes": (_set("text.words.hashes", lambda a: a.astype(np.int64)), "not uint64"),
    "big-endian": (_set("chain.log_end", lambda a: a.astype(">f8")), "not float64"),
    "object-dtype": (_object_array, "is object"),
    "matrix-as-vector": (_set("chain.log_start", lambda a: a[None, :]), "has shape"),
    "missing-array": (_drop("booster.value"), "no array 'booster.value'"),
    "hashes-out-of-order": (_set("text.chars.hashes", lambda a: a[::-1].copy()), "bucket order"),
    "labels-unsorted": (_header(labels=["teaser", "body", "headline", "legal"]), "labels"),
    "booster-reads-other-features": (
        lambda h, a: h["booster"].update(n_features=3),
        "the booster reads 3 features",
    ),
    "no-layout-names": (lambda h, a: h["layout"].update(features=["x"]), "layout cues"),
    "unknown-analyzer": (
        lambda h, a: h["text"]["steps"][0].update(analyzer="bytes"),
        "unknown analyzer",
    ),
    "huge-ngrams": (
        lambda h, a: h["text"]["steps"][1].update(ngram_range=[2, 10**6]),
        "n-gram range",
    ),
    "setting-not-bool": (lambda h, a: h["settings"].update(use_context="yes"), "settings"),
    "a-later-setting": (
        lambda h, a: h["settings"].update(use_hunches=True),
        "settings this newsseg does not know (use_hunches): upgrade newsseg",
    ),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_arrays_are_one_clean_error(case, parts, tmp_path, dump):
    change, fragment = CRAFTED[case]
    header, arrays = json.loads(json.dumps(parts[0])), {k: v.copy() for k, v in parts[1].items()}
    change(header, arrays)
    path = write_raw(tmp_path / f"{case}.npz", header, arrays)
    assert_refused(predict_with(path, dump), path, "corrupt model file", fragment)


def test_an_object_array_is_never_unpickled(parts, tmp_path, dump):
    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    header, arrays = parts[0], dict(parts[1])
    arrays["chain.log_prior"] = np.array([RunsCode()] * 4, dtype=object)
    path = write_raw(tmp_path / "pickled.npz", header, arrays)
    assert_refused(predict_with(path, dump), path, "is object")
    assert not marker.exists()


def test_cut_and_padded_arrays_are_refused(parts, tmp_path, dump):
    header, arrays = parts
    members = {f"{k}.npy": npy_bytes(v) for k, v in arrays.items()}
    coef = members["text.coef.npy"]
    for name, data in (("cut", coef[:-8]), ("padded", coef + bytes(8))):
        changed = {**members, "text.coef.npy": data}
        path = tmp_path / f"{name}.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(model_arrays.HEADER_MEMBER, json.dumps(header))
            for member, content in changed.items():
                archive.writestr(member, content)
        assert_refused(predict_with(path, dump), path, "cut or padded")


def test_members_the_format_does_not_have_are_refused(parts, tmp_path, dump):
    header, arrays = parts
    extra = write_raw(tmp_path / "extra.npz", header, {**arrays, "gadget": np.zeros(3)})
    assert_refused(predict_with(extra, dump), extra, "unknown member")
    twice = tmp_path / "twice.npz"
    write_raw(twice, header, arrays)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(twice, "a") as archive:
        archive.writestr("chain.log_end.npy", npy_bytes(arrays["chain.log_end"]))
    assert_refused(predict_with(twice, dump), twice, "twice")


def test_a_missing_or_foreign_header_is_refused(parts, tmp_path, dump):
    header, arrays = parts
    missing = write_raw(tmp_path / "no-header.npz", None, arrays)
    assert_refused(predict_with(missing, dump), missing, "not a newsseg model file")
    foreign = write_raw(tmp_path / "foreign.npz", {**header, "format": "other"}, arrays)
    assert_refused(predict_with(foreign, dump), foreign, "not a newsseg model file")
    garbled = tmp_path / "garbled.npz"
    with zipfile.ZipFile(garbled, "w") as archive:
        archive.writestr(model_arrays.HEADER_MEMBER, "{not json")
    assert_refused(predict_with(garbled, dump), garbled, "corrupt model file")
    plain = tmp_path / "plain.npz"  # numpy's own .npz, of no model
    np.savez(plain, a=np.zeros(3))
    assert_refused(predict_with(plain, dump), plain, "not a newsseg model file")


def test_a_file_of_a_newer_format_says_to_upgrade(parts, tmp_path, dump):
    header, arrays = parts
    newer = write_raw(tmp_path / "newer.npz", {**header, "format_version": 2}, arrays)
    assert_refused(predict_with(newer, dump), newer, "newer newsseg", "upgrade newsseg")
    for version in (0, "1", None, True):
        odd = write_raw(tmp_path / "odd.npz", {**header, "format_version": version}, arrays)
        assert_refused(predict_with(odd, dump), odd, "corrupt model file (format version")


# --------------------------------------------------------------------------- the format


def test_a_structure_flag_the_file_lacks_reads_false(tiny_corpus, tmp_path, dump):
    """A file written before a structure cue existed did not use it."""
    from newsseg import dataset
    from newsseg.conversion import as_model_arrays
    from newsseg.model import ParagraphLabeler

    from .conftest import TINY_PARAMS

    frame = dataset.read_corpus([tiny_corpus])
    params = {**TINY_PARAMS, "boost_iterations": 10, "use_series": False}
    fitted = ParagraphLabeler(**params).fit(frame[["doc_id", "text"]], frame["label"])
    arrays = as_model_arrays(fitted)
    header = json.loads(json.dumps(arrays.header))
    del header["settings"]["use_series"]
    path = write_raw(tmp_path / "older.npz", header, dict(arrays.arrays))
    loaded, _ = model_file.load(path)
    X = frame[["doc_id", "text"]]
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_a_model_file_is_an_npz_numpy_reads_without_pickles(tiny_model_path):
    with np.load(tiny_model_path, allow_pickle=False) as npz:
        assert "booster.value" in npz.files
        assert npz["booster.value"].dtype == np.float64
        header = json.loads(npz.zip.read(model_arrays.HEADER_MEMBER))
    assert header["format"] == "newsseg-model" and header["format_version"] == 1
    assert header["labels"] == sorted(["headline", "body", "legal", "teaser"])


def test_writing_refuses_arrays_a_reader_would_refuse(parts):
    header, arrays = parts
    crafted = model_arrays.ModelArrays({**header, "temperature": 0}, arrays)
    with pytest.raises(ValueError, match="temperature"):
        model_arrays.write(io.BytesIO(), crafted)


def test_metadata_is_read_without_the_arrays(tiny_model_path, tmp_path):
    metadata = model_file.read_metadata(tiny_model_path)
    assert metadata["labels"] == ["headline", "body", "legal", "teaser"]
    with pytest.raises(ModelError, match="no such model file"):
        model_file.read_metadata(tmp_path / "none.npz")
