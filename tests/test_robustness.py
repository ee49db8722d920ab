"""Issue #6 through the command line: bad input never crashes, loses or half-writes anything,
and model files run no code.

Every known error must end the command with exit status 1 and exactly one stderr line
``newsseg: error: FILE[:LINE]: reason``, with no traceback and no partial output left behind.
"""

from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path

import joblib
import pytest
import skops.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from newsseg import api, cli, dataset
from newsseg.cli import app
from newsseg.errors import InputError
from newsseg.features import MAX_CHARS
from newsseg.model import load_model

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
    result = run("train", tmp_path / "nope.tsv", "-o", tmp_path / "m.skops")
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
    result = run("train", bad, "-o", tmp_path / "m.skops")
    assert_one_line_error(result, "bad.tsv:2: no tab")
    assert names(tmp_path) == ["bad.tsv"]


def test_line_numbers_are_an_editors_line_numbers(tmp_path):
    # str.splitlines() would also break at U+2028, form feed and a lone CR.
    bad = tmp_path / "bad.tsv"
    bad.write_text("headline\tOne\u2028line\x0cstill\rone\nno tab\n", encoding="utf-8")
    assert_one_line_error(run("train", bad, "-o", tmp_path / "m.skops"), "bad.tsv:2: no tab")


def test_label_outside_the_label_set(tmp_path, tiny_corpus, tiny_model_path):
    advert = tmp_path / "ads.tsv"
    advert.write_text(LABELED + "advert\tBuy two, get one free\n", encoding="utf-8")
    result = run("train", advert, "-o", tmp_path / "m.skops")
    assert_one_line_error(result, "ads.tsv:3: label 'advert'", "--labels")
    # evaluate and predict have no --labels: the model's labels are the label set.
    result = run("evaluate", advert, *model_args(tiny_model_path))
    assert_one_line_error(result, "ads.tsv:3: label 'advert'", "the model's labels")
    result = run("predict", advert, *model_args(tiny_model_path))
    assert_one_line_error(result, "ads.tsv:3: label 'advert'", "*.txt")
    # Declared, the new label is learnt, and the model's label set then includes it.
    model_path = tmp_path / "m.skops"
    labels = "headline,body,legal,teaser,advert"
    result = run("train", tiny_corpus, advert, "-o", model_path, "--labels", labels)
    assert result.exit_code == 0, result.output
    assert run("evaluate", advert, *model_args(model_path)).exit_code == 0
    assert run("predict", advert, *model_args(model_path)).exit_code == 0


def test_declared_label_set_must_not_be_empty(tiny_corpus, tmp_path):
    result = run("train", tiny_corpus, "-o", tmp_path / "m.skops", "--labels", " , ")
    assert_one_line_error(result, "--labels")


def test_training_data_with_a_single_label(tmp_path):
    one = tmp_path / "one.tsv"
    one.write_text("body\tFirst.\nbody\tSecond.\n", encoding="utf-8")
    result = run("train", one, "-o", tmp_path / "m.skops")
    assert_one_line_error(result, "one.tsv", "at least two different labels")


