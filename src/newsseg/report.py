"""Scores for people (plain-text tables, Markdown and self-contained HTML reports with
pictures) and for machines (JSON, CSV)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from newsseg.dataset import atomic_output, neutralise_formula, write_text
from newsseg.evaluate import LABEL_METRICS, SUMMARY_METRICS, Evaluation

CONFUSION_CORNER = "true \\ pred"


def score_table(scores: dict) -> str:
    """Per-label precision/recall/F1/support, the summary scores and the confusion matrix."""
    lines = [
        f"{scores['documents']} documents, {scores['paragraphs']} paragraphs",
        "",
        f"{'label':<10} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}",
    ]
    for label, row in scores["labels"].items():
        lines.append(
            f"{label:<10} {row['precision']:>9.3f} {row['recall']:>9.3f} "
            f"{row['f1']:>9.3f} {row['support']:>9d}"
        )
    lines += [
        "",
        f"{'macro-F1':<10} {scores['macro_f1']:>9.3f}",
        f"{'accuracy':<10} {scores['accuracy']:>9.3f}",
        f"{'body_f1':<10} {scores['body_f1']:>9.3f}   (article-body shingle F1; "
        f"P {scores['body_precision']:.3f}, R {scores['body_recall']:.3f})",
    ]
    if "error_blocks" in scores:
        lines.append(error_block_line(scores["error_blocks"]))
    lines += ["", confusion_table(scores["confusion"])]
    return "\n".join(lines)


def error_block_line(blocks: dict) -> str:
    """Where the errors are: the share in blocks of identical errors, and at the article's
    edges (see :func:`newsseg.evaluate.error_blocks`)."""
    errors = blocks["errors"]
    return (
        f"errors: {errors} paragraphs; {blocks['in_blocks']} ({_share(blocks['block_share'])}) "
        f"in blocks of {blocks['block_min_lines']}+ identical errors, {blocks['at_edges']} "
        f"({_share(blocks['edge_share'])}) of them at the article's edges"
    )


def _share(value: float) -> str:
    """A share as a percentage that never rounds a non-zero share to 0%."""
    if 0 < value < 0.005:
        return "<1%"
    return f"{value:.0%}"


def confusion_table(confusion: dict) -> str:
    """The confusion matrix: rows are true labels, columns predicted ones."""
    labels = confusion["labels"]
    width = max(9, *(len(label) + 1 for label in labels))
    header = f"{CONFUSION_CORNER:<12}" + "".join(f"{label:>{width}}" for label in labels)
    rows = [
        f"{label:<12}" + "".join(f"{count:>{width}d}" for count in counts)
        for label, counts in zip(labels, confusion["matrix"], strict=True)
    ]
    return "\n".join([header, *rows])


def cv_table(cv: dict) -> str:
    """Grouped cross-validation: mean ± std over folds (summary metrics, then each label's
    precision, recall and F1), each fold, the learning curve, then the pooled table."""
    lines = [f"{cv['folds']}-fold cross-validation grouped by {cv['group_by']}", ""]
    for name, values in cv["per_fold"].items():
        lines.append(f"{name:<12} {_mean_std(values)}")
    if cv.get("per_label"):
        lines += ["", f"{'label':<10}" + "".join(f"{name:>17}" for name in LABEL_METRICS)]
        for label, metrics in cv["per_label"].items():
            cells = "".join(f"{_mean_std(metrics[name]):>17}" for name in LABEL_METRICS)
            lines.append(f"{label:<10}{cells}")
    if cv.get("fold_scores"):
        lines += ["", _text_table(*fold_rows(cv))]
    if cv.get("learning_curve"):
        lines += ["", "learning curve (mean ± std over folds):", _text_table(*curve_rows(cv))]
    if cv.get("tiers"):
        lines += ["", "pooled out-of-fold, by label tier:", _text_table(*tier_rows(cv["tiers"]))]
    lines += ["", "pooled out-of-fold predictions:", score_table(cv["pooled"])]
    return "\n".join(lines)


def tier_rows(tiers: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """One row per label tier: documents, macro-F1, each label's F1, body_f1 and the share of
    errors in blocks at the article's edges."""
    labels = list(dict.fromkeys(label for scores in tiers.values() for label in scores["labels"]))
    columns = ["tier", "documents", "macro-F1", *(f"{label} F1" for label in labels), "body_f1"]
    columns.append("edge blocks")
    rows = []
    for tier, scores in tiers.items():
        found = scores["labels"]
        f1 = [found[label]["f1"] if label in found else 0.0 for label in labels]
        rows.append(
            [
                tier,
                str(scores["documents"]),
                *_numbers(scores["macro_f1"], *f1, scores["body_f1"]),
                _share(scores["error_blocks"]["edge_share"]),
            ]
        )
    return columns, rows


