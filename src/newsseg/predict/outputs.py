"""Where a prediction run's labels go, and how they are written: one file per document in
a folder, a stream, or text; as labeled dumps (tsv), JSON lines, CSV or the clean article."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from newsseg import dataset
from newsseg.config import ARTICLE_LABELS, STDIN_PATH, TABLE_SUFFIXES
from newsseg.errors import NewssegError, OutputError


@dataclass(frozen=True)
class PredictSettings:
    """How the inputs of a prediction run are read and its outputs formatted."""

    labels: tuple[str, ...]
    encoding: str
    output_format: str
    proba_labels: tuple[str, ...]
    per_document: bool
    """Format each document apart (for one file each), rather than each input."""
    min_confidence: float | None = None
    """Paragraphs whose label has a lower probability are marked for review."""


Output = str | list[tuple[str, str]]
"""An input's predictions as text, or with ``per_document`` as ``(doc_id, text)`` pairs."""


@dataclass(frozen=True)
class NamedInput:
    """An input file (or ``-``) and its name in outputs: its path below the folder it was
    found in, or below the deepest folder holding the files named on their own, without its
    suffix (``site-a/index``): the ``doc_id`` of a dump, the name of its output file."""

    path: str
    name: str


ARTICLE_FORMAT = "article"
"""The clean article: only the headline and body paragraphs, in order, as plain text."""


OUTPUT_FORMATS = ("tsv", "jsonl", "csv", ARTICLE_FORMAT)


def prediction_header(output_format: str, proba_labels: Sequence[str], review: bool) -> str:
    """The header line of a format (only ``csv`` has one)."""
    if output_format != "csv":
        return ""
    names = ["doc_id", "line", "text", "label", *(["review"] if review else [])]
    return dataset.csv_lines([[*names, *(f"proba_{label}" for label in proba_labels)]])[0]


def prediction_lines(
    columns: Mapping[str, Sequence], output_format: str, proba_labels: Sequence[str]
) -> list[str]:
    """One output line per paragraph, its line end included. ``columns`` holds ``doc_id``,
    ``line``, ``text``, ``label``, maybe ``review``, and ``proba_<label>`` for each of
    ``proba_labels``: plain lists, so that formatting costs no pandas call per document."""
    if output_format == "tsv":
        return [
            f"{label}\t{_printable(text)}\n"
            for label, text in zip(columns["label"], columns["text"], strict=True)
        ]
    if output_format == ARTICLE_FORMAT:  # the other paragraphs give empty lines: none
        return [
            f"{text}\n" if label in ARTICLE_LABELS else ""
            for label, text in zip(columns["label"], columns["text"], strict=True)
        ]
    names = ["doc_id", "line", "text", "label", *(["review"] if "review" in columns else [])]
    probas = [columns[f"proba_{label}"] for label in proba_labels]
    if output_format == "csv":
        # As pandas' to_csv(float_format="%.6g") writes them: pandas uses this csv writer.
        rows = zip(
            *(columns[name] for name in names),
            *([f"{p:.6g}" for p in c] for c in probas),
            strict=True,
        )
        return dataset.csv_lines(rows)
    if output_format == "jsonl":
        lines = []
        for position, values in enumerate(zip(*(columns[name] for name in names), strict=True)):
            record = dict(zip(names, values, strict=True))
            record["line"] = int(record["line"])
            if proba_labels:
                record["proba"] = {
                    label: round(float(column[position]), 6)
                    for label, column in zip(proba_labels, probas, strict=True)
                }
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        return lines
    raise ValueError(f"unknown output format {output_format!r}; use one of {OUTPUT_FORMATS}")


_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters but tab and line feed: TSV output shows them escaped (``\\x1b``),
as a terminal would act on them (ANSI escapes) and a lone CR breaks a line for other tools."""


def _printable(text: str) -> str:
    return _CONTROL_IN_TEXT.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def join_documents(doc_ids: Sequence, lines: list[str]) -> list[tuple[str, str]]:
    """``(doc_id, text)`` of each document: its rows' output ``lines`` joined."""
    return [
        (doc_id, "".join(itertools.chain.from_iterable(lines[part] for part in parts)))
        for doc_id, parts in dataset.document_runs(doc_ids)
    ]


# --------------------------------------------------------------------------- sinks


