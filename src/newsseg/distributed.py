"""Label dumps beyond one machine, with Dask (``pip install 'newsseg[dask]'``).

- :func:`predict` is :func:`newsseg.api.predict` with its batches sent to a Dask cluster
  (``scheduler="local"`` starts a ``LocalCluster``); this process still reads the inputs
  given by path (for a remote cluster) and writes the outputs, in input order.
- :func:`label_dask_dataframe` labels a ``dask.dataframe`` of paragraphs (``doc_id``,
  ``text``), keeping each document whole within a partition.
- :func:`label_dask_bag` labels a ``dask.bag`` of documents: lists of paragraphs, or dump
  texts (one paragraph a line).

Every worker gets the model once (scattered to it, or one task of the graph), not once
per batch. Dask is imported only when one of these is called.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from newsseg import api, dataset
from newsseg.errors import NewssegError, WorkerLostError
from newsseg.model import ParagraphLabeler

__all__ = ["DaskExecutor", "label_dask_bag", "label_dask_dataframe", "predict"]

LOCAL_SCHEDULER = "local"
"""The ``--dask-scheduler`` address that starts a ``LocalCluster`` for the run."""
CONNECT_TIMEOUT_SECONDS = 10


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise NewssegError("Dask is not installed: pip install 'newsseg[dask]'") from None


class DaskExecutor:
    """Runs prediction batches on a Dask cluster, yielding results in batch order, with at
    most ``window`` batches in flight (memory stays bounded)."""

    batch_bytes = api.PARALLEL_BATCH_BYTES

    def __init__(self, client: Any, reads_files: bool = False, window: int | None = None):
        self.client = client
        self.reads_files = reads_files
        """Whether the workers can read this machine's files (a local cluster can)."""
        self.window = window

    def map(
        self,
        work: Callable[[api.Task, Any], api.TaskResult],
        tasks: Iterable[api.Task],
        model: ParagraphLabeler,
    ) -> Iterator[api.TaskResult]:
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


def _result(future: Any) -> api.TaskResult:
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
    _require_dask()
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
                raise NewssegError("--jobs sets the workers of '--dask-scheduler local' only")
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


def predict(
    paths: Sequence[str | Path],
    model: ParagraphLabeler | str | Path | None = None,
    *,
    scheduler: str = LOCAL_SCHEDULER,
    jobs: int = 1,
    **options: Any,
) -> api.PredictionRun:
    """:func:`newsseg.api.predict` (same ``options`` and result) with the batches labeled
    on the Dask cluster at ``scheduler``; ``jobs`` sets the workers of a local cluster."""
    with dask_executor(scheduler, jobs if jobs > 1 else None) as executor:
        return api.predict(paths, model, executor=executor, **options)


# --------------------------------------------------------------------------- collections


def _model_in_graph(model: ParagraphLabeler | str | Path | None) -> Any:
    """The model as an argument of Dask tasks: scattered to every worker when a distributed
    client is running, else one task of the graph; either way each worker gets it once."""
    labeler = api.load_model(model) if not isinstance(model, ParagraphLabeler) else model
    with contextlib.suppress(ImportError, ValueError):
        from distributed import default_client

        return default_client().scatter(labeler, broadcast=True, hash=False)
    import dask

    return dask.delayed(labeler, name=f"newsseg-model-{uuid.uuid4().hex}")


def label_dask_dataframe(
    paragraphs: Any, model: ParagraphLabeler | str | Path | None = None, *, proba: bool = True
) -> Any:
    """Label a ``dask.dataframe`` of paragraphs with columns ``doc_id`` and ``text`` (a
    document's rows consecutive, in page order); returns a lazy ``dask.dataframe`` with
    the columns of :func:`newsseg.label_frame` (``label``, ``proba_<label>``).

    The labels are those of ``label_frame`` on the whole frame: the last document of each
    partition is moved to the next one, so no document is split between partitions. The
    index of each partition starts at 0.
    """
    _require_dask()
    import dask
    import dask.dataframe as dd

    if "doc_id" not in paragraphs.columns or "text" not in paragraphs.columns:
        raise NewssegError("label_dask_dataframe needs the columns doc_id and text")
    labeler = api.load_model(model) if not isinstance(model, ParagraphLabeler) else model
    meta = api.label_frame(paragraphs._meta, labeler, proba=proba)
    shipped = _model_in_graph(labeler)
    parts = paragraphs.to_delayed()
    labeled, carry = [], None
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        whole, carry = dask.delayed(_whole_documents, nout=2)(carry, part, last)
        labeled.append(dask.delayed(api.label_frame)(whole, shipped, proba=proba))
    return dd.from_delayed(labeled, meta=meta, verify_meta=False)


def _whole_documents(
    carry: pd.DataFrame | None, part: pd.DataFrame, last: bool
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The rows of ``carry`` and ``part`` but the last document (unless ``last``), and it."""
    frame = part if carry is None else pd.concat([carry, part])
    if last or frame.empty:
        return frame, None
    doc_ids = frame["doc_id"].to_numpy()
    start = len(doc_ids)
    while start > 0 and doc_ids[start - 1] == doc_ids[-1]:
        start -= 1
    return frame.iloc[:start], frame.iloc[start:]


def label_dask_bag(documents: Any, model: ParagraphLabeler | str | Path | None = None) -> Any:
    """Label a ``dask.bag`` of documents, each a list of paragraphs or a dump's text (one
    paragraph a line, blank lines skipped); returns a lazy bag holding, for each document,
    its ``(label, paragraph)`` pairs in page order. A partition is labeled in one call."""
    _require_dask()
    return documents.map_partitions(_label_documents, _model_in_graph(model))


def _label_documents(
    documents: Iterable[str | Sequence[str]], model: ParagraphLabeler
) -> list[list[tuple[str, str]]]:
    paragraph_lists = [
        dataset.split_dump(document) if isinstance(document, str) else list(document)
        for document in documents
    ]
    frame = pd.DataFrame(
        {
            "doc_id": [n for n, texts in enumerate(paragraph_lists) for _ in texts],
            "text": list(itertools.chain.from_iterable(paragraph_lists)),
        }
    )
    labels = iter(api.label_frame(frame, model, proba=False)["label"].tolist())
    return [[(next(labels), text) for text in texts] for texts in paragraph_lists]
