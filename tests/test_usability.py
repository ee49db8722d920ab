"""What a newcomer tripped on (issue #17, "Friction"): output names, resumable large runs, the
clean article, progress, and the API and CLI details around them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsseg import api
from newsseg.cli import app

runner = CliRunner()

DUMP = "\n".join(
    [
        "Council approves new bridge over the river",
        "The bridge has been the talk of the town this week, and engineers say the council "
        "will change how residents spend their days for years to come.",
        "According to the engineers, planning for the bridge began two years ago, when a small "
        "group met in the town hall to discuss the council and what it could mean.",
        "© 2024 Example News. All rights reserved.",
        "Library extends weekend opening hours",
    ]
)


def run(*args: str | Path, input: str | None = None):
    return runner.invoke(app, [str(arg) for arg in args], input=input)


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert message.count("\n") == 0, message
    assert message.startswith("newsseg: error: ")
    return message


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    return api.load_model(tiny_model_path)


@pytest.fixture()
def scrape(tmp_path) -> Path:
    """A scraper's layout: the same file name in two site folders."""
    root = tmp_path / "scrape"
    for site in ("site-a", "site-b"):
        (root / site).mkdir(parents=True)
        (root / site / "index.txt").write_text(DUMP, encoding="utf-8")
    return root


def files_below(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )


# --------------------------------------------------------------------------- output names


def test_same_file_name_in_two_folders_keeps_the_folders_under_the_output(
    scrape, tiny_model_path, tmp_path
):
    out = tmp_path / "out"
    result = run("predict", scrape, "-m", tiny_model_path, "-o", out)
    assert result.exit_code == 0, result.output
    assert files_below(out) == ["site-a/index.tsv", "site-b/index.tsv"]