def _mean_std(values: dict) -> str:
    return f"{values['mean']:.3f} ± {values['std']:.3f}"


def _text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = (
        [
            max(len(str(cell)) for cell in [name, *column])
            for name, *column in zip(columns, *rows, strict=True)
        ]
        if rows
        else [len(name) for name in columns]
    )
    lines = ["  ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(f"{cell:>{width}}" for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(lines)


def fold_rows(cv: dict) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the per-fold table of a cross-validation."""
    group = "test " + ("sites" if cv["group_by"] == "site" else "docs")
    columns = ["fold", "train docs", "test docs", group, *SUMMARY_METRICS]
    rows = [
        [
            str(fold["fold"]),
            str(fold["train_documents"]),
            str(fold["test_documents"]),
            str(fold["test_groups"]),
            *(f"{fold[name]:.3f}" for name in SUMMARY_METRICS),
        ]
        for fold in cv["fold_scores"]
    ]
    return columns, rows


def curve_rows(cv: dict) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the learning-curve table of a cross-validation."""
    columns = ["fraction", "train docs", *SUMMARY_METRICS]
    rows = [
        [
            f"{point['fraction']:.2f}",
            f"{point['documents']:.1f}",
            *(_mean_std(point[name]) for name in SUMMARY_METRICS),
        ]
        for point in cv["learning_curve"]
    ]
    return columns, rows


def ablation_table(ablation: dict) -> str:
    """The ablation: pooled out-of-fold scores of the model with each component switched."""
    variants = ablation["variants"]
    labels = list(dict.fromkeys(label for row in variants for label in row["f1"]))
    columns = ["variant", "macro-F1", *labels, "body_f1", "seconds"]
    rows = [
        [
            row["variant"],
            f"{row['macro_f1']:.3f}",
            *(f"{row['f1'][label]:.3f}" if label in row["f1"] else "-" for label in labels),
            f"{row['body_f1']:.3f}",
            f"{row['seconds']:.0f}",
        ]
        for row in variants
    ]
    title = f"ablation: {ablation['folds']}-fold cross-validation grouped by {ablation['group_by']}"
    return "\n".join([title, "", _text_table(columns, rows)])


def inspect_table(info: dict) -> str:
    """A model's metadata and its strongest features per label, for people."""
    data = info.get("training_data") or {}
    versions = ", ".join(f"{name} {version}" for name, version in info["versions"].items())
    lines = [
        f"model        {info['model']}",
        f"newsseg      {info.get('newsseg_version') or 'unknown'}"
        + (f" (saved {info['saved']})" if info.get("saved") else ""),
        f"labels       {', '.join(info['labels'])}",
        f"versions     {versions or 'unknown'}",
        f"data sha256  {data.get('sha256', 'unknown')}",
        f"trained on   {data.get('documents', '?')} documents, "
        f"{data.get('paragraphs', '?')} paragraphs, {data.get('sites', '?')} sites",
    ]
    lines += [f"warning      {problem}" for problem in info.get("metadata_problems", [])]
    if data.get("label_counts"):
        counts = ", ".join(f"{label} {count}" for label, count in data["label_counts"].items())
        lines.append(f"label counts {counts}")
    settings = ", ".join(f"{name}={value}" for name, value in sorted(info["params"].items()))
    lines.append(f"settings     {settings}")
    cv = info.get("cv")
    if cv:
        lines += ["", f"{cv['folds']}-fold cross-validation grouped by {cv['group_by']}:"]
        lines += [f"  {name:<12} {_mean_std(values)}" for name, values in cv["per_fold"].items()]
    else:
        lines += ["", "no cross-validation scores (train with --cv K to record them)"]
    if info.get("ablation"):
        lines += ["", ablation_table(info["ablation"])]
    for label, features in info["top_features"].items():
        lines += ["", f"strongest text features towards {label} (text model weights):"]
        lines += [
            f"  {item['weight']:>8.3f}  {feature_label(item['feature'])}" for item in features
        ]
    for label, cues in info.get("top_cues", {}).items():
        lines += ["", f"cues that decide {label} (share of the booster's split gain):"]
        lines += [f"  {item['share']:>8.1%}  {item['feature']}" for item in cues]
    return "\n".join(lines)


def feature_label(name: str) -> str:
    """A text feature's name for people: its n-gram quoted when it holds a space (or starts
    or ends with one), so that ``words__rights reserved`` reads ``words__"rights reserved"``
    and a character n-gram's edges show."""
    step, separator, term = name.partition("__")
    if not separator or not any(character.isspace() for character in term):
        return name
    return f"{step}__{json.dumps(term, ensure_ascii=False)}"


def write_json(path: str | Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


# --------------------------------------------------------------------------- documents
# A report is a title and sections of blocks (paragraphs, tables, pictures), rendered once as
# Markdown (pictures beside it as files) and once as one self-contained HTML file (pictures
# inside it as base64 PNG, no external CSS or JS: it opens offline).

TEXT_PREVIEW_CHARS = 160
"""Report tables cut paragraph texts to this many characters (errors.csv keeps them whole)."""
WORST_DOCUMENTS = 10
OPEN_SITES = 20
"""The per-site table shows at most this many sites, worst first; the rest are folded."""
CONTEXT_DOCUMENTS = 50
"""Documents with errors shown whole, with their labels (the worst first); others listed."""
OPEN_DOCUMENTS = 5
"""Of those, the first this many are unfolded."""

EVALUATION_FILES = {
    "html": "report.html",
    "markdown": "report.md",
    "confusion": "confusion.png",
    "reliability": "reliability.png",
    "errors": "errors.csv",
}
CV_FILES = {
    "html": "cv.html",
    "markdown": "cv.md",
    "curve": "learning_curve.png",
    "confusion": "confusion.png",
    "json": "cv.json",
}


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)
    """Indexes of right-aligned (numeric) columns."""
    wrap: set[int] = field(default_factory=set)
    """Indexes of columns of long values (paths, texts) that may break anywhere."""


@dataclass
class Picture:
    file_name: str
    png: bytes
    alt: str


@dataclass
class LabeledDocument:
    """A document's paragraphs in page order with their true and predicted labels: its
    misclassified paragraphs in context. Rows are ``(line, true, predicted, text)``."""

    rows: list[tuple[int, str, str, str]]


@dataclass
class Folded:
    """Blocks shown collapsed under a one-line summary (``<details>``)."""

    summary: str
    blocks: list[Block]
    unfolded: bool = False


Block = str | Table | Picture | LabeledDocument | Folded


@dataclass
class Report:
    title: str
    sections: list[tuple[str, list[Block]]]


def _cut(text: str, limit: int = TEXT_PREVIEW_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _numbers(*values: float) -> list[str]:
    return [f"{value:.3f}" for value in values]


# --------------------------------------------------------------------------- evaluation


def evaluation_report(evaluation: Evaluation, context: Sequence[str] = ()) -> Report:
    """The evaluation report: summary, per-label table, confusion heat map, reliability
    diagram, per-site (the worst open, the rest folded) and per-source scores, worst
    documents, and the misclassified paragraphs grouped by document, each shown in context."""
    from newsseg.evaluate import CALIBRATION_BINS, CONFIDENCE, PREDICTED
    from newsseg.plots import confusion_png, reliability_png  # matplotlib: only to draw

    scores = evaluation.scores
    confusion = Picture(
        EVALUATION_FILES["confusion"], confusion_png(scores["confusion"]), "confusion matrix"
    )
    paragraphs = evaluation.paragraphs
    confidence = paragraphs[CONFIDENCE].to_numpy(dtype=float)
    correct = (paragraphs["label"] == paragraphs[PREDICTED]).to_numpy()
    reliability = Picture(
        EVALUATION_FILES["reliability"], reliability_png(confidence, correct), "reliability"
    )
    sections: list[tuple[str, list[Block]]] = [
        ("Summary", [*context, _summary_line(scores), summary_table(scores), *_blocks(scores)]),
        ("Per label", [label_table(scores)]),
        (
            "Confusion matrix",
            ["Rows are true labels, columns predicted ones.", confusion, confusion_rows(scores)],
        ),
        (
            "Reliability",
            [
                f"Paragraphs in {CALIBRATION_BINS} bins of confidence (the largest label "
                "probability): how often the label is right in each, against the diagonal "
                "of perfect calibration.",
                reliability,
            ],
        ),
        ("Per site", site_blocks(evaluation.by_site)),
    ]
    if evaluation.by_source:
        sections.append(("Per source", [group_table(evaluation.by_source, "collection", "source")]))
    worst = evaluation.documents[:WORST_DOCUMENTS]
    root = _common_folder(paragraphs["source"])
    sections.append(
        (
            f"Worst documents ({len(worst)} of {len(evaluation.documents)})",
            ["Lowest accuracy first, then lowest body_f1.", document_table(worst, root)],
        )
    )
    documents = sum(1 for doc in evaluation.documents if doc["errors"])
    sections.append(
        (
            f"Misclassified paragraphs ({len(evaluation.errors)} in {documents} documents)",
            misclassified_blocks(evaluation, root),
        )
    )
    return Report("newsseg evaluation report", sections)


def _blocks(scores: dict) -> list[Block]:
    """The error-block line of a report's summary, where the scores have it."""
    return [error_block_line(scores["error_blocks"]) + "."] if "error_blocks" in scores else []


def site_blocks(sites: list[dict]) -> list[Block]:
    """The per-site table, worst first: the sites with errors (at most :data:`OPEN_SITES`)
    open, the rest folded under one line."""
    shown = [site for site in sites if site["errors"]][:OPEN_SITES]
    rest = sites[len(shown) :]
    blocks: list[Block] = [
        f"{len(sites)} sites, {sum(1 for site in sites if site['errors'])} with errors; "
        "worst accuracy first.",
        group_table(shown, "site"),
    ]
    if rest:
        perfect = all(site["errors"] == 0 for site in rest)
        summary = f"{len(rest)} more sites" + (", every paragraph right" if perfect else "")
        blocks.append(Folded(summary, [group_table(rest, "site")]))
    return blocks


def misclassified_blocks(evaluation: Evaluation, root: str | None) -> list[Block]:
    """Every misclassified paragraph in the context of its document (the worst documents
    first, the first few unfolded): the document's paragraphs with their labels, the wrong
    ones marked; documents beyond :data:`CONTEXT_DOCUMENTS` in a table."""
    from newsseg.evaluate import PREDICTED

    with_errors = [doc for doc in evaluation.documents if doc["errors"]]
    paragraphs = evaluation.paragraphs
    blocks: list[Block] = [
        f"Each document with errors, worst first, with every paragraph: line, true and "
        f"predicted label, text (cut to {TEXT_PREVIEW_CHARS} characters; "
        f"{EVALUATION_FILES['errors']} has every misclassified paragraph whole, with its "
        "probabilities)."
    ]
    for number, doc in enumerate(with_errors[:CONTEXT_DOCUMENTS]):
        rows = paragraphs[
            (paragraphs["source"] == doc["file"]) & (paragraphs["doc_id"] == doc["doc_id"])
        ]
        labeled = LabeledDocument(
            [
                (int(line), str(true), str(predicted), _cut(str(text)))
                for line, true, predicted, text in zip(
                    rows["line"], rows["label"], rows[PREDICTED], rows["text"], strict=True
                )
            ]
        )
        summary = (
            f"{_document_name(doc, root)} (site {doc['site']}): {doc['errors']} of "
            f"{doc['paragraphs']} paragraphs wrong"
        )
        blocks.append(Folded(summary, [labeled], unfolded=number < OPEN_DOCUMENTS))
    if len(with_errors) > CONTEXT_DOCUMENTS:
        more = with_errors[CONTEXT_DOCUMENTS:]
        blocks.append(
            Folded(f"{len(more)} more documents with errors", [document_table(more, root)])
        )
    return blocks


def _common_folder(sources) -> str | None:
    """The deepest folder holding every file of a report, so that it names them short."""
    folders = {os.path.dirname(os.path.abspath(s)) for s in set(sources) if s != "-"}
    try:
        return os.path.commonpath(sorted(folders)) if folders else None
    except ValueError:
        return None


def _short_path(source: str, root: str | None) -> str:
    if root is None or source == "-":
        return source
    return os.path.relpath(os.path.abspath(source), root)


def _document_name(doc: dict, root: str | None) -> str:
    name = _short_path(doc["file"], root)
    if Path(name).stem != doc["doc_id"]:  # a table's document
        name += f" ({doc['doc_id']})"
    return name


def _summary_line(scores: dict) -> str:
    return f"{scores['documents']} documents, {scores['paragraphs']} paragraphs."


def summary_table(scores: dict) -> Table:
    """Macro and micro averages, accuracy and the article-body score."""
    scored = [row for row in scores["labels"].values() if row["support"] > 0]
    macro = [sum(row[name] for row in scored) / len(scored) for name in LABEL_METRICS]
    # Every paragraph has exactly one true and one predicted label, so micro-averaged
    # precision, recall and F1 all equal accuracy.
    micro = [scores["accuracy"]] * 3
    rows = [
        ["macro (mean over labels)", *_numbers(*macro)],
        ["micro (pooled paragraphs)", *_numbers(*micro)],
        [
            "body_f1 (article-body shingles)",
            *_numbers(scores["body_precision"], scores["body_recall"], scores["body_f1"]),
        ],
    ]
    table = Table(["score", "precision", "recall", "f1"], rows, {1, 2, 3})
    table.rows.append(["accuracy", "", "", f"{scores['accuracy']:.3f}"])
    return table


def label_table(scores: dict) -> Table:
    rows = [
        [label, *_numbers(row["precision"], row["recall"], row["f1"]), str(row["support"])]
        for label, row in scores["labels"].items()
    ]
    return Table(["label", "precision", "recall", "f1", "support"], rows, {1, 2, 3, 4})


def confusion_rows(scores: dict) -> Table:
    labels = scores["confusion"]["labels"]
    rows = [
        [label, *(str(count) for count in counts)]
        for label, counts in zip(labels, scores["confusion"]["matrix"], strict=True)
    ]
    return Table([CONFUSION_CORNER, *labels], rows, set(range(1, len(labels) + 1)))


def group_table(groups: list[dict], key: str, title: str | None = None) -> Table:
    columns = [title or key, "documents", "paragraphs", "errors", *SUMMARY_METRICS]
    rows = [
        [
            group[key],
            str(group["documents"]),
            str(group["paragraphs"]),
            str(group["errors"]),
            *_numbers(*(group[name] for name in SUMMARY_METRICS)),
        ]
        for group in groups
    ]
    return Table(columns, rows, set(range(1, len(columns))), wrap={0})


def document_table(documents: list[dict], root: str | None = None) -> Table:
    columns = ["document", "file", "site", "paragraphs", "errors", "accuracy", "body_f1"]
    rows = [
        [
            doc["doc_id"],
            _short_path(doc["file"], root),
            doc["site"],
            str(doc["paragraphs"]),
            str(doc["errors"]),
            *_numbers(doc["accuracy"], doc["body_f1"]),
        ]
        for doc in documents
    ]
    return Table(columns, rows, {3, 4, 5, 6}, wrap={0, 1, 2})


def error_table(evaluation: Evaluation) -> Table:
    errors = evaluation.errors
    rows = [
        [
            f"{row.file}:{row.line}",
            row.true_label,
            row.predicted_label,
            f"{row.confidence:.2f}",
            _cut(row.text),
        ]
        for row in errors.itertuples(index=False)
    ]
    return Table(["file:line", "true", "predicted", "confidence", "text"], rows, {3}, wrap={0, 4})


# --------------------------------------------------------------------------- cross-validation


def cv_report(cv: dict, context: Sequence[str] = ()) -> Report:
    """The cross-validation report: mean ± std over folds, per label, per fold, the learning
    curve and the pooled confusion matrix."""
    from newsseg.plots import confusion_png, learning_curve_png  # matplotlib: only to draw

    means = Table(
        ["score", "mean ± std"], [[name, _mean_std(v)] for name, v in cv["per_fold"].items()], {1}
    )
    labels = Table(
        ["label", *LABEL_METRICS],
        [
            [label, *(_mean_std(metrics[name]) for name in LABEL_METRICS)]
            for label, metrics in cv.get("per_label", {}).items()
        ],
        {1, 2, 3},
    )
    intro = (
        f"{cv['folds']}-fold cross-validation grouped by {cv['group_by']}: no "
        f"{cv['group_by']} is on both sides of a split. {_summary_line(cv['pooled'])}"
    )
    sections: list[tuple[str, list[Block]]] = [
        ("Summary", [*context, intro, means]),
        ("Per label (mean ± std over folds)", [labels]),
    ]
    if cv.get("fold_scores"):
        columns, rows = fold_rows(cv)
        sections.append(("Folds", [Table(columns, rows, set(range(len(columns))))]))
    if cv.get("learning_curve"):
        columns, rows = curve_rows(cv)
        curve = Picture(CV_FILES["curve"], learning_curve_png(cv), "learning curve")
        sections.append(
            (
                "Learning curve",
                [
                    "Each fold is trained again on growing fractions of its training "
                    f"{cv['group_by']}s and scored on its held-out ones.",
                    curve,
                    Table(columns, rows, set(range(len(columns)))),
                ],
            )
        )
    if cv.get("tiers"):
        columns, rows = tier_rows(cv["tiers"])
        sections.append(
            (
                "Per label tier (pooled out-of-fold)",
                [
                    "All tiers train together; each tier's test documents are scored apart.",
                    Table(columns, rows, set(range(1, len(columns)))),
                ],
            )
        )
    pooled = cv["pooled"]
    confusion = Picture(
        CV_FILES["confusion"], confusion_png(pooled["confusion"], "Pooled out-of-fold"), "confusion"
    )
    sections.append(
        (
            "Pooled out-of-fold predictions",
            [
                summary_table(pooled),
                *_blocks(pooled),
                label_table(pooled),
                confusion,
                confusion_rows(pooled),
            ],
        )
    )
    return Report("newsseg cross-validation report", sections)


# --------------------------------------------------------------------------- rendering


_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]()!|~:@])|(?<=www)(\.)", re.IGNORECASE)
"""What makes text a link, an image (a remote one is a tracking pixel), emphasis, code,
a table cell's end or an autolink (``http:``, ``www.``, ``@``) in Markdown."""
_MARKDOWN_LINE_START = re.compile(r"^(\d*)([#+\-=>]|(?<=\d)[.)])")
"""What makes a line a heading, a list item or a rule."""


