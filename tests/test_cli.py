"""Every command through typer's CliRunner: output, files written, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from newsseg import api, evaluate
from newsseg.cli import app
from newsseg.config import LABELS
from newsseg.dataset import neutralise_formula
from newsseg.model_file import read_metadata

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
    model_path = tmp_path / "m.npz"
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


def test_train_and_evaluate_use_only_the_selected_documents(tiny_corpus, tmp_path):
    model_path = tmp_path / "m.npz"
    params = ["--exclude", "site=daily-planet,bay-news", "--exclude", "site=river-times"]
    result = run("train", str(tiny_corpus), "-o", str(model_path), *params)
    assert result.exit_code == 0, result.output
    assert "trained on 6 documents" in result.stdout
    data = read_metadata(model_path)["training_data"]
    assert data["selection"]["exclude"] == {"site": ["bay-news", "daily-planet", "river-times"]}
    report = tmp_path / "scores.json"
    only = ["--only", "site=bay-news"]
    result = run("evaluate", str(tiny_corpus), "-m", str(model_path), "--json", str(report), *only)
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text(encoding="utf-8"))["documents"] == 2


def test_train_weighs_documents_and_records_it(tiny_corpus, tmp_path):
    model_path = tmp_path / "w.npz"
    weight = ["--weight", "site=daily-planet,bay-news:teaser=0.5"]
    result = run("train", str(tiny_corpus), "-o", str(model_path), *weight)
    assert result.exit_code == 0, result.output
    assert read_metadata(model_path)["training_data"]["weighting"] == [
        {"column": "site", "values": ["bay-news", "daily-planet"], "label": "teaser", "weight": 0.5}
    ]
    result = run("train", str(tiny_corpus), "-o", str(tmp_path / "x.npz"), "--weight", "site=a")
    assert result.exit_code == 2 and "'--weight'" in result.output


def test_a_malformed_selection_is_a_usage_error(tiny_corpus, tmp_path):
    result = run("cv", str(tiny_corpus), "--only", "colour=red")
    assert result.exit_code == 2
    assert "'--only'" in result.output and "not one of the manifest columns" in result.output


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
    result = run("train", str(bad), "-o", str(tmp_path / "m.npz"))
    assert_one_line_error(result, "bad.tsv:2", "no tab")
    assert not (tmp_path / "m.npz").exists()


def test_label_outside_the_label_set(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("headline\tTitle\nadvert\tBuy now\n", encoding="utf-8")
    result = run("train", str(bad), "-o", str(tmp_path / "m.npz"))
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


# --------------------------------------------------------------------------- reports


def off_diagonal(confusion: dict) -> int:
    matrix = confusion["matrix"]
    return sum(count for i, row in enumerate(matrix) for j, count in enumerate(row) if i != j)


def assert_errors_match_misclassifications(report_dir: Path, scores: dict) -> pd.DataFrame:
    """errors.csv holds exactly the misclassified paragraphs, and each row's file:line is
    the paragraph it describes."""
    errors = pd.read_csv(report_dir / "errors.csv", dtype={"text": str}, keep_default_na=False)
    assert len(errors) == off_diagonal(scores["confusion"])
    assert (errors["true_label"] != errors["predicted_label"]).all()
    assert not errors.duplicated(["file", "line"]).any()
    for row in errors.itertuples(index=False):
        lines = Path(row.file).read_text(encoding="utf-8").splitlines()
        label, text = lines[row.line - 1].split("\t", 1)
        # A cell that would start a spreadsheet formula is written with a leading '.
        assert (label, neutralise_formula(text.strip())) == (row.true_label, row.text)
        assert 0.0 < row.confidence <= 1.0
    return errors


@pytest.fixture()
def mislabeled_corpus(tiny_corpus, tmp_path):
    """The tiny corpus with a blank line after each headline (so rows and lines differ) and
    the teasers of two documents labeled body: errors a model trained on it will make."""
    folder = tmp_path / "mislabeled"
    folder.mkdir()
    for path in sorted(tiny_corpus.glob("*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.stem in ("daily-planet__0", "bay-news__1"):
            lines = [line.replace("teaser\t", "body\t", 1) for line in lines]
        (folder / path.name).write_text("\n".join([lines[0], "", *lines[1:]]) + "\n", "utf-8")
    return folder


def test_evaluate_report_lists_exactly_the_misclassified_paragraphs(
    mislabeled_corpus, tiny_model_path, tmp_path
):
    out = tmp_path / "report"
    scores_path = tmp_path / "scores.json"
    result = run(
        "evaluate",
        str(mislabeled_corpus),
        "-m",
        str(tiny_model_path),
        "--report",
        str(out),
        "--json",
        str(scores_path),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion.png",
        "errors.csv",
        "reliability.png",
        "report.html",
        "report.md",
    ]
    scores = json.loads(scores_path.read_text(encoding="utf-8"))
    errors = assert_errors_match_misclassifications(out, scores)
    assert len(errors) >= 6  # the relabeled teasers at least
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert f"Misclassified paragraphs ({len(errors)} in " in page
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Per site" in markdown and "## Worst documents" in markdown
    assert "## Per source" not in markdown  # no manifest here


def test_evaluate_scores_are_the_same_with_and_without_report(tiny_corpus, tiny_model_path):
    plain = api.evaluate_model([tiny_corpus], tiny_model_path)
    detailed = api.evaluation_frame([tiny_corpus], tiny_model_path)
    assert evaluate.score(detailed, detailed["predicted"]) == plain
    proba = detailed[[f"proba_{label}" for label in LABELS]].to_numpy()
    assert detailed["confidence"].to_numpy() == pytest.approx(proba.max(axis=1))


def test_cv_prints_spread_and_writes_plot_json_and_report(tiny_corpus, tmp_path):
    result = run(
        "cv",
        str(tiny_corpus),
        "--folds",
        "3",
        "--curve-points",
        "2",
        "--plot",
        str(tmp_path / "curve.png"),
        "--json",
        str(tmp_path / "cv.json"),
        "--report",
        str(tmp_path / "cv"),
    )
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation grouped by site" in result.stdout
    assert "learning curve" in result.stdout and "teaser" in result.stdout
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")
    cv = json.loads((tmp_path / "cv.json").read_text(encoding="utf-8"))
    assert cv["group_by"] == "site" and len(cv["learning_curve"]) == 2
    assert sorted(p.name for p in (tmp_path / "cv").iterdir()) == [
        "confusion.png",
        "cv.html",
        "cv.json",
        "cv.md",
        "learning_curve.png",
    ]


def test_cv_grouped_by_document(tiny_corpus, tmp_path):
    result = run(
        "cv", str(tiny_corpus), "-k", "2", "--group-by", "doc", "--curve-points", "1", "-q"
    )
    assert result.exit_code == 0, result.output
    assert "2-fold cross-validation grouped by doc" in result.stdout
    assert "learning curve" not in result.stdout


def test_cv_errors_are_one_line(tiny_corpus, tmp_path):
    result = run("cv", str(tiny_corpus), "--folds", "7")
    assert_one_line_error(result, "needs 7 sites; the data has 6")
    result = run("cv", str(tiny_corpus), "--curve-points", "1", "--plot", str(tmp_path / "c.png"))
    assert_one_line_error(result, "c.png", "at least 2 points")
    result = run("cv", str(tiny_corpus), "--group-by", "url")
    assert result.exit_code == 2  # typer's own usage error names the choices


def test_inspect_shows_metadata_and_top_features(tiny_model_path, tmp_path):
    result = run("inspect", str(tiny_model_path), "--top", "3", "--json", str(tmp_path / "i.json"))
    assert result.exit_code == 0, result.output
    assert "labels       headline, body, legal, teaser" in result.stdout
    assert "strongest text features towards legal (text model weights):" in result.stdout
    assert "no cross-validation scores" in result.stdout
    info = json.loads((tmp_path / "i.json").read_text(encoding="utf-8"))
    assert len(info["training_data"]["sha256"]) == 64
    assert {label: len(features) for label, features in info["top_features"].items()} == {
        label: 3 for label in LABELS
    }
    for features in info["top_features"].values():  # strongest first
        weights = [item["weight"] for item in features]
        assert weights == sorted(weights, reverse=True)


def test_inspect_the_default_model():
    result = run("inspect", "--top", "2")
    assert result.exit_code == 0, result.output
    assert "5-fold cross-validation grouped by site" in result.stdout
    assert "default.npz" in result.stdout


def test_inspect_a_missing_model_is_one_line(tmp_path):
    assert_one_line_error(run("inspect", str(tmp_path / "none.npz")), "no such model file")


def test_progress_bars_stay_off_stdout(dump, tiny_model_path):
    result = run("predict", str(dump), "-m", str(tiny_model_path), "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # and CliRunner's stderr is no terminal: no bars either way
    assert len(result.stdout.splitlines()) == 5


def test_predict_with_two_jobs_prints_the_same(tiny_corpus, tiny_model_path):
    args = ["predict", str(tiny_corpus), "-m", str(tiny_model_path), "--format", "jsonl"]
    one = runner.invoke(app, args)
    two = runner.invoke(app, [*args, "--jobs", "2"])
    assert two.exit_code == 0, two.output
    assert two.stdout == one.stdout
    assert runner.invoke(app, [*args, "--jobs", "0"]).exit_code == 2  # a usage error


def test_min_confidence_marks_paragraphs_for_review(dump, tiny_model_path):
    args = ["predict", str(dump), "-m", str(tiny_model_path), "--format", "jsonl"]
    everything = run(*args, "--min-confidence", "1.0")
    assert everything.exit_code == 0, everything.output
    records = [json.loads(line) for line in everything.stdout.splitlines()]
    assert all(record["review"] for record in records)
    nothing = [json.loads(line) for line in run(*args, "--min-confidence", "0").stdout.splitlines()]
    assert not any(record["review"] for record in nothing)
    assert_one_line_error(
        run("predict", str(dump), "-m", str(tiny_model_path), "--min-confidence", "0.5"),
        "--min-confidence needs --format jsonl or csv",
    )


def test_no_sequence_takes_each_most_probable_label(dump, tiny_model_path):
    result = run("predict", str(dump), "-m", str(tiny_model_path), "--no-sequence")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 5


def test_train_with_ablation_records_it_and_inspect_shows_it(tiny_corpus, tmp_path):
    model_path = tmp_path / "m.npz"
    result = run("train", str(tiny_corpus), "-o", str(model_path), "--cv", "2", "--ablation")
    assert result.exit_code == 0, result.output
    assert "ablation: 2-fold cross-validation grouped by site" in result.stdout
    metadata = read_metadata(model_path)
    table = metadata["ablation"]
    rows = {row["variant"]: row for row in table["variants"]}
    assert [row["variant"] for row in table["variants"]] == list(evaluate.ABLATION_VARIANTS)
    baseline = rows[evaluate.ABLATION_BASELINE]
    assert baseline["macro_f1"] == metadata["cv"]["pooled"]["macro_f1"]  # the CV, not a rerun
    assert rows["without sequence decoding"]["params"] == {"sequence": "none"}
    shown = run("inspect", str(model_path))
    assert shown.exit_code == 0, shown.output
    assert "without layout cues" in shown.stdout


def test_ablation_needs_cross_validation(tiny_corpus, tmp_path):
    result = run("train", str(tiny_corpus), "-o", str(tmp_path / "m.npz"), "--ablation")
    assert_one_line_error(result, "--ablation needs --cv")


def loaded_after(statement: str) -> list[str]:
    """Which heavy libraries a fresh interpreter has loaded after ``statement``."""
    heavy = ("sklearn", "pandas", "matplotlib", "skops.io", "scipy")
    code = f"import sys; {statement}; print(*[m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_start_up_loads_only_what_a_command_needs():
    """--help and usage errors need no scikit-learn; loading the default model and labeling
    need neither scikit-learn, scipy, skops nor matplotlib (training and reports do)."""
    assert loaded_after("import newsseg.cli") == []
    assert loaded_after("import newsseg") == []
    assert loaded_after("import newsseg.api") == ["pandas"]
    labeling = "import newsseg; newsseg.label_paragraphs(['A title', 'A body line.'])"
    assert loaded_after(labeling) == ["pandas"]
