"""Readers (dumps, labeled dumps, tables, stdin), site grouping and atomic writing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from newsseg import dataset
from newsseg.errors import InputError, OutputError


def test_dump_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "page.txt"
    path.write_text("Headline\n\nFirst paragraph.\n   \nSecond paragraph.\n", encoding="utf-8")
    frame = dataset.read_dump(path)
    assert frame["text"].tolist() == ["Headline", "First paragraph.", "Second paragraph."]
    assert frame["line"].tolist() == [1, 3, 5]
    assert set(frame["doc_id"]) == {"page"}
    assert frame["label"].isna().all()


def test_dump_tolerates_bom_and_crlf(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffHeadline\r\n\r\nBody text.\r\n".encode())
    assert dataset.read_dump(path)["text"].tolist() == ["Headline", "Body text."]


def test_undecodable_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"Headline\nCaf\xe9 society\n")
    with pytest.raises(InputError, match=r"latin\.txt:2: cannot decode byte 0xe9.*encoding="):
        dataset.read_dump(path)
    assert dataset.read_dump(path, encoding="latin-1")["text"].tolist()[1] == "Café society"


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(InputError, match="binary data"):
        dataset.read_dump(path)


def test_labeled_dump_reads_labels(tmp_path):
    path = tmp_path / "site__1.tsv"
    path.write_text("headline\tA title\nbody\tSome text\twith a tab\n\n", encoding="utf-8")
    frame = dataset.read_labeled_dump(path)
    assert frame["label"].tolist() == ["headline", "body"]
    assert frame["text"].tolist() == ["A title", "Some text\twith a tab"]


def test_labeled_line_without_tab_names_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("headline\tA title\nbody text without a tab\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.tsv:2: no tab"):
        dataset.read_labeled_dump(path)


def test_unknown_label_names_line_and_the_way_out(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("headline\tA title\nadvert\tBuy now\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.tsv:2: label 'advert'.*labels="):
        dataset.read_labeled_dump(path)
    frame = dataset.read_labeled_dump(path, labels=("headline", "advert"))
    assert frame["label"].tolist() == ["headline", "advert"]


def test_csv_table_with_doc_ids_and_sites(tmp_path):
    path = tmp_path / "table.csv"
    pd.DataFrame(
        {
            "doc_id": ["a__1", "a__1", "b__2"],
            "text": ["Title A", "Body A", "Title B"],
            "label": ["headline", "body", "headline"],
        }
    ).to_csv(path, index=False)
    frame = dataset.read_table(path)
    assert frame["doc_id"].tolist() == ["a__1", "a__1", "b__2"]
    assert frame["site"].tolist() == ["a", "a", "b"]
    assert frame["line"].tolist() == [2, 3, 4]


def test_jsonl_table_without_labels_for_prediction(tmp_path):
    path = tmp_path / "table.jsonl"
    rows = [{"doc_id": "d1", "text": "Title"}, {"doc_id": "d1", "text": "Body"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    frame = dataset.read_table(path, require_labels=False)
    assert frame["text"].tolist() == ["Title", "Body"]
    with pytest.raises(InputError, match=r"missing column.*label"):
        dataset.read_table(path, require_labels=True)


def test_jsonl_bad_line_is_named(tmp_path):
    path = tmp_path / "table.jsonl"
    path.write_text('{"doc_id": "d", "text": "ok"}\n{not json\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"table\.jsonl:2: not a JSON object"):
        dataset.read_table(path, require_labels=False)


def test_table_without_needed_columns(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("id,words\n1,hello\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"missing column.*doc_id, text"):
        dataset.read_table(path, require_labels=False)


def test_parquet_table(tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    path = tmp_path / "table.parquet"
    pd.DataFrame(
        {"doc_id": ["x", "x"], "text": ["T", "B"], "label": ["headline", "body"]}
    ).to_parquet(path)
    assert dataset.read_table(path)["label"].tolist() == ["headline", "body"]


def test_folders_are_searched_recursively_and_sites_come_from_manifest(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one__1.tsv").write_text("headline\tT\nbody\tB\n", encoding="utf-8")
    (tmp_path / "two.tsv").write_text("headline\tT2\n", encoding="utf-8")
    (tmp_path / "manifest.csv").write_text("doc_id,site\none__1,example.org\n", encoding="utf-8")
    frame = dataset.read_documents([tmp_path], labeled=True)
    assert dict(zip(frame["doc_id"], frame["site"], strict=True)) == {
        "one__1": "example.org",
        "two": "two",
    }


def test_missing_path_and_empty_input(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        dataset.read_documents([tmp_path / "nope.txt"], labeled=False)
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no paragraphs"):
        dataset.read_documents([tmp_path / "empty.txt"], labeled=False)


def test_stdin_is_read_as_a_dump(monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Title\n\nBody\n")))
    frame = dataset.read_documents(["-"], labeled=False)
    assert frame["text"].tolist() == ["Title", "Body"]
    assert set(frame["source"]) == {"-"}


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), dataset.atomic_output(target) as stream:
        stream.write("half")
        raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_output_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(OutputError, match="force=True"):
        dataset.write_text(target, "new", force=False)
    dataset.write_text(target, "new", force=True)
    assert target.read_text(encoding="utf-8") == "new"


def test_collections_come_from_the_manifest_source_column(tmp_path):
    (tmp_path / "wcxb").mkdir()
    (tmp_path / "manifest.csv").write_text(
        "doc_id,source,site\nnews.example__1,wcxb,news.example\n", encoding="utf-8"
    )
    (tmp_path / "wcxb" / "news.example__1.tsv").write_text("headline\tT\n", encoding="utf-8")
    (tmp_path / "other__2.tsv").write_text("headline\tU\nbody\tV\n", encoding="utf-8")
    frame = dataset.with_manifest_columns(dataset.read_documents([tmp_path], labeled=True))
    assert dict(zip(frame["doc_id"], frame["collection"], strict=True)) == {
        "news.example__1": "wcxb",
        "other__2": "",
    }
    assert frame["source"].str.endswith(".tsv").all()  # still the file each row came from


def _tiered_corpus(root: Path) -> Path:
    """Three documents of a manifest: one reviewed, two rules-tier from two sources."""
    rows = [("a.example__1", "wcxb", "reviewed"), ("b.example__1", "fundus", "rules")]
    rows.append(("c.example__1", "wcxb_articles", "rules"))
    lines = ["doc_id,source,site,labels"]
    for doc_id, source, tier in rows:
        (root / source).mkdir(parents=True, exist_ok=True)
        (root / source / f"{doc_id}.tsv").write_text("headline\tT\nbody\tB\n", encoding="utf-8")
        lines.append(f"{doc_id},{source},{doc_id.split('__')[0]},{tier}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def documents_of(frame: pd.DataFrame) -> set[str]:
    return set(frame["doc_id"])


def test_a_selection_keeps_tiers_and_drops_sources(tmp_path):
    root = _tiered_corpus(tmp_path)
    every = dataset.read_corpus([root])
    assert dict(zip(every["doc_id"], every["tier"], strict=False))["a.example__1"] == "reviewed"
    reviewed = dataset.read_corpus([root], selection=dataset.Selection.parse(["labels=reviewed"]))
    assert documents_of(reviewed) == {"a.example__1"}
    without = dataset.Selection.parse(exclude=["source=wcxb_articles"])
    assert documents_of(dataset.read_corpus([root], selection=without)) == {
        "a.example__1",
        "b.example__1",
    }
    both = dataset.Selection.parse(["labels=rules", "source=fundus,wcxb"])
    assert documents_of(dataset.read_corpus([root], selection=both)) == {"b.example__1"}
    assert both.describe() == {
        "only": {"labels": ["rules"], "source": ["fundus", "wcxb"]},
        "exclude": {},
    }


@pytest.mark.parametrize(
    ("only", "message"),
    [
        (["labels"], "is not COLUMN=VALUE"),
        (["labels="], "is not COLUMN=VALUE"),
        (["colour=red"], "is not one of the manifest columns"),
    ],
)
def test_a_malformed_selection_names_its_parameter(only, message):
    with pytest.raises(ValueError, match=f"^only: .*{message}"):
        dataset.Selection.parse(only)


def test_a_selection_that_leaves_nothing_or_needs_a_manifest_is_an_input_error(tmp_path):
    root = _tiered_corpus(tmp_path / "corpus")
    with pytest.raises(InputError, match="the selection leaves no documents"):
        dataset.read_corpus([root], selection=dataset.Selection.parse(["labels=gold"]))
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "x__1.tsv").write_text("headline\tT\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no manifest\.csv beside the inputs gives 'labels'"):
        dataset.read_corpus(
            [tmp_path / "loose"], selection=dataset.Selection.parse(["labels=reviewed"])
        )
    site = dataset.Selection.parse(exclude=["site=x"])  # the site needs no manifest
    with pytest.raises(InputError, match="leaves no documents"):
        dataset.read_corpus([tmp_path / "loose"], selection=site)


# --------------------------------------------------------------------------- streaming


def test_streamed_lines_match_the_whole_text_across_block_edges(tmp_path, monkeypatch):
    text = "\ufeffTitre\r\n\r\nCafé crème — naïve\u2028same line\nlast line without end"
    path = tmp_path / "page.txt"
    path.write_bytes(text.encode("utf-8"))
    whole = list(dataset._lines(dataset.read_text(path)))
    monkeypatch.setattr(dataset, "READ_BLOCK_BYTES", 3)  # blocks end inside characters
    assert list(dataset.iter_lines(path)) == whole
    utf16 = tmp_path / "wide.txt"
    utf16.write_bytes(text.encode("utf-16"))
    assert list(dataset.iter_lines(utf16, "utf-16")) == whole


def test_streamed_lines_locate_bad_bytes_in_later_blocks(tmp_path, monkeypatch):
    path = tmp_path / "table.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 5 + b'{"a": "caf\xe9"}\n')
    monkeypatch.setattr(dataset, "READ_BLOCK_BYTES", 4)
    with pytest.raises(InputError, match=r"table\.jsonl:6: cannot decode byte 0xe9"):
        list(dataset.iter_lines(path))
    path.write_bytes(b"\x00binary")
    with pytest.raises(InputError, match=r"table\.jsonl:1: binary data"):
        list(dataset.iter_lines(path))


def big_table_rows(documents: int = 40) -> list[dict]:
    return [
        {"doc_id": f"doc{d}", "text": f"Paragraph {p} of document {d}, with a comma"}
        for d in range(documents)
        for p in range(d % 7 + 1)
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_a_big_table_is_read_in_chunks_of_whole_documents(tmp_path, suffix):
    rows = big_table_rows()
    path = tmp_path / f"table{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
        pd.DataFrame(rows).to_parquet(path)
    chunks = list(dataset.iter_table(path, require_labels=False, chunk_rows=10))
    assert len(chunks) >= 10  # memory is bounded by a chunk, not by the table
    doc_sets = [set(chunk["doc_id"]) for chunk in chunks]
    assert all(a.isdisjoint(b) for a, b in itertools.pairwise(doc_sets))
    whole = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(whole, dataset.read_table(path, require_labels=False))
    assert whole["text"].tolist() == [row["text"] for row in rows]
    first_line = 2 if suffix == ".csv" else 1
    assert whole["line"].tolist() == list(range(first_line, first_line + len(rows)))


def test_table_errors_in_a_later_chunk_name_their_line(tmp_path):
    rows = [json.dumps(row) for row in big_table_rows()]
    rows.insert(50, "")  # a blank line counts in line numbers
    rows[80] = json.dumps({"doc_id": "x", "text": "t", "label": "advert"})
    path = tmp_path / "table.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    chunks = dataset.iter_table(path, require_labels=False, chunk_rows=10)
    with pytest.raises(InputError, match=r"table\.jsonl:81: label 'advert'"):
        list(chunks)


def test_weights_by_tier_and_label_multiply(tmp_path):
    root = _tiered_corpus(tmp_path)
    frame = dataset.read_corpus([root])
    weighting = dataset.Weighting.parse(["labels=rules:body=0.5", "source=fundus=0.2"])
    keys = zip(frame["doc_id"], frame["label"], strict=True)
    weights = dict(zip(keys, weighting.weights(frame), strict=True))
    assert weights[("a.example__1", "body")] == 1.0  # reviewed
    assert weights[("c.example__1", "body")] == 0.5
    assert weights[("c.example__1", "headline")] == 1.0  # only body lines are weighed
    assert weights[("b.example__1", "body")] == pytest.approx(0.1)
    assert weights[("b.example__1", "headline")] == pytest.approx(0.2)
    assert dataset.NO_WEIGHTING.weights(frame) is None
    assert weighting.describe()[0] == {
        "column": "labels",
        "values": ["rules"],
        "label": "body",
        "weight": 0.5,
    }


@pytest.mark.parametrize("term", ["labels=rules", "labels=rules=-1", "labels=rules=x", "x=1=2"])
def test_a_malformed_weight_names_its_parameter(term):
    with pytest.raises(ValueError, match=r"^weight: "):
        dataset.Weighting.parse([term])