def test_same_file_name_given_one_by_one_keeps_the_folders_below_their_common_one(
    scrape, tiny_model_path, tmp_path
):
    out = tmp_path / "out"
    files = [scrape / "site-a" / "index.txt", scrape / "site-b" / "index.txt"]
    result = run("predict", *files, "-m", tiny_model_path, "-o", out, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert files_below(out) == ["site-a/index.jsonl", "site-b/index.jsonl"]
    record = json.loads((out / "site-b" / "index.jsonl").read_text().splitlines()[0])
    assert record["doc_id"] == "site-b/index"


def test_doc_ids_are_unique_in_jsonl_and_csv(scrape, tiny_model_path):
    result = run("predict", scrape, "-m", tiny_model_path, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    doc_ids = {json.loads(line)["doc_id"] for line in result.stdout.splitlines()}
    assert doc_ids == {"site-a/index", "site-b/index"}
    result = run("predict", scrape, "-m", tiny_model_path, "--format", "csv")
    assert {line.split(",")[0] for line in result.stdout.splitlines()[1:]} == doc_ids


def test_a_single_file_keeps_its_plain_name(tmp_path, tiny_model_path):
    (tmp_path / "page.txt").write_text(DUMP, encoding="utf-8")
    result = run("predict", tmp_path / "page.txt", "-m", tiny_model_path, "--format", "jsonl")
    assert json.loads(result.stdout.splitlines()[0])["doc_id"] == "page"


def test_an_output_folder_inside_the_input_folder_is_not_read_back(scrape, tiny_model_path):
    out = scrape / "labeled"
    for extra in ([], ["--force"]):
        result = run("predict", scrape, "-m", tiny_model_path, "-o", out, *extra)
        assert result.exit_code == 0, result.output
        assert files_below(out) == ["site-a/index.tsv", "site-b/index.tsv"]
    assert "labeled 2 file(s)" in result.stderr


# --------------------------------------------------------------------------- the article


def test_article_prints_only_headline_and_body_lines_in_order(tmp_path, tiny_model_path):
    page = tmp_path / "page.txt"
    page.write_text(DUMP, encoding="utf-8")
    labeled = run("predict", page, "-m", tiny_model_path).stdout.splitlines()
    expected = [
        line.split("\t", 1)[1] for line in labeled if line.split("\t")[0] in ("headline", "body")
    ]
    assert expected  # the tiny model finds the headline and the body
    result = run("predict", page, "-m", tiny_model_path, "--article")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == expected
    assert "\t" not in result.stdout


def test_article_to_a_folder_writes_name_dot_txt(scrape, tiny_model_path, tmp_path):
    out = tmp_path / "articles"
    result = run("predict", scrape, "-m", tiny_model_path, "--article", "-o", out)
    assert result.exit_code == 0, result.output
    assert files_below(out) == ["site-a/index.txt", "site-b/index.txt"]
    text = (out / "site-a" / "index.txt").read_text(encoding="utf-8")
    assert "All rights reserved" not in text
    assert text.startswith("Council approves new bridge")


def test_article_never_overwrites_its_own_input(tmp_path, tiny_model_path):
    page = tmp_path / "page.txt"
    page.write_text(DUMP, encoding="utf-8")
    result = run("predict", page, "-m", tiny_model_path, "--article", "-o", tmp_path, "--force")
    assert "its own input" in one_line_error(result)
    assert page.read_text(encoding="utf-8") == DUMP


def test_article_takes_no_other_format(tmp_path):
    result = run("predict", tmp_path, "--article", "--format", "jsonl", "-m", tmp_path / "no")
    assert "--article" in one_line_error(result)


def test_article_in_python(tiny_model, tmp_path):
    (tmp_path / "page.txt").write_text(DUMP, encoding="utf-8")
    run_ = api.predict([tmp_path / "page.txt"], tiny_model, output_format="article")
    assert "All rights reserved" not in run_.text
    assert run_.text.startswith("Council approves new bridge")


# --------------------------------------------------------------------------- large runs


def test_files_from_reads_the_listed_inputs(scrape, tiny_model_path, tmp_path):
    listing = tmp_path / "inputs.list"
    listing.write_text(f"{scrape / 'site-a' / 'index.txt'}\n\n{scrape / 'site-b' / 'index.txt'}\n")
    out = tmp_path / "out"
    result = run("predict", "--files-from", listing, "-m", tiny_model_path, "-o", out)
    assert result.exit_code == 0, result.output
    assert files_below(out) == ["site-a/index.tsv", "site-b/index.tsv"]


def test_files_from_standard_input(scrape, tiny_model_path):
    listing = f"{scrape / 'site-a' / 'index.txt'}\n"
    result = run("predict", "--files-from", "-", "-m", tiny_model_path, input=listing)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 5


def test_no_inputs_at_all_is_one_line(tiny_model_path):
    assert "no inputs" in one_line_error(run("predict", "-m", tiny_model_path))


def test_skip_existing_resumes_a_run(scrape, tiny_model_path, tmp_path):
    out = tmp_path / "out"
    (out / "site-a").mkdir(parents=True)
    (out / "site-a" / "index.tsv").write_text("kept\n", encoding="utf-8")
    result = run("predict", scrape, "-m", tiny_model_path, "-o", out, "--skip-existing")
    assert result.exit_code == 0, result.output
    assert (out / "site-a" / "index.tsv").read_text(encoding="utf-8") == "kept\n"
    assert (out / "site-b" / "index.tsv").read_text(encoding="utf-8").startswith("headline\t")
    assert "labeled 1 file(s), 5 paragraph(s)" in result.stderr
    assert "kept 1 existing output(s)" in result.stderr


def test_skip_existing_needs_an_output_folder_and_not_force(scrape, tmp_path):
    no_model = tmp_path / "no.npz"  # refused before any model loads
    assert "--output-dir" in one_line_error(
        run("predict", scrape, "-m", no_model, "--skip-existing")
    )
    result = run("predict", scrape, "-m", no_model, "-o", tmp_path, "--skip-existing", "--force")
    assert "contradict" in one_line_error(result)


def test_a_closing_summary_on_stderr(scrape, tiny_model_path):
    result = run("predict", scrape, "-m", tiny_model_path)
    assert result.exit_code == 0, result.output
    summary = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"labeled 2 file\(s\), 10 paragraph\(s\) in \d+\.\d s \(\d+ paragraphs/s\)", summary
    ), summary
    assert "labeled" not in result.stdout


def test_the_run_counts_files_paragraphs_and_time(scrape, tiny_model):
    result = api.predict([scrape], tiny_model)
    assert (result.labeled, result.paragraphs) == (2, 10)
    assert result.seconds > 0
    assert result.summary().startswith("labeled 2 file(s), 10 paragraph(s) in ")


# --------------------------------------------------------------------------- progress


class Recorder:
    """A ``track`` that records each task: description, total and steps taken."""

    def __init__(self) -> None:
        self.tasks: list[dict] = []

    def __call__(self, items, description, total=None):
        task = {"description": description, "total": total, "steps": 0}
        self.tasks.append(task)
        for item in items:
            task["steps"] += 1
            yield item

    def find(self, fragment: str) -> dict:
        return next(task for task in self.tasks if fragment in task["description"])


def test_predict_reports_inputs_of_the_total_and_paragraphs(scrape, tiny_model):
    track = Recorder()
    api.predict([scrape], tiny_model, track=track)
    assert track.find("inputs") == {"description": "inputs labeled", "total": 2, "steps": 2}
    assert track.find("paragraphs")["steps"] == 10


def test_train_reports_its_stages(tiny_corpus, tmp_path):
    from tests.conftest import TINY_PARAMS

    track = Recorder()
    api.train([tiny_corpus], None, params=TINY_PARAMS, track=track)
    names = [task["description"] for task in track.tasks]
    assert names == [
        "reading the training data",
        "training on 12 documents: text model and features",
        "training on 12 documents: booster, label chain, calibration",
        "checking the trained model",
    ]
    assert all(task["steps"] == 1 for task in track.tasks)


def test_bars_show_done_of_the_total_and_the_count_without_one():
    import io

    from newsseg.progress import progress_bars

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with progress_bars(stream=stream, force_terminal=True) as track:
        list(track(range(3), "inputs labeled", total=3))
        list(track(iter(range(1234)), "paragraphs labeled"))
    drawn = stream.getvalue()
    assert "3/3" in drawn
    assert "1,234" in drawn


# --------------------------------------------------------------------------- options


def test_train_refuses_a_model_name_it_could_not_load(tiny_corpus, tmp_path):
    result = run("train", tiny_corpus, "-o", tmp_path / "model.joblib")
    message = one_line_error(result)
    assert "model.joblib" in message and "model.npz" in message
    assert not (tmp_path / "model.joblib").exists()


def test_min_confidence_with_tsv_is_refused_before_the_model_loads(tmp_path):
    (tmp_path / "page.txt").write_text(DUMP, encoding="utf-8")
    result = run(
        "predict", tmp_path / "page.txt", "-m", tmp_path / "none.npz", "--min-confidence", "0.5"
    )
    assert "--min-confidence needs --format jsonl or csv" in one_line_error(result)


@pytest.mark.parametrize("command", ["evaluate", "inspect"])
def test_json_outputs_are_not_overwritten_without_force(
    command, tiny_corpus, tiny_model_path, tmp_path
):
    target = tmp_path / "scores.json"
    target.write_text("{}\n", encoding="utf-8")
    args = [tiny_corpus, "-m", tiny_model_path] if command == "evaluate" else [tiny_model_path]
    result = run(command, *args, "--json", target)
    assert "use --force" in one_line_error(result)
    assert target.read_text(encoding="utf-8") == "{}\n"
    result = run(command, *args, "--json", target, "--force")
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text(encoding="utf-8"))


