"""What a prediction run labels: its inputs, each with its name in the outputs, in batches
(tasks) of about the same size, and the work of one worker on a batch."""

from __future__ import annotations

import dataclasses
import itertools
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from newsseg import dataset
from newsseg.config import (
    DUMP_SUFFIXES,
    LABELED_SUFFIXES,
    STDIN_PATH,
    TABLE_SUFFIXES,
)
from newsseg.errors import InputError, NewssegError
from newsseg.predict.labeling import label_confidence, label_frame
from newsseg.predict.outputs import (
    ARTICLE_FORMAT,
    NamedInput,
    Output,
    PredictSettings,
    join_documents,
    named_by_content,
    prediction_header,
    prediction_lines,
)
from newsseg.predictor import Labeler

PREDICT_LABEL_HINT = (
    "the model's labels; predict reads *.tsv as label<TAB>text, plain text as *.txt"
)
STREAM_TABLE_BYTES = 4_000_000
"""A table file larger than this is read here in chunks of whole documents (see
:func:`newsseg.dataset.iter_table`) that are labeled as they come; a smaller input is read
whole by the worker that labels it."""


PREDICT_SUFFIXES = DUMP_SUFFIXES + LABELED_SUFFIXES + TABLE_SUFFIXES


Source = NamedInput | NewssegError | dataset.Paragraphs
"""What a worker gets of an input: its path to read, its paragraphs, or its error."""


Task = list[tuple[int, Source]]
"""A batch of inputs (or chunks of a table) labeled together, with their input numbers."""


TaskResult = list[tuple[int, Output | NewssegError, int]]
"""Each input's (or chunk's) number, its predictions or error, and its paragraphs."""


class Batching(Protocol):
    """How an executor wants its tasks: their size, and whether its workers read files."""

    reads_files: bool
    batch_bytes: int


# --------------------------------------------------------------------------- inputs


def expand_inputs(
    paths: Sequence[str | Path], output_dir: str | Path | None
) -> list[NamedInput | NewssegError]:
    """The files named by ``paths``, each with its name (see :class:`NamedInput`), and an
    error for each path that names none. Files found in a folder that lie inside
    ``output_dir`` are left out: earlier outputs, not inputs."""
    outputs = None if output_dir is None else os.path.abspath(output_dir)
    files_root = _deepest_folder([raw for raw in paths if not Path(raw).is_dir()])
    inputs: list[NamedInput | NewssegError] = []
    for raw in paths:
        try:
            found = dataset.expand_path(raw, PREDICT_SUFFIXES)
        except InputError as error:
            inputs.append(error)
            continue
        # A folder's bad entries (a broken link, a FIFO) come back as errors: keep them.
        bad = [path for path in found if isinstance(path, NewssegError)]
        found = [path for path in found if not isinstance(path, NewssegError)]
        if not Path(raw).is_dir():
            inputs += [NamedInput(str(path), input_name(path, files_root)) for path in found]
            inputs += bad
            continue
        if outputs is not None:
            found = [path for path in found if not _is_inside(path, outputs)]
            if not found and not bad:
                inputs.append(InputError(raw, "no inputs in folder outside the output folder"))
        root = os.path.abspath(raw)
        inputs += [NamedInput(str(path), input_name(path, root)) for path in found]
        inputs += bad
    return inputs


def _is_inside(path: str | Path, folder: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), folder]) == folder


def _deepest_folder(files: Sequence[str | Path]) -> str | None:
    """The deepest folder holding all ``files`` (standard input aside)."""
    folders = [os.path.dirname(os.path.abspath(f)) for f in files if str(f) != STDIN_PATH]
    try:
        return os.path.commonpath(folders) if folders else None
    except ValueError:  # paths on different drives
        return None


def input_name(source: str | Path, root: str | None) -> str:
    """An input's name in outputs: its path below ``root`` without its suffix, with ``/``
    between folders (``site-a/index``); ``stdin`` for standard input."""
    if str(source) == STDIN_PATH:
        return "stdin"
    if root is None:
        return Path(source).stem
    relative = Path(os.path.relpath(os.path.abspath(source), root))
    if relative.parts[:1] == ("..",):  # not below root (cannot happen for named paths)
        return Path(source).stem
    return relative.with_suffix("").as_posix()


# --------------------------------------------------------------------------- tasks


def plan_tasks(
    inputs: Sequence[NamedInput | NewssegError],
    settings: PredictSettings,
    runner: Batching,
    skip: set[int] | frozenset[int] = frozenset(),
) -> Iterator[Task]:
    """The inputs (but those numbered in ``skip``) in batches of about
    ``runner.batch_bytes``, in input order."""
    task: Task = []
    size = 0
    for index, item in enumerate(inputs):
        if index in skip:
            continue
        for source, weight in _sources(item, settings, runner.reads_files):
            task.append((index, source))
            size += weight
            if size >= runner.batch_bytes:
                yield task
                task, size = [], 0
    if task:
        yield task


