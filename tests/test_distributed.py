"""Dask (issue #5): predict on a local cluster, and dask.dataframe / dask.bag of dumps,
labeled exactly as in one process. A real two-process cluster, started once."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from newsseg import api, dask_collections
from newsseg.cli import app
from newsseg.predict.dask_executor import DaskExecutor
from tests.conftest import labeled_lines

dask = pytest.importorskip("dask", reason="the Dask tests need pip install 'newsseg[dask]'")
dd = pytest.importorskip("dask.dataframe")
db = pytest.importorskip("dask.bag")
dask_distributed = pytest.importorskip("distributed")

# Dask's own warnings about clusters and sockets are not newsseg's errors.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")


@pytest.fixture(scope="module")
def client():
    with (
        dask_distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        dask_distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    return api.load_model(tiny_model_path)


@pytest.fixture(scope="module")
def paragraphs() -> pd.DataFrame:
    """Thirty documents, in page order."""
    return pd.DataFrame(
        [
            {"doc_id": f"doc{doc}", "text": text}
            for doc in range(30)
            for _, text in labeled_lines(doc % 6, doc % 2)
        ]
    )


def test_label_dask_dataframe_without_a_cluster(tiny_model, paragraphs):
    # First in the module: no distributed client is running yet.
    lazy = dask_collections.label_dask_dataframe(
        dd.from_pandas(paragraphs, npartitions=3), tiny_model, proba=False
    )
    with dask.config.set(scheduler="synchronous"):
        got = lazy.compute()
    assert got["label"].tolist() == api.label_frame(paragraphs, tiny_model)["label"].tolist()
    assert json.loads(json.dumps(sorted(got.columns))) == ["doc_id", "label", "text"]


def test_dask_collections_load_a_pickle_model_only_when_trusted(tiny_model, tmp_path, paragraphs):
    import joblib

    from newsseg.errors import ModelError

    pickled = tmp_path / "model.joblib"
    joblib.dump(tiny_model, pickled)
    frame = dd.from_pandas(paragraphs, npartitions=2)
    bag = db.from_sequence([paragraphs["text"].tolist()[:9]], npartitions=1)
    with pytest.raises(ModelError, match="trust_pickle=True"):
        dask_collections.label_dask_dataframe(frame, pickled)
    with pytest.raises(ModelError, match="trust_pickle=True"):
        dask_collections.label_dask_bag(bag, pickled)
    with dask.config.set(scheduler="synchronous"):
        got = dask_collections.label_dask_dataframe(frame, pickled, trust_pickle=True).compute()
        pairs = dask_collections.label_dask_bag(bag, pickled, trust_pickle=True).compute()
    assert got["label"].tolist() == api.label_frame(paragraphs, tiny_model)["label"].tolist()
    assert [label for label, _ in pairs[0]] == got["label"].tolist()[:9]


def test_predict_on_a_cluster_is_predict_in_one_process(client, tiny_model, tmp_path, paragraphs):
    folder = tmp_path / "in"
    folder.mkdir()
    for doc_id, doc in paragraphs.groupby("doc_id"):
        (folder / f"{doc_id}.txt").write_text("\n".join(doc["text"]) + "\n", encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"\x00")
    table = tmp_path / "table.jsonl"
    paragraphs.to_json(table, orient="records", lines=True)
    expected = io.StringIO()
    one = api.predict([folder, table], tiny_model, stream=expected, output_format="jsonl")
    for reads_files in (True, False):  # a remote cluster gets paragraphs, not paths
        executor = DaskExecutor(client, reads_files=reads_files, window=3)
        got = io.StringIO()
        run = api.predict(
            [folder, table], tiny_model, stream=got, output_format="jsonl", executor=executor
        )
        assert got.getvalue() == expected.getvalue()
        assert [str(error) for error in run.failed] == [str(error) for error in one.failed]


def test_the_cli_flag_starts_a_local_cluster(tiny_model_path, tmp_path, paragraphs):
    table = tmp_path / "table.jsonl"
    paragraphs.to_json(table, orient="records", lines=True)
    args = ["predict", str(table), "-m", str(tiny_model_path), "--format", "jsonl"]
    runner = CliRunner()
    alone = runner.invoke(app, args)
    on_dask = runner.invoke(app, [*args, "--dask-scheduler", "local", "--jobs", "2"])
    assert on_dask.exit_code == 0, on_dask.output
    assert on_dask.stdout == alone.stdout
    assert len(on_dask.stdout.splitlines()) == len(paragraphs)


def test_an_unreachable_scheduler_is_one_line(tiny_model_path, tmp_path):
    dump = tmp_path / "page.txt"
    dump.write_text("Title\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["predict", str(dump), "-m", str(tiny_model_path), "--dask-scheduler", "tcp://127.0.0.1:9"],
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("newsseg: error: cannot reach the Dask scheduler")


def test_label_dask_dataframe_keeps_documents_whole(client, tiny_model, paragraphs):
    expected = api.label_frame(paragraphs, tiny_model)
    # 7 partitions of uneven size: most documents are cut by a partition boundary.
    lazy = dask_collections.label_dask_dataframe(
        dd.from_pandas(paragraphs, npartitions=7), tiny_model
    )
    got = lazy.compute().reset_index(drop=True)
    assert got["label"].tolist() == expected["label"].tolist()
    assert got["text"].tolist() == expected["text"].tolist()
    proba = [column for column in expected.columns if column.startswith("proba_")]
    pd.testing.assert_frame_equal(got[proba], expected[proba])


def test_label_dask_bag_of_paragraph_lists_and_dump_texts(client, tiny_model, paragraphs):
    documents = [doc["text"].tolist() for _, doc in paragraphs.groupby("doc_id", sort=False)]
    items = [texts if n % 2 else "\n\n".join(texts) for n, texts in enumerate(documents)]
    got = dask_collections.label_dask_bag(
        db.from_sequence(items, npartitions=4), tiny_model
    ).compute()
    expected = api.label_frame(paragraphs, tiny_model)["label"].tolist()
    assert [label for document in got for label, _ in document] == expected
    assert [text for document in got for _, text in document] == paragraphs["text"].tolist()
