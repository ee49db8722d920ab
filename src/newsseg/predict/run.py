"""A prediction run: plan the tasks, have an executor label them, hand each input's result
to the sink in input order, and account for what failed (see :func:`predict`)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from newsseg.config import ordered_labels
from newsseg.errors import NewssegError, WorkerLostError
from newsseg.model_file import ModelArgument, labeler_of
from newsseg.predict.executors import Executor, LocalExecutor
from newsseg.predict.labeling import without_sequence
from newsseg.predict.outputs import (
    ARTICLE_FORMAT,
    OUTPUT_FORMATS,
    NamedInput,
    Output,
    PredictionSink,
    PredictSettings,
)
from newsseg.predict.tasks import (
    Task,
    TaskResult,
    expand_inputs,
    label_task,
    plan_tasks,
)
from newsseg.predictor import Labeler
from newsseg.progress import Track, silent


@dataclass
class PredictionRun:
    """What :func:`predict` did."""

    inputs: int = 0
    """Inputs tried: files, and standard input."""
    written: list[Path] = field(default_factory=list)
    """Files written (with ``output_dir``)."""
    text: str = ""
    """The predictions, when neither ``output_dir`` nor ``stream`` was given."""
    failed: list[NewssegError] = field(default_factory=list)
    """One error for each input that was not predicted, in input order."""
    labeled: int = 0
    """Inputs labeled (neither failed nor skipped)."""
    paragraphs: int = 0
    """Paragraphs labeled."""
    skipped: list[Path] = field(default_factory=list)
    """Existing output files kept with ``skip_existing`` (their inputs are not labeled)."""
    seconds: float = 0.0
    """Wall-clock time of the run."""

    def summary(self) -> str:
        """One line for people: files, paragraphs, seconds and paragraphs per second."""
        rate = self.paragraphs / self.seconds if self.seconds > 0 else 0.0
        line = (
            f"labeled {self.labeled} file(s), {self.paragraphs} paragraph(s) in "
            f"{self.seconds:.1f} s ({rate:.0f} paragraphs/s)"
        )
        if self.skipped:
            line += f"; kept {len(self.skipped)} existing output(s)"
        if self.failed:
            line += f"; {len(self.failed)} input(s) failed"
        return line


def predict(
    paths: Sequence[str | Path],
    model: ModelArgument = None,
    *,
    output_dir: str | Path | None = None,
    stream: TextIO | None = None,
    output_format: str = "tsv",
    proba: bool = False,
    encoding: str = "utf-8",
    force: bool = False,
    fail_fast: bool = False,
    min_confidence: float | None = None,
    no_sequence: bool = False,
    jobs: int = 1,
    skip_existing: bool = False,
    executor: Executor | None = None,
    dask_scheduler: str | None = None,
    trust_pickle: bool = False,
    track: Track = silent,
) -> PredictionRun:
    """Label dumps, labeled dumps and tables, in batches of inputs.

    With ``output_dir``, writes one file per document, named after the input's path (see
    :class:`NamedInput`: ``dumps/site-a/index.txt`` found in ``dumps/`` is written to
    ``output_dir/site-a/index.tsv``; a table's documents beside it, by ``doc_id``); else
    writes the predictions to ``stream``, or returns them as ``text`` of the result. Files
    inside ``output_dir`` are not read from the folders in ``paths``.
    ``output_format="article"`` writes only the headline and body paragraphs, as plain text
    (``.txt`` files). ``skip_existing`` keeps existing output files and does not label their
    inputs (to resume a run). An input
    that cannot be read (or its output written) is recorded in ``failed`` and the others are
    still predicted; with ``fail_fast`` its error is raised instead, once the inputs before
    it are done. Output files that clash or exist (without ``force``) stop it before it starts.

    ``jobs`` worker processes read and label the batches, while this process writes the
    results in input order; the output is the same for any ``jobs``. ``dask_scheduler`` labels
    the batches on the Dask cluster at that address instead (``"local"`` starts one of
    ``jobs`` workers; see :mod:`newsseg.predict.dask_executor`), ``executor`` on any other
    (see :class:`~newsseg.predict.executors.Executor`). A large table is read in
    chunks of whole documents, so memory stays bounded whatever the size of the inputs.
    ``track`` shows progress: inputs done of the total, and paragraphs labeled.
    """
    start = time.perf_counter()
    check_predict_options(
        output_format, proba, min_confidence, jobs, output_dir, force, skip_existing
    )
    labeler = without_sequence(labeler_of(model, trust_pickle=trust_pickle), no_sequence)
    labels = ordered_labels(labeler.classes_)
    inputs = expand_inputs(paths, output_dir)
    settings = PredictSettings(
        labels=tuple(labels),
        encoding=encoding,
        output_format=output_format,
        proba_labels=tuple(labels) if proba else (),
        per_document=output_dir is not None,
        min_confidence=min_confidence,
    )
    sink = PredictionSink(output_dir, stream, settings, force, inputs, skip_existing=skip_existing)
    with contextlib.ExitStack() as stack:
        runner = executor or stack.enter_context(_executor(dask_scheduler, jobs))
        return _run(inputs, settings, sink, runner, labeler, fail_fast, track, start)


@contextlib.contextmanager
def _executor(dask_scheduler: str | None, jobs: int) -> Iterator[Executor]:
    """The executor of a run: this process and ``jobs`` workers, or a Dask cluster."""
    if dask_scheduler is None:
        yield LocalExecutor(jobs)
        return
    from newsseg.predict.dask_executor import dask_executor

    with dask_executor(dask_scheduler, jobs if jobs > 1 else None) as on_dask:
        yield on_dask


def _run(
    inputs: list[NamedInput | NewssegError],
    settings: PredictSettings,
    sink: PredictionSink,
    runner: Executor,
    labeler: Labeler,
    fail_fast: bool,
    track: Track,
    start: float,
) -> PredictionRun:
    """Label the ``inputs`` on ``runner`` and hand the results to ``sink``, in input order."""
    dispatched: list[Task] = []  # the tasks handed to the workers, in order
    tasks = _recorded(plan_tasks(inputs, settings, runner, skip=sink.skipped_inputs), dispatched)
    results = runner.map(functools.partial(label_task, settings=settings), tasks, labeler)
    failed: dict[int, NewssegError] = {}
    emitted: set[int] = set()
    lost: NewssegError | None = None
    done = 0  # tasks whose results are all handled
    paragraphs = 0

    def handle(index: int, output: Output | NewssegError, count: int) -> None:
        nonlocal paragraphs
        if index in failed:
            return  # a later chunk of a table that failed
        error = output if isinstance(output, NewssegError) else sink.emit(index, output)
        if error is not None:
            if fail_fast:
                raise error
            failed[index] = error
            return
        emitted.add(index)
        paragraphs += count
        for _ in range(count):
            next(paragraph_steps)

    def task_done() -> None:
        nonlocal done
        done += 1

    todo = len(inputs) - len(sink.skipped_inputs)
    paragraph_steps = iter(track(_forever(), "paragraphs labeled"))
    try:
        steps = _input_steps(results, handle, task_done)
        for _ in track(steps, "inputs labeled", total=todo):
            pass
    except WorkerLostError as error:
        lost = _lost_inputs(error, inputs, dispatched, done, failed)
        if fail_fast:
            raise lost from None
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # stop the workers when an error ends the run
        close_steps = getattr(paragraph_steps, "close", None)
        if close_steps is not None:
            close_steps()  # ends the paragraphs' bar
    return PredictionRun(
        inputs=len(inputs),
        written=sink.written,
        text="".join(sink.chunks),
        failed=[failed[index] for index in sorted(failed)] + ([lost] if lost else []),
        labeled=len(emitted - set(failed)),
        paragraphs=paragraphs,
        skipped=sink.skipped,
        seconds=time.perf_counter() - start,
    )


def _recorded(tasks: Iterable[Task], dispatched: list[Task]) -> Iterator[Task]:
    for task in tasks:
        dispatched.append(task)
        yield task


LOST_NAMES_SHOWN = 5
"""A lost worker's message names this many of the inputs it leaves unwritten."""


