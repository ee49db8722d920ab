"""Where the batches of a prediction run are labeled: in this process, or in worker
processes that each load the run's model once (the Dask executor: :mod:`.dask_executor`)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from newsseg.errors import WorkerLostError
from newsseg.predict.tasks import Task, TaskResult
from newsseg.predictor import Labeler

PREDICT_BATCH_BYTES = 5_000_000
"""predict labels its inputs in batches of about this many bytes of text (some 20 000
paragraphs of news): many small files share one model call (each costs a tenth of a
second), and memory stays bounded by a batch and the largest single input."""


PARALLEL_BATCH_BYTES = 500_000
"""With several workers, batches are smaller, so that the workers share the work evenly
(labeling 100 000 paragraphs in 2 665 files with --jobs 2 on 2 cores: 25.4 s with 1 MB
batches, 19-21 s with 500 kB; --jobs 1 took 35-36 s with batches of 0.5 to 5 MB)."""


class Executor(Protocol):
    """Runs ``work(task, model)`` for each task somewhere, yielding results in task order."""

    reads_files: bool
    """Whether workers can read the inputs' files; if not, this process reads them."""
    batch_bytes: int
    """The size of a task, in bytes of input."""

    def map(
        self,
        work: Callable[[Task, Any], TaskResult],
        tasks: Iterable[Task],
        model: Labeler,
    ) -> Iterator[TaskResult]: ...


class LocalExecutor:
    """Runs prediction batches in this process (``jobs=1``) or in ``jobs`` worker processes
    (joblib's loky backend), yielding their results in batch order."""

    reads_files = True

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self.batch_bytes = PREDICT_BATCH_BYTES if jobs == 1 else PARALLEL_BATCH_BYTES

    def map(
        self,
        work: Callable[[Task, Any], TaskResult],
        tasks: Iterable[Task],
        model: Labeler,
    ) -> Iterator[TaskResult]:
        if self.jobs == 1:
            return (work(task, model) for task in tasks)
        return self._in_workers(work, tasks, model)

    def _in_workers(self, work, tasks, model) -> Iterator[TaskResult]:
        from concurrent.futures.process import BrokenProcessPool  # loky's errors are these

        import joblib

        with tempfile.TemporaryDirectory(prefix="newsseg-model-") as folder:
            shipped = SharedModelFile(str(Path(folder) / "model.joblib"))
            joblib.dump(model, shipped.path)
            # At most two batches a worker in flight: memory stays bounded.
            parallel = joblib.Parallel(
                n_jobs=self.jobs, backend="loky", return_as="generator", pre_dispatch="2*n_jobs"
            )
            here = os.getcwd()  # loky reuses workers: one started elsewhere has another
            results = parallel(
                joblib.delayed(_on_worker)(work, task, shipped, here) for task in tasks
            )
            try:
                # Not `yield from`: it would close them outside the guard below.
                for result in results:  # noqa: UP028
                    yield result
            except BrokenProcessPool as error:  # a worker was killed (the OOM killer, say)
                raise WorkerLostError(_worker_death(error)) from None
            finally:  # an error ended the run: cancel the batches in flight
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # joblib's note saying so
                    results.close()


def _worker_death(error: Exception) -> str:
    """What loky says of a dead worker, in a few words: its exit code (a negative one is
    the signal that killed it; SIGKILL is what the out-of-memory killer sends)."""
    codes = re.search(r"exit codes of the workers are (\{[^}]*\})", str(error))
    how = f"exit codes {codes.group(1)}" if codes else type(error).__name__
    return f"a jobs=... worker process died ({how}: killed, out of memory or crashed)"


@dataclass(frozen=True)
class SharedModelFile:
    """A model saved by this run for its worker processes, each of which loads it once."""

    path: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


_worker_models: dict[SharedModelFile, Labeler] = {}
"""The model of the run a worker process serves, loaded on its first batch."""


def _on_worker(
    work: Callable[[Task, Any], TaskResult], task: Task, shipped: SharedModelFile, folder: str
):
    """``work`` on ``task`` in a worker process, with the run's model loaded once, in the
    run's working folder (relative input paths are read, and named in errors, as given)."""
    if os.getcwd() != folder:
        os.chdir(folder)
    return work(task, worker_model(shipped))


def worker_model(model: Labeler | SharedModelFile) -> Labeler:
    if not isinstance(model, SharedModelFile):
        return model
    if model not in _worker_models:
        import joblib

        _worker_models.clear()  # a worker serves one run at a time
        # A pickle, trusted: this run wrote it a moment ago in its own private folder.
        _worker_models[model] = joblib.load(model.path)
    return _worker_models[model]