def _markdown_cell(text: str) -> str:
    """Text shown as it is in Markdown: HTML escaped, Markdown punctuation backslashed."""
    return _MARKDOWN_INLINE.sub(r"\\\g<0>", html.escape(str(text), quote=False))


def _markdown_paragraph(text: str) -> str:
    return _MARKDOWN_LINE_START.sub(r"\1\\\2", _markdown_cell(text))


def render_markdown(report: Report) -> str:
    """The report as Markdown; pictures are linked as files beside it."""
    lines = [f"# {report.title}", ""]
    for title, blocks in report.sections:
        lines += [f"## {title}", ""]
        lines += _markdown_blocks(blocks)
    return "\n".join(lines)


def _markdown_blocks(blocks: Sequence[Block]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Folded):
            # GitHub and most viewers fold <details>; Markdown inside needs blank lines.
            summary = html.escape(block.summary, quote=False)
            lines += [
                f"<details{' open' if block.unfolded else ''}>",
                f"<summary>{summary}</summary>",
                "",
            ]
            lines += _markdown_blocks(block.blocks)
            lines += ["</details>", ""]
            continue
        if isinstance(block, LabeledDocument):
            block = _document_table(block)
        if isinstance(block, Table):
            if not block.rows:
                lines += ["(none)", ""]
                continue
            align = [
                "---:" if index in block.numeric else "---" for index in range(len(block.columns))
            ]
            lines.append("| " + " | ".join(map(_markdown_cell, block.columns)) + " |")
            lines.append("| " + " | ".join(align) + " |")
            lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in block.rows]
        elif isinstance(block, Picture):
            lines.append(f"![{block.alt}]({block.file_name})")
        else:
            lines.append(_markdown_paragraph(block))
        lines.append("")
    return lines


