"""The output formats of predict (newsseg.predict.outputs)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from newsseg import dataset
from newsseg.predict import outputs


def _columns(frame: pd.DataFrame, proba_labels: Sequence[str]) -> dict[str, list]:
    names = ["doc_id", "line", "text", "label", "review", *(f"proba_{p}" for p in proba_labels)]
    return {name: frame[name].tolist() for name in names if name in frame.columns}


def format_predictions(frame: pd.DataFrame, output_format: str, proba_labels: Sequence[str]) -> str:
    """Predictions of one or more documents as the text predict writes to a stream."""
    columns = _columns(frame, proba_labels)
    lines = outputs.prediction_lines(columns, output_format, proba_labels)
    if output_format == "tsv":
        return "\n".join(text for _, text in outputs.join_documents(columns["doc_id"], lines))
    header = outputs.prediction_header(output_format, proba_labels, "review" in columns)
    return header + "".join(lines)


def format_documents(
    frame: pd.DataFrame, output_format: str, proba_labels: Sequence[str]
) -> list[tuple[str, str]]:
    """``(doc_id, text)`` of each document, in order of first appearance: its output file."""
    columns = _columns(frame, proba_labels)
    lines = outputs.prediction_lines(columns, output_format, proba_labels)
    header = outputs.prediction_header(output_format, proba_labels, "review" in columns)
    return [(doc, header + text) for doc, text in outputs.join_documents(columns["doc_id"], lines)]


def test_predictions_formats_round_trip_as_labeled_dump(tmp_path):
    frame = pd.DataFrame(
        {
            "doc_id": ["d", "d"],
            "line": [1, 3],
            "text": ["Title", "Body"],
            "label": ["headline", "body"],
            "proba_body": [0.1, 0.9],
        }
    )
    tsv = format_predictions(frame, "tsv", [])
    assert tsv == "headline\tTitle\nbody\tBody\n"
    (tmp_path / "d.tsv").write_text(tsv, encoding="utf-8")
    assert dataset.read_labeled_dump(tmp_path / "d.tsv")["label"].tolist() == ["headline", "body"]
    record = json.loads(format_predictions(frame, "jsonl", ["body"]).splitlines()[1])
    assert record == {
        "doc_id": "d",
        "line": 3,
        "text": "Body",
        "label": "body",
        "proba": {"body": 0.9},
    }
    csv = format_predictions(frame, "csv", ["body"])
    assert csv.splitlines()[0] == "doc_id,line,text,label,proba_body"


def test_csv_output_is_the_one_pandas_writes(tmp_path):
    texts = ['He said, "yes"', "tab\there", "line\nbreak", "plain", "", "comma,"]
    frame = pd.DataFrame(
        {
            "doc_id": ["a", "a", "b", "b", "a", "c"],
            "line": [1, 2, 1, 2, 3, 1],
            "text": texts,
            "label": ["headline", "body", "body", "legal", "teaser", "body"],
            "proba_body": [0.1, 0.123456789, 1.0, 1e-9, 0.5, 2 / 3],
        }
    )
    expected = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    assert format_predictions(frame, "csv", ["body"]) == expected
    documents = format_documents(frame, "tsv", [])
    assert [doc_id for doc_id, _ in documents] == ["a", "b", "c"]  # rows of "a" gathered
    assert documents[0][1] == 'headline\tHe said, "yes"\nbody\ttab\there\nteaser\t\n'


def test_worker_processes_read_relative_paths_from_the_runs_folder(
    tiny_model_path, tmp_path, monkeypatch
):
    """loky keeps its workers for the next run: one started in another folder still reads
    the relative paths of this run from this run's folder."""
    from newsseg import api

    for name, pages in (("first", ("a", "b")), ("second", ("c", "d"))):
        folder = tmp_path / name
        (folder / "dumps").mkdir(parents=True)
        for page in pages:
            (folder / "dumps" / f"{page}.txt").write_text(
                "Headline of the page\n\nA body paragraph that runs on for a while.\n",
                encoding="utf-8",
            )
        monkeypatch.chdir(folder)
        inputs = [f"dumps/{page}.txt" for page in pages]
        run = api.predict(inputs, model=tiny_model_path, output_dir="out", jobs=2)
        assert run.labeled == 2 and not run.failed, run.failed
        assert (folder / "out" / f"{pages[0]}.tsv").is_file()