class PredictionSink:
    """Where predictions go: one file per document in a folder, a stream, or a list."""

    def __init__(
        self,
        output_dir: str | Path | None,
        stream: TextIO | None,
        settings: PredictSettings,
        force: bool,
        inputs: Sequence[NamedInput | NewssegError],
        skip_existing: bool = False,
    ) -> None:
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.stream = stream
        self.output_format = settings.output_format
        self.force = force
        self.skip_existing = skip_existing
        self.inputs = inputs
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        """Existing outputs kept with ``skip_existing``."""
        self.skipped_inputs: set[int] = set()
        """Inputs not to label: their output exists and is kept."""
        self.chunks: list[str] = []
        self.emitted_text = False
        self.claimed: dict[Path, int] = {}
        """Output files and the input writing each, so no two inputs write the same one."""
        self.done: set[Path] = set()
        if self.output_dir is not None:
            self._claim_named_outputs(inputs)

    def _claim_named_outputs(self, inputs: Sequence[NamedInput | NewssegError]) -> None:
        """Check, before anything is predicted, the output folder and the outputs of inputs
        whose output name is their path (a table's come from its ``doc_id`` column)."""
        assert self.output_dir is not None
        dataset.check_folder(self.output_dir)
        for index, item in enumerate(inputs):
            if isinstance(item, NewssegError) or named_by_content(item.path):
                continue
            target = self._target(item.name)
            if target in self.claimed:
                raise OutputError(
                    target, "two inputs would be written to the same file; rename one"
                )
            if os.path.abspath(target) == os.path.abspath(item.path):
                raise OutputError(target, "would overwrite its own input; choose another -o")
            self.claimed[target] = index
            if self.skip_existing and target.exists():
                self.skipped.append(target)
                self.skipped_inputs.add(index)
            else:
                dataset.check_output(target, self.force)

    def _target(self, name: str) -> Path:
        assert self.output_dir is not None
        suffix = "txt" if self.output_format == ARTICLE_FORMAT else self.output_format
        folder, _, stem = name.rpartition("/")  # the folders are the inputs': names that exist
        return self.output_dir / folder / f"{_short_stem(stem)}.{suffix}"

    def emit(self, index: int, output: Output) -> NewssegError | None:
        """Write the predictions of input number ``index`` (or of a chunk of it); the error
        that stopped it, if any."""
        try:
            if isinstance(output, str):
                self._emit_text(output)
            else:
                self._emit_files(index, output)
        except NewssegError as error:
            return error
        return None

    def _emit_files(self, index: int, documents: list[tuple[str, str]]) -> None:
        item = self.inputs[index]
        assert isinstance(item, NamedInput)
        targets = [self._target(_output_name(doc_id, item)) for doc_id, _ in documents]
        counts = Counter(targets)
        for target in targets:  # check all of an input's outputs before writing any
            if self.claimed.setdefault(target, index) != index or counts[target] > 1:
                raise OutputError(
                    target, "two inputs would be written to the same file; rename one"
                )
            if target in self.done:  # written from an earlier chunk of the same table
                raise OutputError(
                    target, "the rows of its document are apart in the table; keep them together"
                )
            if not (self.skip_existing and target.exists()):
                dataset.check_output(target, self.force)
        for target, (_, text) in zip(targets, documents, strict=True):
            self.done.add(target)
            if self.skip_existing and target.exists():
                self.skipped.append(target)  # a table's document written by an earlier run
                continue
            dataset.write_text(target, text)
            self.written.append(target)

    def _emit_text(self, text: str) -> None:
        if self.emitted_text:
            if self.output_format in ("tsv", ARTICLE_FORMAT):
                text = "\n" + text  # a blank line between documents
            elif self.output_format == "csv":
                text = text.partition("\n")[2]  # one header line
        self.emitted_text = True
        if self.stream is None:
            self.chunks.append(text)
        else:
            self.stream.write(text)
            self.stream.flush()


_UNSAFE_IN_NAME = re.compile(r"[/\\\x00]")
"""Characters a ``doc_id`` cannot keep in an output file name."""


MAX_STEM_BYTES = 200
"""Output names are cut to this many bytes before their suffix: a file system allows 255
for a name, and the temporary file written beside it adds a dot and 9 characters."""


STEM_HASH_CHARS = 16


def _short_stem(stem: str) -> str:
    """``stem``, or when it is longer than :data:`MAX_STEM_BYTES` in UTF-8, its start and a
    hash of the whole of it: the same ``doc_id`` always gives the same name."""
    encoded = stem.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_STEM_BYTES:
        return stem
    digest = hashlib.sha256(encoded).hexdigest()[:STEM_HASH_CHARS]
    start = encoded[: MAX_STEM_BYTES - STEM_HASH_CHARS - 1].decode("utf-8", "ignore")
    return f"{start}-{digest}"


def _output_name(doc_id: str, item: NamedInput) -> str:
    """The name of a document's output file, without suffix: a dump's is its input's name;
    a table's is its ``doc_id``, in the folder of the table's name."""
    if not named_by_content(item.path):
        return item.name
    name = _UNSAFE_IN_NAME.sub("_", str(doc_id)) or "_"
    return (Path(item.name).parent / name).as_posix()


def named_by_content(source: str) -> bool:
    """Whether an input's output files are named by its ``doc_id`` column, not its name."""
    return source == STDIN_PATH or Path(source).suffix.lower() in TABLE_SUFFIXES