WRONG_MARK = "✗"


def _document_table(document: LabeledDocument) -> Table:
    """A document in context as a plain table (Markdown): wrong rows marked."""
    rows = [
        [str(line), true, predicted, WRONG_MARK if true != predicted else "", text]
        for line, true, predicted, text in document.rows
    ]
    return Table(["line", "true", "predicted", "", "text"], rows, {0}, wrap={4})


HTML_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; vertical-align: top; text-align: left; }
td.wrap { overflow-wrap: anywhere; }
th { background: #f3f5f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafbfc; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
details { margin: 0.5em 0; } summary { cursor: pointer; }
.label { border-radius: 3px; padding: 0 0.35em; font-size: 0.9em; white-space: nowrap; }
.l-headline { background: #dbe9ff; } .l-body { background: #e3f4e1; }
.l-legal { background: #efe3f7; } .l-teaser { background: #fff0cf; } .l-other { background: #eee; }
tr.wrong td { background: #fde8e8 !important; }
"""


def _html_table(table: Table) -> str:
    if not table.rows:
        return "<p>(none)</p>"

    def cells(values: list[str], tag: str) -> str:
        return "".join(
            f"<{tag}{_html_class(table, index)}>{html.escape(str(value))}</{tag}>"
            for index, value in enumerate(values)
        )

    body = "\n".join(f"<tr>{cells(row, 'td')}</tr>" for row in table.rows)
    head = f"<thead><tr>{cells(table.columns, 'th')}</tr></thead>"
    return f"<table>\n{head}\n<tbody>\n{body}\n</tbody></table>"


def _html_document(document: LabeledDocument) -> str:
    """A document in context: each paragraph with its true label, and its predicted label
    beside it where that is wrong (the row marked), labels coloured by kind."""
    rows = []
    for line, true, predicted, text in document.rows:
        wrong = true != predicted
        guess = f"{_html_label(predicted)} {WRONG_MARK}" if wrong else ""
        row_class = ' class="wrong"' if wrong else ""
        rows.append(
            f'<tr{row_class}><td class="num">{line}</td>'
            f"<td>{_html_label(true)}</td><td>{guess}</td>"
            f'<td class="wrap">{html.escape(text)}</td></tr>'
        )
    head = "<thead><tr><th>line</th><th>true</th><th>predicted</th><th>text</th></tr></thead>"
    return f"<table>\n{head}\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


_CSS_NAME = re.compile(r"[a-z][a-z0-9-]*")


def _html_label(label: str) -> str:
    kind = label if _CSS_NAME.fullmatch(label) else "other"
    kind = kind if kind in ("headline", "body", "legal", "teaser") else "other"
    return f'<span class="label l-{kind}">{html.escape(label)}</span>'


def _html_class(table: Table, index: int) -> str:
    if index in table.numeric:
        return ' class="num"'
    return ' class="wrap"' if index in table.wrap else ""


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page: inline CSS, pictures as base64 PNG."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.title)}</title>",
        f"<style>{HTML_STYLE}</style>",
        "</head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    for title, blocks in report.sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts += _html_blocks(blocks)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_blocks(blocks: Sequence[Block]) -> list[str]:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Folded):
            parts.append(f"<details{' open' if block.unfolded else ''}>")
            parts.append(f"<summary>{html.escape(block.summary)}</summary>")
            parts += _html_blocks(block.blocks)
            parts.append("</details>")
        elif isinstance(block, LabeledDocument):
            parts.append(_html_document(block))
        elif isinstance(block, Table):
            parts.append(_html_table(block))
        elif isinstance(block, Picture):
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
        else:
            parts.append(f"<p>{html.escape(block)}</p>")
    return parts


# --------------------------------------------------------------------------- writing


def _pictures(report: Report) -> list[Picture]:
    return [picture for _, blocks in report.sections for picture in _pictures_in(blocks)]


def _pictures_in(blocks: Sequence[Block]) -> list[Picture]:
    found: list[Picture] = []
    for block in blocks:
        if isinstance(block, Picture):
            found.append(block)
        elif isinstance(block, Folded):
            found += _pictures_in(block.blocks)
    return found


def write_report(directory: str | Path, report: Report, names: dict[str, str]) -> list[Path]:
    """Write the report's HTML, Markdown and pictures into ``directory``, each atomically."""
    folder = Path(directory)
    outputs: dict[Path, str | bytes] = {
        folder / names["html"]: render_html(report),
        folder / names["markdown"]: render_markdown(report),
    }
    outputs.update({folder / picture.file_name: picture.png for picture in _pictures(report)})
    for path, content in outputs.items():
        _write(path, content)
    return list(outputs)


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        with atomic_output(path, "wb") as stream:
            stream.write(content)
    else:
        write_text(path, content)


def errors_csv(evaluation: Evaluation) -> str:
    """Every misclassified paragraph as CSV: file, line, doc_id, site, true_label,
    predicted_label, confidence, proba_<label>..., text. Text cells that a spreadsheet would
    run as a formula are neutralised (see :func:`~newsseg.dataset.neutralise_formula`)."""
    errors = evaluation.errors.copy()
    for column in errors.select_dtypes(exclude="number").columns:
        errors[column] = errors[column].map(neutralise_formula)
    return errors.to_csv(index=False, lineterminator="\n", float_format="%.6g")


def write_evaluation_report(
    directory: str | Path, evaluation: Evaluation, context: Sequence[str] = ()
) -> list[Path]:
    """Write report.html, report.md, confusion.png and errors.csv into ``directory``."""
    report = evaluation_report(evaluation, context)
    errors = errors_csv(evaluation)  # rendered before anything is written
    written = write_report(directory, report, EVALUATION_FILES)
    errors_path = Path(directory) / EVALUATION_FILES["errors"]
    write_text(errors_path, errors)
    return [*written, errors_path]


def write_cv_report(directory: str | Path, cv: dict, context: Sequence[str] = ()) -> list[Path]:
    """Write cv.html, cv.md, cv.json and the pictures (learning curve, pooled confusion)."""
    report = cv_report(cv, context)
    written = write_report(directory, report, CV_FILES)
    json_path = Path(directory) / CV_FILES["json"]
    write_json(json_path, cv)
    return [*written, json_path]


def write_png(path: str | Path, png: bytes) -> None:
    """Write a picture atomically."""
    _write(Path(path), png)