def test_cv_json_and_plot_are_not_overwritten_without_force(tiny_corpus, tmp_path):
    for name in ("cv.json", "curve.png"):
        target = tmp_path / name
        target.write_text("old\n", encoding="utf-8")
        option = "--json" if name.endswith(".json") else "--plot"
        result = run("cv", tiny_corpus, "--folds", "2", "--curve-points", "2", option, target)
        assert "use --force" in one_line_error(result)  # before any fold is trained
        assert target.read_text(encoding="utf-8") == "old\n"


# --------------------------------------------------------------------------- the Python API


def test_proba_columns_come_in_the_label_order_of_the_reports(tiny_model):
    labeled = api.label_paragraphs(DUMP.splitlines(), tiny_model)
    assert [c for c in labeled.columns if c.startswith("proba_")] == [
        "proba_headline",
        "proba_body",
        "proba_legal",
        "proba_teaser",
    ]
    chosen = labeled[[f"proba_{label}" for label in labeled["label"]]].to_numpy().diagonal()
    assert (chosen == api.label_confidence(labeled)).all()


def test_label_dump_of_a_labeled_dump_keeps_its_true_labels(tmp_path, tiny_model):
    page = tmp_path / "page.tsv"
    page.write_text("headline\tCouncil approves new bridge\nno label on this line\n", "utf-8")
    labeled = api.label_dump(page, tiny_model)
    assert labeled["true_label"].tolist() == ["headline", None]
    assert set(labeled["label"]) <= {"headline", "body", "legal", "teaser"}
    dump = tmp_path / "page.txt"
    dump.write_text(DUMP, encoding="utf-8")
    assert "true_label" not in api.label_dump(dump, tiny_model).columns


