"""End to end: the shipped default model on the demo dump, and train -> evaluate on the real
corpus in ../shared/corpus with sites held out (slow; skipped only when the corpus is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from newsseg import dataset
from newsseg.cli import app
from newsseg.model import default_model_path, read_metadata

ROOT = Path(__file__).parents[1]
runner = CliRunner()


def test_default_model_is_installed_and_labels_the_demo_dump():
    assert default_model_path().is_file()
    result = runner.invoke(app, ["predict", str(ROOT / "data" / "demo-dump.txt")])
    assert result.exit_code == 0, result.output
    expected = dataset.read_labeled_dump(ROOT / "data" / "demo-labeled.tsv")
    got = [line.split("\t", 1) for line in result.stdout.splitlines()]
    assert [text for _, text in got] == expected["text"].tolist()
    assert [label for label, _ in got] == expected["label"].tolist()


def test_default_model_metadata_records_its_training():
    metadata = read_metadata(default_model_path())
    assert metadata["labels"] == ["headline", "body", "legal", "teaser"]
    assert metadata["cv"]["folds"] == 5
    assert metadata["training_data"]["documents"] >= 100


@pytest.mark.slow
def test_train_then_evaluate_on_held_out_sites(shared_corpus, tmp_path):
    manifest = pd.read_csv(shared_corpus / "manifest.csv")
    sites = sorted(manifest["site"].unique())
    held_out = set(sites[::5])  # every fifth site, never seen in training
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    for folder in (train_dir, test_dir):
        folder.mkdir()
    for row in manifest.itertuples():
        source = shared_corpus / row.source / f"{row.doc_id}.tsv"
        target = (test_dir if row.site in held_out else train_dir) / f"{row.doc_id}.tsv"
        target.write_bytes(source.read_bytes())
    model_path = tmp_path / "model.skops"
    result = runner.invoke(app, ["train", str(train_dir), "-o", str(model_path)])
    assert result.exit_code == 0, result.output
    report = tmp_path / "scores.json"
    result = runner.invoke(
        app, ["evaluate", str(test_dir), "-m", str(model_path), "--json", str(report)]
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(report.read_text(encoding="utf-8"))
    assert scores["documents"] == int(manifest["site"].isin(held_out).sum())
    assert scores["labels"]["headline"]["f1"] >= 0.95
    assert scores["macro_f1"] >= 0.75
    assert scores["body_f1"] >= 0.93
