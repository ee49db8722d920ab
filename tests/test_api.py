"""predict at scale (issue #5): large tables in chunks of whole documents, --jobs workers,
the same output whatever the batching."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest

from newsseg import api, dataset
from newsseg.errors import InputError, ModelError, OutputError
from newsseg.predict import executors, tasks
from tests.conftest import labeled_lines

FORMATS = [("tsv", False), ("jsonl", True), ("csv", True)]


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    return api.load_model(tiny_model_path)


@pytest.fixture()
def big_table(tmp_path) -> Path:
    """A JSONL table of 60 documents (540 rows) in page order."""
    rows = [
        {"doc_id": f"site{doc % 6}__{doc}", "text": text}
        for doc in range(60)
        for _, text in labeled_lines(doc % 6, doc % 2)
    ]
    path = tmp_path / "table.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture()
def dump_folder(tmp_path) -> Path:
    """Twenty dumps and one bad input among them."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    for doc in range(20):
        text = "".join(f"{line}\n" for _, line in labeled_lines(doc % 6, doc % 2))
        (folder / f"page{doc:02d}.txt").write_text(text, encoding="utf-8")
    (folder / "page05b.txt").write_bytes(b"Title\nCaf\xe9\n")
    return folder


def predicted_text(paths, model, **options) -> api.PredictionRun:
    stream = io.StringIO()
    run = api.predict(paths, model, stream=stream, **options)
    run.text = stream.getvalue()
    return run


def small_batches(monkeypatch, rows: int = 50) -> list[int]:
    """Stream tables of any size in chunks of ``rows`` rows, one chunk a batch; the sizes
    of the model calls are recorded in the list returned."""
    monkeypatch.setattr(tasks, "STREAM_TABLE_BYTES", 0)
    monkeypatch.setattr(dataset, "TABLE_CHUNK_ROWS", rows)
    monkeypatch.setattr(executors, "PREDICT_BATCH_BYTES", 1)
    calls: list[int] = []
    label_frame = tasks.label_frame

    def recording(frame, *args, **kwargs):
        calls.append(len(frame))
        return label_frame(frame, *args, **kwargs)

    monkeypatch.setattr(tasks, "label_frame", recording)
    return calls


@pytest.mark.parametrize(("output_format", "proba"), FORMATS)
def test_a_large_table_is_labeled_in_chunks_with_the_same_output(
    big_table, tiny_model, monkeypatch, output_format, proba
):
    whole = predicted_text([big_table], tiny_model, output_format=output_format, proba=proba)
    calls = small_batches(monkeypatch)
    chunked = predicted_text([big_table], tiny_model, output_format=output_format, proba=proba)
    assert len(calls) >= 10 and max(calls) <= 50 + 9  # a chunk and at most one document more
    assert chunked.text == whole.text
    assert not chunked.failed


def test_a_large_table_to_a_folder_in_chunks(big_table, tiny_model, tmp_path, monkeypatch):
    whole = api.predict([big_table], tiny_model, output_dir=tmp_path / "whole")
    calls = small_batches(monkeypatch)
    chunked = api.predict([big_table], tiny_model, output_dir=tmp_path / "chunked")
    assert len(calls) >= 10
    assert [path.name for path in chunked.written] == [path.name for path in whole.written]
    for one, other in zip(whole.written, chunked.written, strict=True):
        assert one.read_text(encoding="utf-8") == other.read_text(encoding="utf-8")


def test_a_bad_line_late_in_a_large_table(big_table, tiny_model, monkeypatch):
    lines = big_table.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[400] = "{not json\n"
    big_table.write_text("".join(lines), encoding="utf-8")
    small_batches(monkeypatch)
    run = predicted_text([big_table], tiny_model)
    assert [str(error) for error in run.failed] == [
        f"{big_table}:401: not a JSON object (Expecting property name enclosed in double quotes)"
    ]
    assert run.text  # the documents before it are labeled
    with pytest.raises(InputError, match=r"table\.jsonl:401"):
        api.predict([big_table], tiny_model, stream=io.StringIO(), fail_fast=True)


def test_documents_apart_in_a_large_table_are_not_overwritten(tmp_path, tiny_model, monkeypatch):
    table = tmp_path / "table.jsonl"
    rows = [{"doc_id": doc, "text": f"Paragraph {n}"} for n, doc in enumerate("aabbcca")]
    table.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    small_batches(monkeypatch, rows=2)
    run = api.predict([table], tiny_model, output_dir=tmp_path / "out")
    assert [type(error) for error in run.failed] == [OutputError]
    assert "apart in the table" in str(run.failed[0])


@pytest.mark.parametrize(("output_format", "proba"), FORMATS)
def test_two_jobs_give_the_same_output_as_one(
    dump_folder, big_table, tiny_model, monkeypatch, output_format, proba
):
    monkeypatch.setattr(executors, "PARALLEL_BATCH_BYTES", 2000)  # several batches a worker
    options = {"output_format": output_format, "proba": proba}
    one = predicted_text([dump_folder, big_table], tiny_model, **options)
    two = predicted_text([dump_folder, big_table], tiny_model, jobs=2, **options)
    assert two.text == one.text
    assert [str(error) for error in two.failed] == [str(error) for error in one.failed]
    assert "page05b.txt:2: cannot decode byte 0xe9" in str(two.failed[0])


def test_two_jobs_write_the_same_files(dump_folder, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "PARALLEL_BATCH_BYTES", 2000)
    one = api.predict([dump_folder], tiny_model, output_dir=tmp_path / "one")
    two = api.predict([dump_folder], tiny_model, output_dir=tmp_path / "two", jobs=2)
    assert [path.name for path in two.written] == [path.name for path in one.written]
    for a, b in zip(one.written, two.written, strict=True):
        assert a.read_bytes() == b.read_bytes()
    with pytest.raises(InputError, match=r"page05b\.txt:2"):
        api.predict([dump_folder], tiny_model, output_dir=tmp_path / "ff", jobs=2, fail_fast=True)
    assert sorted(path.name for path in (tmp_path / "ff").iterdir()) == [
        f"page{n:02d}.tsv" for n in range(6)
    ]


def test_a_worker_loads_the_model_once(tiny_model, tmp_path):
    shipped = executors.SharedModelFile(str(tmp_path / "model.joblib"))
    import joblib

    joblib.dump(tiny_model, shipped.path)
    first = executors.worker_model(shipped)
    assert executors.worker_model(shipped) is first  # the next batch reuses it
    assert (
        executors.worker_model(executors.SharedModelFile(shipped.path)) is not first
    )  # another run's


def test_errors_cross_process_boundaries_whole():
    for error in (
        InputError("a.txt", "bad", 3),
        InputError("a.txt", "bad"),
        OutputError("o", "exists"),
        ModelError("m", "corrupt"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert vars(copy) == vars(error)


def test_jobs_must_be_positive(tiny_model, big_table):
    with pytest.raises(Exception, match="jobs="):
        api.predict([big_table], tiny_model, jobs=0)