def test_label_frame_keeps_a_frames_own_labels(tiny_model):
    import pandas as pd

    frame = pd.DataFrame({"doc_id": "a", "text": ["A title", "A body."], "label": ["x", "y"]})
    labeled = api.label_frame(frame, tiny_model)
    assert labeled["true_label"].tolist() == ["x", "y"]
    assert "x" not in set(labeled["label"])


@pytest.mark.parametrize("bad", [None, float("nan"), 3.5, Ellipsis, b"bytes"])
def test_label_frame_refuses_texts_that_are_not_strings(bad, tiny_model):
    import pandas as pd

    from newsseg.errors import NewssegError

    frame = pd.DataFrame({"doc_id": ["a", "a"], "text": ["A title", bad]}, index=[10, 11])
    with pytest.raises(NewssegError, match=r"row 1 \(index 11\) has text .* not a string"):
        api.label_frame(frame, tiny_model)


def test_label_frame_needs_a_text_column(tiny_model):
    import pandas as pd

    from newsseg.errors import NewssegError

    with pytest.raises(NewssegError, match="no 'text' column"):
        api.label_frame(pd.DataFrame({"doc_id": ["a"], "body": ["x"]}), tiny_model)


# --------------------------------------------------------------------------- README examples

README = Path(__file__).parents[1] / "README.md"


def readme_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture()
def workspace(tmp_path, tiny_corpus, monkeypatch) -> Path:
    """What the README's examples name: page.txt, dumps/, test_dumps/ and ../shared/corpus
    (here the tiny corpus), in a fresh working folder."""
    import shutil

    work = tmp_path / "work"
    (work / "dumps").mkdir(parents=True)
    (work / "page.txt").write_text(DUMP, encoding="utf-8")
    for name in ("a", "b", "c"):
        (work / "dumps" / f"{name}.txt").write_text(DUMP, encoding="utf-8")
    shutil.copytree(tiny_corpus, tmp_path / "shared" / "corpus")
    (work / "test_dumps").mkdir()
    shutil.copy(tiny_corpus / "bay-news__0.tsv", work / "test_dumps")
    monkeypatch.chdir(work)
    return work


def test_the_readme_has_the_examples_these_tests_run():
    assert len(readme_examples()) == 3


def test_readme_python_api_example_runs(workspace):
    namespace: dict = {}
    # Two folds, not five: the same code, in half the time.
    example = readme_examples()[0].replace("cv=5", "cv=2")
    assert "cv=2" in example
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["run"].labeled == 3 and not namespace["run"].failed
    assert sorted(p.name for p in (workspace / "out").iterdir()) == ["a.tsv", "b.tsv", "c.tsv"]
    assert namespace["articles"].startswith("Council approves new bridge")
    assert namespace["metadata"]["cv"]["folds"] == 2
    assert 0 <= namespace["scores"]["macro_f1"] <= 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")
def test_readme_dask_example_runs(workspace):
    import pandas as pd

    pytest.importorskip("distributed")
    frame = pd.DataFrame({"doc_id": "a", "text": DUMP.splitlines()})
    frame.to_parquet(workspace / "dumps" / "part-0.parquet")
    # One worker, not four (the test machine's cores are shared), and no dashboard port.
    example = readme_examples()[1].replace(
        "n_workers=4,", "n_workers=1, dashboard_address=':0', silence_logs=50,"
    )
    assert "n_workers=1" in example
    namespace: dict = {"model": api.load_model()}
    try:
        exec(compile(example, "README.md", "exec"), namespace)
        assert len(namespace["pairs"].compute()) == 3  # (lazy: computed on the cluster)
    finally:
        if "client" in namespace:
            namespace["client"].cluster.close()
            namespace["client"].close()
    assert len(pd.read_parquet(workspace / "labeled")) == 5
    assert namespace["run"].labeled == 3