def _sources(
    item: NamedInput | NewssegError, settings: PredictSettings, workers_read: bool
) -> Iterator[tuple[Source, int]]:
    """What workers get of one input, with its weight in bytes: its path, for a worker to
    read; or its paragraphs read here (standard input, a large table in chunks, and any
    input when workers cannot read our files); or the error of reading it."""
    if isinstance(item, NewssegError):
        yield item, 0
        return
    size = None if item.path == STDIN_PATH else _file_size(item.path)
    large_table = (
        Path(item.path).suffix.lower() in TABLE_SUFFIXES and (size or 0) > STREAM_TABLE_BYTES
    )
    if workers_read and size is not None and not large_table:
        yield item, size
        return
    try:
        empty = True
        for part in _read_paragraphs(item, settings):
            if len(part):
                empty = False
                yield part, sum(map(len, part.texts))
        if empty:
            raise InputError(item.path, "no paragraphs")
    except NewssegError as error:
        yield error, 0


def _file_size(path: str | Path) -> int | None:
    """The size of a regular file; None for a pipe or device (``<(cat page.txt)``), which
    only this process can read, and only once."""
    try:
        status = os.stat(path)
    except OSError:
        return 0  # reading it says what is wrong
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _read_paragraphs(item: NamedInput, settings: PredictSettings) -> Iterator[dataset.Paragraphs]:
    parts = dataset.iter_paragraphs(
        item.path,
        labels=settings.labels,
        encoding=settings.encoding,
        label_hint=PREDICT_LABEL_HINT,
    )
    if named_by_content(item.path):
        return parts
    # A dump is one document, named by its path (two index.txt in two folders stay apart).
    return (dataclasses.replace(part, doc_ids=[item.name] * len(part)) for part in parts)


# --------------------------------------------------------------------------- a worker's work


def label_task(task: Task, model: Any, settings: PredictSettings) -> TaskResult:
    """Read the inputs of a batch that are given by path, label them all in one model call
    and format each input's predictions: the work of one worker."""
    labeler = model
    read: list[tuple[int, dataset.Paragraphs | NewssegError]] = []
    for index, source in task:
        try:
            read.append((index, _whole_input(source, settings)))
        except NewssegError as error:
            read.append((index, error))
    parts = [part for _, part in read if isinstance(part, dataset.Paragraphs)]
    outputs = iter(_label_and_format(parts, labeler, settings))
    return [
        (index, part, 0) if isinstance(part, NewssegError) else (index, next(outputs), len(part))
        for index, part in read
    ]


def _whole_input(source: Source, settings: PredictSettings) -> dataset.Paragraphs:
    if isinstance(source, NewssegError):
        raise source  # found while expanding the arguments or reading a table here
    if isinstance(source, dataset.Paragraphs):
        return source
    parts = list(_read_paragraphs(source, settings))
    whole = parts[0] if len(parts) == 1 else _joined_parts(source.path, parts)
    if not len(whole):
        raise InputError(source.path, "no paragraphs")
    return whole


def _joined_parts(source: str, parts: list[dataset.Paragraphs]) -> dataset.Paragraphs:
    def chained(name: str) -> list:
        return list(itertools.chain.from_iterable(getattr(part, name) for part in parts))

    return dataset.Paragraphs(source, chained("doc_ids"), chained("texts"), chained("lines"))


def _label_and_format(
    parts: list[dataset.Paragraphs], labeler: Labeler, settings: PredictSettings
) -> list[Output]:
    """Label the paragraphs of several inputs in one model call, then format each input;
    documents of different inputs stay apart even when their ``doc_id`` is the same."""
    if not parts:
        return []
    texts = list(itertools.chain.from_iterable(part.texts for part in parts))
    keys = [f"{n}/{doc_id}" for n, part in enumerate(parts) for doc_id in part.doc_ids]
    wants_proba = bool(settings.proba_labels) or settings.min_confidence is not None
    labeled = label_frame(pd.DataFrame({"doc_id": keys, "text": texts}), labeler, proba=wants_proba)
    columns: dict[str, list] = {
        "doc_id": list(itertools.chain.from_iterable(part.doc_ids for part in parts)),
        "line": list(itertools.chain.from_iterable(part.lines for part in parts)),
        "text": texts,
        "label": labeled["label"].tolist(),
    }
    if settings.min_confidence is not None:
        columns["review"] = (label_confidence(labeled) < settings.min_confidence).tolist()
    for label in settings.proba_labels:
        columns[f"proba_{label}"] = labeled[f"proba_{label}"].tolist()
    fmt, proba_labels = settings.output_format, settings.proba_labels
    lines = prediction_lines(columns, fmt, proba_labels)
    header = prediction_header(fmt, proba_labels, review="review" in columns)
    outputs: list[Output] = []
    start = 0
    for part in parts:
        end = start + len(part)
        if settings.per_document or fmt in ("tsv", ARTICLE_FORMAT):
            documents = join_documents(columns["doc_id"][start:end], lines[start:end])
            if settings.per_document:
                outputs.append([(doc_id, header + text) for doc_id, text in documents])
            else:
                outputs.append("\n".join(text for _, text in documents))
        else:
            outputs.append(header + "".join(lines[start:end]))
        start = end
    return outputs
