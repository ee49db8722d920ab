"""Reports for people: Markdown and self-contained HTML with embedded pictures, written
atomically; text tables for cross-validation and model inspection."""

from __future__ import annotations

import base64
import re

import pandas as pd

from newsseg import evaluate, plots, report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def small_evaluation() -> evaluate.Evaluation:
    rows = [
        ("a__1", "headline", "headline", "Title"),
        ("a__1", "body", "body", "Body text."),
        ("a__1", "teaser", "body", "Other <script>x()</script> | story"),
        ("b__1", "headline", "headline", "Second title"),
        ("b__1", "legal", "teaser", "© 2024 Example. All rights reserved."),
    ]
    frame = pd.DataFrame(
        {
            "doc_id": [row[0] for row in rows],
            "text": [row[3] for row in rows],
            "label": [row[1] for row in rows],
            "source": [f"data/{row[0]}.tsv" for row in rows],
            "line": [1, 2, 4, 1, 2],
            "site": [row[0][0] for row in rows],
            "collection": ["wcxb", "wcxb", "wcxb", "scrapinghub", "scrapinghub"],
            evaluate.PREDICTED: [row[2] for row in rows],
            evaluate.CONFIDENCE: [0.9, 0.8, 0.6, 0.95, 0.55],
        }
    )
    return evaluate.evaluation(frame)


def test_confusion_picture_is_a_png():
    png = plots.confusion_png({"labels": ["a", "b"], "matrix": [[3, 1], [0, 2]]})
    assert png.startswith(PNG_MAGIC)


def test_html_report_is_self_contained_and_escapes_text():
    page = report.render_html(report.evaluation_report(small_evaluation()))
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link)\b", page)  # no code, no external stylesheet
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2  # the confusion heat map and the reliability diagram
    assert all(base64.b64decode(image).startswith(PNG_MAGIC) for image in images)
    assert "&lt;script&gt;" in page
    assert "a__1.tsv (site a): 1 of 3 paragraphs wrong" in page
    for heading in ("Per label", "Per site", "Per source", "Worst documents", "Misclassified"):
        assert heading in page


def test_markdown_report_links_the_picture_and_escapes_pipes():
    text = report.render_markdown(report.evaluation_report(small_evaluation()))
    assert "![confusion matrix](confusion.png)" in text
    assert "Other &lt;script&gt;x\\(\\)&lt;/script&gt; \\| story" in text  # Markdown escaped too
    assert "| 4 | teaser | body | ✗ | Other" in text
    assert "## Misclassified paragraphs (2 in 2 documents)" in text


def test_write_evaluation_report_writes_every_file(tmp_path):
    written = report.write_evaluation_report(tmp_path / "out", small_evaluation())
    names = sorted(path.name for path in written)
    assert names == ["confusion.png", "errors.csv", "reliability.png", "report.html", "report.md"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names  # no temporary left
    errors = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert errors.columns.tolist()[:7] == evaluate.ERROR_COLUMNS
    assert errors["line"].tolist() == [4, 2]


def test_cv_table_and_report_show_spread_folds_and_curve():
    point = {"mean": 0.8, "std": 0.1}
    pooled = evaluate.score(
        pd.DataFrame({"doc_id": ["d", "d"], "text": ["T", "B"], "label": ["headline", "body"]}),
        ["headline", "body"],
    )
    cv = {
        "folds": 2,
        "group_by": "site",
        "pooled": pooled,
        "per_fold": {"macro_f1": point, "accuracy": point, "body_f1": point},
        "per_label": {"body": {"precision": point, "recall": point, "f1": point}},
        "fold_scores": [
            {"fold": 1, "train_documents": 3, "test_documents": 2, "test_groups": 1}
            | {name: 0.8 for name in evaluate.SUMMARY_METRICS}
        ],
        "learning_curve": [
            {"fraction": f, "documents": 3 * f, "groups": 2 * f}
            | {name: point for name in evaluate.SUMMARY_METRICS}
            for f in (0.5, 1.0)
        ],
    }
    table = report.cv_table(cv)
    assert "macro_f1     0.800 ± 0.100" in table
    assert "learning curve" in table and "train docs" in table
    page = report.render_html(report.cv_report(cv))
    assert page.count("data:image/png;base64,") == 2  # learning curve, pooled confusion
    assert plots.learning_curve_png(cv).startswith(PNG_MAGIC)


def test_ablation_table_lists_each_variant_in_order():
    row = {"params": {}, "macro_f1": 0.9, "body_f1": 0.98, "seconds": 177.2}
    ablation = {
        "folds": 5,
        "group_by": "site",
        "variants": [
            {**row, "variant": "default model", "f1": {"body": 0.97, "teaser": 0.73}},
            {**row, "variant": "without layout cues", "f1": {"body": 0.96}},
        ],
    }
    lines = report.ablation_table(ablation).splitlines()
    assert lines[0] == "ablation: 5-fold cross-validation grouped by site"
    assert lines[2].split() == ["variant", "macro-F1", "body", "teaser", "body_f1", "seconds"]
    assert lines[3].split()[-4:] == ["0.970", "0.730", "0.980", "177"]
    assert lines[4].split()[-4:] == ["0.960", "-", "0.980", "177"]  # a label it never scored
