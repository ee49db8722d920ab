"""Prediction batches on a Dask cluster (``pip install 'newsseg[dask]'``): this process
still reads the inputs given by path (for a remote cluster) and writes the outputs, in
input order. Dask is imported only when an executor is made."""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from newsseg.errors import NewssegError, WorkerLostError
from newsseg.predict.executors import PARALLEL_BATCH_BYTES
from newsseg.predict.tasks import Task, TaskResult
from newsseg.predictor import Labeler

LOCAL_SCHEDULER = "local"
"""The ``--dask-scheduler`` address that starts a ``LocalCluster`` for the run."""


CONNECT_TIMEOUT_SECONDS = 10


def require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise NewssegError("Dask is not installed: pip install 'newsseg[dask]'") from None


class DaskExecutor:
    """Runs prediction batches on a Dask cluster, yielding results in batch order, with at
    most ``window`` batches in flight (memory stays bounded)."""

    batch_bytes = PARALLEL_BATCH_BYTES

    def __init__(self, client: Any, reads_files: bool = False, window: int | None = None):
        self.client = client
        self.reads_files = reads_files
        """Whether the workers can read this machine's files (a local cluster can)."""
        self.window = window

    def map(
        self,
        work: Callable[[Task, Any], TaskResult],
        tasks: Iterable[Task],
        model: Labeler,
    ) -> Iterator[TaskResult]:
        shipped = self.client.scatter(model, broadcast=True, hash=False)
        window = self.window or 2 * max(1, len(self.client.scheduler_info()["workers"]))
        pending: collections.deque = collections.deque()
        try:
            for task in tasks:
                pending.append(self.client.submit(work, task, shipped, pure=False))
                if len(pending) >= window:
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
        finally:  # an error ended the run: drop what is still queued
            for future in pending:
                future.cancel()


def _result(future: Any) -> TaskResult:
    """A batch's result; a lost worker or scheduler is a :class:`WorkerLostError`."""
    import concurrent.futures

    from distributed import KilledWorker
    from distributed.comm import CommClosedError

    try:
        return future.result()
    except KilledWorker as error:  # the scheduler gave up after workers died running it
        raise WorkerLostError(f"Dask workers died running a batch ({_first_line(error)})") from None
    except (concurrent.futures.CancelledError, CommClosedError) as error:
        what = _first_line(error) or type(error).__name__
        raise WorkerLostError(f"lost the Dask scheduler or its workers ({what})") from None


def _first_line(error: Exception) -> str:
    try:
        return " ".join(str(error).split())[:200]
    except Exception:  # distributed's own exceptions may fail to print
        return type(error).__name__


@contextlib.contextmanager
def dask_executor(scheduler: str, workers: int | None = None) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on the cluster at ``scheduler`` (an address such as
    ``tcp://host:8786``), or on a ``LocalCluster`` of ``workers`` processes for ``"local"``."""
    require_dask()
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler == LOCAL_SCHEDULER:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,  # the model is single-threaded Python: one per process
                processes=True,
                dashboard_address=":0",  # any free port: no clash with a running cluster
                silence_logs=logging.ERROR,
            )
            stack.enter_context(cluster)
            client = stack.enter_context(Client(cluster))
        else:
            if workers:
                raise NewssegError("jobs=... sets the workers of dask_scheduler=local only")
            try:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS)
            except (OSError, TimeoutError, ValueError, TypeError) as error:
                hint = _connect_hint(scheduler, error)
                raise NewssegError(
                    f"cannot reach the Dask scheduler at {scheduler}: {hint}"
                ) from None
            stack.enter_context(client)
        yield DaskExecutor(client, reads_files=scheduler == LOCAL_SCHEDULER)


TLS_SETTINGS = "distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and .key"


def _connect_hint(scheduler: str, error: Exception) -> str:
    """What to do when a client cannot be made for ``scheduler``: distributed raises a
    TypeError for a tls:// or wss:// address without certificates and for ucx:// without
    UCX support."""
    scheme = scheduler.partition("://")[0].lower() if "://" in scheduler else "tcp"
    if isinstance(error, TypeError) and scheme in ("tls", "wss"):
        return f"{scheme}:// needs the client's certificates in the Dask config ({TLS_SETTINGS})"
    if isinstance(error, TypeError) and scheme == "ucx":
        return "ucx:// needs UCX support for Dask (pip install distributed-ucxx), which is missing"
    return " ".join(str(error).split()) or type(error).__name__