def test_readme_scikit_learn_example_runs(workspace):
    namespace: dict = {}
    # The result kept for a look; two folds, not five, in the same code.
    example = readme_examples()[2].replace("\ncross_validate(", "\nresult = cross_validate(")
    example = example.replace("GroupKFold(5)", "GroupKFold(2)")
    exec(compile(example, "README.md", "exec"), namespace)
    assert len(namespace["result"]["test_score"]) == 2


# --------------------------------------------------------------------------- the command line

COMMANDS = ["train", "evaluate", "predict", "cv", "inspect", "annotate"]


def help_text(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_version_is_one_version_everywhere():
    import newsseg

    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^version = "(.*)"$', pyproject, flags=re.M).group(1) == newsseg.__version__
    assert newsseg.__version__ == "0.5.0"
    result = run("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"newsseg {newsseg.__version__}")
    assert "shipped model trained by newsseg " in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_clean_metavars(command):
    text = help_text(command)
    assert not re.search(r"<[a-z]|\{[a-z]", text), text  # no <list[str]>, <path>, {paths}
    assert "PATH" in text or "MODEL" in text


def test_command_list_is_not_cut_mid_sentence():
    text = help_text()
    commands = text[text.index("Commands:") :]
    assert "..." not in commands and "…" not in commands
    for command in COMMANDS:
        assert re.search(rf"^  {command}\s+\S.*\.$", commands, flags=re.M), commands


def test_help_paragraphs_are_reflowed_not_broken_where_the_source_is():
    text = " ".join(help_text("cv").split())
    assert "mean ± std per metric and per label, and a learning curve" in text


def test_dask_help_keeps_the_extra_in_brackets():
    assert "pip install 'newsseg[dask]'" in " ".join(help_text("predict").split())


# --------------------------------------------------------------------------- inspect


def test_text_features_with_spaces_are_quoted():
    from newsseg.report import feature_label

    assert feature_label("words__rights reserved") == 'words__"rights reserved"'
    assert feature_label("chars__ ©") == 'chars__" ©"'
    assert feature_label("words__bridge") == "words__bridge"


def test_stage_two_names_match_its_columns_and_shares_sum_to_one(tiny_model):
    import pandas as pd

    frame = pd.DataFrame({"doc_id": "a", "text": DUMP.splitlines()})
    names = tiny_model.stage_two_feature_names()
    assert len(names) == tiny_model.stage_two_features(frame).shape[1] == len(set(names))
    assert any(name.startswith("layout__") for name in names)
    shares = tiny_model.cue_importances()
    assert set(shares) == {"headline", "body", "legal", "teaser"}
    for per_feature in shares.values():
        assert sum(per_feature.values()) == pytest.approx(1.0)


def test_inspect_shows_the_cues_that_decide_each_label(tiny_model_path, tmp_path):
    result = run("inspect", tiny_model_path, "--top", "3", "--json", tmp_path / "i.json")
    assert result.exit_code == 0, result.output
    assert "cues that decide headline (share of the booster's split gain):" in result.stdout
    cues = json.loads((tmp_path / "i.json").read_text(encoding="utf-8"))["top_cues"]
    assert list(cues) == ["headline", "body", "legal", "teaser"]
    assert all(1 <= len(items) <= 3 for items in cues.values())
    assert cues["headline"][0]["feature"] in result.stdout


# --------------------------------------------------------------------------- the report


def site_evaluation(sites: int = 30, wrong_sites: int = 2):
    """An evaluation of ``sites`` one-document sites, the first ``wrong_sites`` with one
    teaser labeled body."""
    import pandas as pd

    from newsseg import evaluate

    rows = []
    for n in range(sites):
        doc = f"site{n:02d}__1"
        for line, (label, text) in enumerate(
            [("headline", f"Title {n}"), ("body", "Body <b>text</b>."), ("teaser", "Other")], 1
        ):
            predicted = "body" if label == "teaser" and n < wrong_sites else label
            rows.append(
                (doc, text, label, f"/abs/corpus/{doc}.tsv", line, f"site{n:02d}", predicted)
            )
    frame = pd.DataFrame(
        rows, columns=["doc_id", "text", "label", "source", "line", "site", evaluate.PREDICTED]
    )
    frame[evaluate.CONFIDENCE] = 0.9
    return evaluate.evaluation(frame)


def test_per_site_table_shows_the_worst_and_folds_the_rest():
    from newsseg import report

    page = report.render_html(report.evaluation_report(site_evaluation()))
    section = page[page.index("<h2>Per site</h2>") : page.index("<h2>Worst documents")]
    shown, folded = section.split("<details>")
    assert shown.count("<tr><td") == 2 and "site00" in shown and "site01" in shown
    assert "<summary>28 more sites, every paragraph right</summary>" in folded
    assert folded.count("<tr><td") == 28
    text = report.render_markdown(report.evaluation_report(site_evaluation()))
    assert "<details>\n<summary>28 more sites, every paragraph right</summary>" in text


def test_errors_are_grouped_by_document_in_context_with_coloured_escaped_labels():
    from newsseg import report

    page = report.render_html(report.evaluation_report(site_evaluation()))
    errors = page[page.index("<h2>Misclassified paragraphs (2 in 2 documents)</h2>") :]
    assert errors.count("<details open>") == 2
    assert "<summary>site00__1.tsv (site site00): 1 of 3 paragraphs wrong</summary>" in errors
    assert "/abs/corpus" not in errors  # paths below the report's common folder
    assert '<tr class="wrong">' in errors and '<span class="label l-teaser">teaser</span>' in errors
    assert "Body &lt;b&gt;text&lt;/b&gt;." in errors  # the document around the error, escaped


def test_small_shares_are_not_rounded_to_zero():
    from newsseg.plots import share_text

    assert [share_text(v) for v in (0, 1 / 472, 0.5, 471 / 472, 1)] == [
        "0%",
        "<1%",
        "50%",
        ">99%",
        "100%",
    ]


def test_reliability_diagram_is_a_png():
    import numpy as np

    from newsseg.plots import reliability_figure, reliability_png

    confidence = np.array([0.95, 0.95, 0.55, 0.3])
    correct = np.array([True, True, False, True])
    assert reliability_png(confidence, correct).startswith(b"\x89PNG\r\n\x1a\n")
    title = reliability_figure(confidence, correct).axes[0].get_title()
    # |0.95 - 1| * 2/4 + |0.55 - 0| * 1/4 + |0.3 - 1| * 1/4 = 0.3375
    assert title == "Reliability (expected calibration error 0.338)"


def test_the_report_names_the_model(tiny_corpus, tiny_model_path, tmp_path):
    result = run("evaluate", tiny_corpus, "-m", tiny_model_path, "--report", tmp_path / "r")
    assert result.exit_code == 0, result.output
    import html

    # The HTML page (report.md escapes Markdown: colons, brackets).
    text = html.unescape((tmp_path / "r" / "report.html").read_text(encoding="utf-8"))
    assert f"Model: {tiny_model_path} (trained by newsseg 0.5.0; on 12 documents" in text
    assert "training data SHA-256 " in text and "no cross-validation scores recorded" in text
    assert (tmp_path / "r" / "reliability.png").is_file()


def test_model_provenance_names_its_cross_validation():
    from newsseg.model_file import model_provenance

    metadata = {
        "newsseg_version": "0.5.0",
        "training_data": {"documents": 128, "sha256": "bb2de4f1" + "0" * 56},
        "cv": {
            "folds": 5,
            "group_by": "site",
            "per_fold": {"macro_f1": {"mean": 0.889, "std": 0.056}},
            "pooled": {"macro_f1": 0.905},
        },
    }
    assert model_provenance(metadata) == (
        " (trained by newsseg 0.5.0; on 128 documents (training data SHA-256 bb2de4f10000); "
        "its 5-fold CV by site: macro-F1 0.889 ± 0.056 over folds, 0.905 pooled)"
    )
