"""Every command through typer's CliRunner: output, files written, one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from newsseg.cli import app

runner = CliRunner()

DUMP = "Council approves new bridge over the river\n\n" + "\n".join(
    [
        "The bridge has been the talk of the town this week, and engineers say the council "
        "will change how residents spend their days for years to come.",
        "According to the engineers, planning for the bridge began two years ago, when a small "
        "group met in the town hall to discuss the council and what it could mean.",
        "© 2024 Example News. All rights reserved.",
        "Library extends weekend opening hours",
    ]
)


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def assert_one_line_error(result, *fragments: str):
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert message.count("\n") == 0, message
    assert message.startswith("newsseg: error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in message


@pytest.fixture()
def dump(tmp_path):
    path = tmp_path / "page.txt"
    path.write_text(DUMP, encoding="utf-8")
    return path


def test_predict_prints_label_tab_text(dump, tiny_model_path):
    result = run("predict", str(dump), "-m", str(tiny_model_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert lines[0] == "headline\tCouncil approves new bridge over the river"
    assert all(line.split("\t")[0] in {"headline", "body", "legal", "teaser"} for line in lines)


def test_predict_reads_stdin(tiny_model_path):
    result = run("predict", "-", "-m", str(tiny_model_path), input=DUMP)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 5


def test_predict_jsonl_with_probabilities(dump, tiny_model_path):
    result = run("predict", str(dump), "-m", str(tiny_model_path), "--format", "jsonl", "--proba")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 3, 4, 5, 6]
    assert set(records[0]["proba"]) == {"headline", "body", "legal", "teaser"}
    assert sum(records[0]["proba"].values()) == pytest.approx(1.0, abs=1e-4)


def test_predict_output_dir_writes_labeled_dumps_named_by_stem(dump, tiny_model_path, tmp_path):
    out = tmp_path / "out"
    result = run("predict", str(dump), "-m", str(tiny_model_path), "-o", str(out))
    assert result.exit_code == 0, result.output
    written = out / "page.tsv"
    assert sorted(p.name for p in out.iterdir()) == ["page.tsv"]
    assert written.read_text(encoding="utf-8").splitlines()[0].startswith("headline\t")
    again = run("predict", str(dump), "-m", str(tiny_model_path), "-o", str(out))
    assert_one_line_error(again, "page.tsv", "--force")
    forced = run("predict", str(dump), "-m", str(tiny_model_path), "-o", str(out), "--force")
    assert forced.exit_code == 0


def test_train_with_cv_then_evaluate_with_json(tiny_corpus, tmp_path):
    model_path = tmp_path / "m.skops"
    result = run(
        "train",
        str(tiny_corpus),
        "-o",
        str(model_path),
        "--cv",
        "3",
        "--labels",
        "headline,body,legal,teaser",
    )
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation grouped by site" in result.stdout
    assert model_path.is_file()
    report = tmp_path / "scores.json"
    result = run("evaluate", str(tiny_corpus), "-m", str(model_path), "--json", str(report))
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.stdout and "true \\ pred" in result.stdout
    scores = json.loads(report.read_text(encoding="utf-8"))
    assert {
        "macro_f1",
        "accuracy",
        "documents",
        "paragraphs",
        "labels",
        "confusion",
        "body_f1",
    } <= set(scores)
    assert scores["documents"] == 12
    assert set(scores["labels"]["body"]) == {"precision", "recall", "f1", "support"}


def test_train_refuses_to_overwrite_without_force(tiny_corpus, tiny_model_path):
    before = tiny_model_path.read_bytes()
    result = run("train", str(tiny_corpus), "-o", str(tiny_model_path))
    assert_one_line_error(result, "--force")
    assert tiny_model_path.read_bytes() == before


def test_missing_input_file(tiny_model_path, tmp_path):
    result = run("predict", str(tmp_path / "nope.txt"), "-m", str(tiny_model_path))
    assert_one_line_error(result, "nope.txt", "no such file")


def test_tsv_line_without_tab_in_training_data(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("headline\tTitle\nbody without tab\n", encoding="utf-8")
    result = run("train", str(bad), "-o", str(tmp_path / "m.skops"))
    assert_one_line_error(result, "bad.tsv:2", "no tab")
    assert not (tmp_path / "m.skops").exists()


def test_label_outside_the_label_set(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("headline\tTitle\nadvert\tBuy now\n", encoding="utf-8")
    result = run("train", str(bad), "-o", str(tmp_path / "m.skops"))
    assert_one_line_error(result, "bad.tsv:2", "'advert'", "--labels")


def test_undecodable_input(tiny_model_path, tmp_path):
    bad = tmp_path / "latin.txt"
    bad.write_bytes(b"Title\nCaf\xe9\n")
    result = run("predict", str(bad), "-m", str(tiny_model_path))
    assert_one_line_error(result, "latin.txt:2", "--encoding")
    result = run("predict", str(bad), "-m", str(tiny_model_path), "--encoding", "latin-1")
    assert result.exit_code == 0


def test_no_paragraphs_at_all(tiny_model_path, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    result = run("predict", str(empty), "-m", str(tiny_model_path))
    assert_one_line_error(result, "no paragraphs")


def test_pickle_model_is_refused_without_opt_in(dump, tmp_path):
    crafted = tmp_path / "model.joblib"
    crafted.write_bytes(b"\x80\x04not really a pickle")
    result = run("predict", str(dump), "-m", str(crafted))
    assert_one_line_error(result, "model.joblib", "--trust-pickle")


def test_proba_needs_a_format_that_can_hold_it(dump, tiny_model_path):
    result = run("predict", str(dump), "-m", str(tiny_model_path), "--proba")
    assert_one_line_error(result, "--proba needs --format jsonl or csv")


def test_predict_with_two_jobs_prints_the_same(tiny_corpus, tiny_model_path):
    args = ["predict", str(tiny_corpus), "-m", str(tiny_model_path), "--format", "jsonl"]
    one = runner.invoke(app, args)
    two = runner.invoke(app, [*args, "--jobs", "2"])
    assert two.exit_code == 0, two.output
    assert two.stdout == one.stdout
    assert runner.invoke(app, [*args, "--jobs", "0"]).exit_code == 2  # a usage error