def test_empty_input(tmp_path, tiny_model_path):
    empty_dump, empty_tsv = tmp_path / "empty.txt", tmp_path / "empty.tsv"
    empty_dump.write_text("\n   \n\r\n", encoding="utf-8")
    empty_tsv.write_bytes(b"")
    result = run("predict", empty_dump, *model_args(tiny_model_path))
    assert_one_line_error(result, "empty.txt: no paragraphs")
    result = run("evaluate", empty_tsv, *model_args(tiny_model_path))
    assert_one_line_error(result, "empty.tsv: no paragraphs")
    result = run("train", empty_tsv, "-o", tmp_path / "m.skops")
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
    """``source``, a zip archive, with its newsseg metadata entry replaced by ``metadata``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != "newsseg-meta.json":
                new.writestr(item, old.read(item))
        new.writestr("newsseg-meta.json", metadata)


def tiny_metadata(tiny_model_path: Path) -> bytes:
    with zipfile.ZipFile(tiny_model_path) as archive:
        return archive.read("newsseg-meta.json")


def test_corrupt_model_files(dump, tmp_path, tiny_model_path):
    truncated = tmp_path / "cut.skops"
    truncated.write_bytes(tiny_model_path.read_bytes()[:4000])
    assert_one_line_error(run("predict", dump, *model_args(truncated)), "cut.skops")
    garbled = tmp_path / "garbled.skops"
    copy_with_metadata(tiny_model_path, garbled, b"[1, 2, 3]")
    assert_one_line_error(run("predict", dump, *model_args(garbled)), "corrupt model file")
    with zipfile.ZipFile(tiny_model_path) as old, zipfile.ZipFile(garbled, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            new.writestr(item, b"{" if item.filename == "schema.json" else data)
    assert_one_line_error(run("predict", dump, *model_args(garbled)), "corrupt model file")


def test_files_that_are_not_models(dump, tmp_path, tiny_model_path):
    assert_one_line_error(run("predict", dump, *model_args(dump)), "page.txt: not a newsseg model")
    assert_one_line_error(run("predict", dump, *model_args(tmp_path)), "no such model file")
    other = tmp_path / "other.skops"
    sio.dump(LogisticRegression(), other)
    assert_one_line_error(run("predict", dump, *model_args(other)), "no newsseg metadata")
    disguised = tmp_path / "disguised.skops"
    copy_with_metadata(other, disguised, tiny_metadata(tiny_model_path))
    result = run("predict", dump, *model_args(disguised))
    assert_one_line_error(result, "disguised.skops", "holds no ParagraphLabeler")


def test_model_of_another_scikit_learn_version(dump, tmp_path, tiny_model_path):
    metadata = json.loads(tiny_metadata(tiny_model_path))
    metadata["versions"]["scikit-learn"] = "0.24.2"
    old = tmp_path / "old.skops"
    copy_with_metadata(tiny_model_path, old, json.dumps(metadata).encode())
    result = run("predict", dump, *model_args(old))
    assert_one_line_error(result, "old.skops", "scikit-learn 0.24.2", "newsseg train")


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


def test_a_skops_file_with_an_untrusted_type_is_refused(dump, tmp_path, tiny_model_path):
    labeler, _ = load_model(tiny_model_path)
    bundle = tmp_path / "bundle.skops"
    sio.dump({"model": labeler, "gadget": Gadget()}, tmp_path / "plain.skops")
    copy_with_metadata(tmp_path / "plain.skops", bundle, tiny_metadata(tiny_model_path))
    result = run("predict", dump, *model_args(bundle))
    assert_one_line_error(result, "bundle.skops", "does not trust", "Gadget")


# --------------------------------------------------------------------------- outputs


def test_output_under_a_regular_file(dump, tmp_path, tiny_corpus, tiny_model_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    result = run("train", tiny_corpus, "-o", blocker / "m.skops")
    assert_one_line_error(result, "blocker/m.skops", "is a file, not a folder")
    result = run("predict", dump, *model_args(tiny_model_path), "-o", blocker / "out")
    assert_one_line_error(result, "blocker/out", "is a file, not a folder")
    result = run("predict", dump, *model_args(tiny_model_path), "-o", blocker)
    assert_one_line_error(result, "blocker", "is a file, not a folder")
    result = run("evaluate", tiny_corpus, *model_args(tiny_model_path), "--json", blocker / "s")
    assert_one_line_error(result, "blocker/s", "is a file, not a folder")
    assert names(tmp_path) == ["blocker", "page.txt"]


def test_output_that_is_a_folder(tmp_path, tiny_corpus, tiny_model_path):
    folder = tmp_path / "m.skops"
    folder.mkdir()
    assert_one_line_error(run("train", tiny_corpus, "-o", folder, "--force"), "is a folder")
    result = run("evaluate", tiny_corpus, *model_args(tiny_model_path), "--json", folder)
    assert_one_line_error(result, "m.skops: is a folder")


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
    def dump_half(model, file, **kwargs):
        Path(file).write_bytes(b"PK\x03\x04 half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "models"
    out.mkdir()
    (out / "m.skops").write_text("old model", encoding="utf-8")
    (out / "m.meta.json").write_text("old metadata", encoding="utf-8")
    monkeypatch.setattr(sio, "dump", dump_half)
    result = run("train", tiny_corpus, "-o", out / "m.skops", "--force")
    assert_one_line_error(result, "m.skops: cannot write: No space left on device")
    assert names(out) == ["m.meta.json", "m.skops"]
    assert (out / "m.skops").read_text(encoding="utf-8") == "old model"
    assert (out / "m.meta.json").read_text(encoding="utf-8") == "old metadata"


def test_a_failed_train_leaves_no_model_file(tmp_path, tiny_corpus, full_disk):
    # The model itself is written, then its metadata copy fails: neither may remain.
    out = tmp_path / "models"
    result = run("train", tiny_corpus, "-o", out / "m.skops")
    assert_one_line_error(result, "cannot write: No space left on device")
    assert not out.exists() or names(out) == []


def test_an_unexpected_error_keeps_its_traceback(dump, tiny_model_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api, "label_frame", broken)
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
        model_path = tmp_path / name / "m.skops"
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