def _lost_inputs(
    error: WorkerLostError,
    inputs: Sequence[NamedInput | NewssegError],
    dispatched: list[Task],
    done: int,
    failed: dict[int, NewssegError],
) -> WorkerLostError:
    """The one error of a run whose worker died after ``done`` tasks: what was lost, and
    the inputs not written (those of the tasks after ``done``, or never given out); a
    table some of whose documents were written before is named as written in part. Bad
    inputs among them get their own error in ``failed``."""
    finished = {index for task in dispatched[:done] for index, _ in task}
    unfinished = {index for task in dispatched[done:] for index, _ in task}
    never_sent = set(range(len(inputs))) - finished - unfinished
    missing = []
    for index in sorted((unfinished | never_sent) - set(failed)):
        if isinstance(inputs[index], NewssegError):
            failed[index] = inputs[index]  # known before the worker died
        elif index not in finished:
            missing.append(_path_of(inputs[index]))
    partly = [_path_of(inputs[index]) for index in sorted(finished & unfinished - set(failed))]
    message = f"{error}; not written: {_some(missing)}"
    if partly:
        message += f"; written in part (the documents before it): {_some(partly)}"
    return WorkerLostError(message)


def _path_of(item: NamedInput | NewssegError) -> str:
    return item.path if isinstance(item, NamedInput) else str(item)


def _some(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:LOST_NAMES_SHOWN])
    more = len(names) - LOST_NAMES_SHOWN
    return f"{shown} and {more} more ({len(names)} inputs)" if more > 0 else shown


def check_predict_options(
    output_format: str,
    proba: bool = False,
    min_confidence: float | None = None,
    jobs: int = 1,
    output_dir: str | Path | None = None,
    force: bool = False,
    skip_existing: bool = False,
) -> None:
    """Refuse settings of :func:`predict` that do not go together (before a model loads)."""
    if output_format not in OUTPUT_FORMATS:
        raise NewssegError(f"unknown output format {output_format!r}")
    if jobs < 1:
        raise NewssegError(f"jobs=N must be 1 or more, not {jobs}")
    plain = output_format in ("tsv", ARTICLE_FORMAT)
    if proba and plain:
        raise NewssegError("proba=True needs output_format=jsonl or csv")
    if min_confidence is not None and plain:
        raise NewssegError("min_confidence=... needs output_format=jsonl or csv")
    if skip_existing and output_dir is None:
        raise NewssegError("skip_existing=True needs output_dir=... (the outputs it keeps)")
    if skip_existing and force:
        raise NewssegError("skip_existing=True and force=True contradict each other; pick one")


def _forever() -> Iterator[None]:
    while True:
        yield None


def _input_steps(
    results: Iterable[TaskResult],
    handle: Callable[[int, Output | NewssegError, int], None],
    task_done: Callable[[], None],
) -> Iterator[int]:
    """Hand every input's (or chunk's) result to ``handle`` and call ``task_done`` after each
    task's; yield once per input (the chunks of a table come one after another)."""
    last = None
    for result in results:
        for index, output, count in result:
            handle(index, output, count)
            if index != last:
                last = index
                yield index
        task_done()
