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

from .test_cli import assert_errors_match_misclassifications

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


EXAMPLE = ROOT.parent / "shared" / "examples" / "ilkha-sample.txt"
EXAMPLE_LABELS = ["headline", *["body"] * 6, "legal", *["teaser"] * 4]


@pytest.mark.slow
def test_default_model_labels_the_example_dump_of_an_unseen_site():
    """A real dump no model ever trained on: long teaser leads and a long notice with no ©."""
    if not EXAMPLE.is_file():
        pytest.skip(f"example dump not found at {EXAMPLE}")
    result = runner.invoke(app, ["predict", str(EXAMPLE), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, *range(3, 14)]  # line 2 is blank
    assert [r["label"] for r in records] == EXAMPLE_LABELS


def test_default_model_metadata_records_its_training():
    metadata = read_metadata(default_model_path())
    assert metadata["labels"] == ["headline", "body", "legal", "teaser"]
    assert metadata["cv"]["folds"] == 5
    assert metadata["training_data"]["documents"] >= 100
    assert metadata["cv"]["pooled"]["macro_f1"] >= 0.88


@pytest.mark.slow
def reviewed_manifest(corpus: Path) -> pd.DataFrame:
    """The manifest rows of the corpus's reviewed tier (128 hand-checked pages): the slow
    tests train on it, since the whole corpus (1,225 pages) takes many minutes a model."""
    manifest = pd.read_csv(corpus / "manifest.csv")
    return manifest[manifest["labels"] == "reviewed"]


def test_train_then_evaluate_on_held_out_sites(shared_corpus, tmp_path):
    manifest = reviewed_manifest(shared_corpus)
    sites = sorted(manifest["site"].unique())
    held_out = set(sites[::5])  # every fifth site, never seen in training
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    for folder in (train_dir, test_dir):
        folder.mkdir()
    for row in manifest.itertuples():
        source = shared_corpus / row.source / f"{row.doc_id}.tsv"
        target = (test_dir if row.site in held_out else train_dir) / f"{row.doc_id}.tsv"
        target.write_bytes(source.read_bytes())
    (test_dir / "manifest.csv").write_bytes((shared_corpus / "manifest.csv").read_bytes())
    model_path = tmp_path / "model.skops"
    result = runner.invoke(app, ["train", str(train_dir), "-o", str(model_path)])
    assert result.exit_code == 0, result.output
    report = tmp_path / "scores.json"
    report_dir = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(test_dir),
            "-m",
            str(model_path),
            "--json",
            str(report),
            "--report",
            str(report_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(report.read_text(encoding="utf-8"))
    assert scores["documents"] == int(manifest["site"].isin(held_out).sum())
    assert scores["labels"]["headline"]["f1"] >= 0.95
    assert scores["macro_f1"] >= 0.75
    assert scores["body_f1"] >= 0.93
    errors = assert_errors_match_misclassifications(report_dir, scores)
    assert len(errors) > 0
    markdown = (report_dir / "report.md").read_text(encoding="utf-8")
    for source in set(manifest.loc[manifest["site"].isin(held_out), "source"]):
        assert f"| {source} |" in markdown  # the per-source breakdown, from the manifest
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 1 and "http" not in page.split("<body>")[0]


@pytest.mark.slow
def test_cv_and_learning_curve_on_real_sites(shared_corpus, tmp_path):
    manifest = reviewed_manifest(shared_corpus)
    sites = sorted(manifest["site"].unique())[::4]  # a quarter of the sites keeps this quick
    subset = manifest[manifest["site"].isin(sites)]
    files = [str(shared_corpus / row.source / f"{row.doc_id}.tsv") for row in subset.itertuples()]
    cv_json, report_dir = tmp_path / "cv.json", tmp_path / "cv"
    options = ["--folds", "3", "--curve-points", "2", "--json", str(cv_json)]
    result = runner.invoke(app, ["cv", *files, *options, "--report", str(report_dir)])
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation grouped by site" in result.stdout
    cv = json.loads(cv_json.read_text(encoding="utf-8"))
    assert cv["pooled"]["documents"] == len(subset)
    assert sum(fold["test_groups"] for fold in cv["fold_scores"]) == len(sites)
    assert set(cv["per_label"]) == {"headline", "body", "legal", "teaser"}
    first, last = cv["learning_curve"]
    assert first["documents"] < last["documents"]
    assert last["macro_f1"]["mean"] == pytest.approx(cv["per_fold"]["macro_f1"]["mean"])
    assert cv["per_fold"]["body_f1"]["mean"] >= 0.85
    assert (report_dir / "learning_curve.png").read_bytes().startswith(b"\x89PNG")


def test_inspect_lists_the_default_models_scores_and_features(tmp_path):
    result = runner.invoke(app, ["inspect", "--top", "5", "--json", str(tmp_path / "i.json")])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "i.json").read_text(encoding="utf-8"))
    assert info["labels"] == ["headline", "body", "legal", "teaser"]
    assert info["cv"]["folds"] == 5 and info["cv"]["per_fold"]["macro_f1"]["mean"] > 0.8
    assert info["training_data"]["documents"] >= 100
    assert all(len(features) == 5 for features in info["top_features"].values())
