"""Label Dask collections of paragraphs and documents (``pip install 'newsseg[dask]'``).

- :func:`label_dask_dataframe` labels a ``dask.dataframe`` of paragraphs (``doc_id``,
  ``text``), keeping each document whole within a partition.
- :func:`label_dask_bag` labels a ``dask.bag`` of documents: lists of paragraphs, or dump
  texts (one paragraph a line).

Every worker gets the model once (scattered to it, or one task of the graph), not once
per partition. Dask is imported only when one of these is called. ``newsseg predict``'s
batches on a cluster: :mod:`newsseg.predict.dask_executor`.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from newsseg import dataset
from newsseg.errors import NewssegError
from newsseg.model_file import ModelArgument, labeler_of
from newsseg.predict.dask_executor import require_dask
from newsseg.predict.labeling import label_frame
from newsseg.predictor import Labeler

__all__ = ["label_dask_bag", "label_dask_dataframe"]


def _model_in_graph(model: ModelArgument, trust_pickle: bool = False) -> Any:
    """The model as an argument of Dask tasks: scattered to every worker when a distributed
    client is running, else one task of the graph; either way each worker gets it once."""
    labeler = labeler_of(model, trust_pickle=trust_pickle)
    with contextlib.suppress(ImportError, ValueError):
        from distributed import default_client

        return default_client().scatter(labeler, broadcast=True, hash=False)
    import dask

    return dask.delayed(labeler, name=f"newsseg-model-{uuid.uuid4().hex}")


def label_dask_dataframe(
    paragraphs: Any, model: ModelArgument = None, *, proba: bool = True, trust_pickle: bool = False
) -> Any:
    """Label a ``dask.dataframe`` of paragraphs with columns ``doc_id`` and ``text`` (a
    document's rows consecutive, in page order); returns a lazy ``dask.dataframe`` with
    the columns of :func:`newsseg.label_frame` (``label``, ``proba_<label>``).

    The labels are those of ``label_frame`` on the whole frame: the last document of each
    partition is moved to the next one, so no document is split between partitions. The
    index of each partition starts at 0. ``trust_pickle`` allows a pickle-based model file
    (loading it runs any code it carries).
    """
    require_dask()
    import dask
    import dask.dataframe as dd

    if "doc_id" not in paragraphs.columns or "text" not in paragraphs.columns:
        raise NewssegError("label_dask_dataframe needs the columns doc_id and text")
    labeler = labeler_of(model, trust_pickle=trust_pickle)
    meta = label_frame(paragraphs._meta, labeler, proba=proba)
    shipped = _model_in_graph(labeler)
    parts = paragraphs.to_delayed()
    labeled, carry = [], None
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        whole, carry = dask.delayed(_whole_documents, nout=2)(carry, part, last)
        labeled.append(dask.delayed(label_frame)(whole, shipped, proba=proba))
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


def label_dask_bag(
    documents: Any, model: ModelArgument = None, *, trust_pickle: bool = False
) -> Any:
    """Label a ``dask.bag`` of documents, each a list of paragraphs or a dump's text (one
    paragraph a line, blank lines skipped); returns a lazy bag holding, for each document,
    its ``(label, paragraph)`` pairs in page order. A partition is labeled in one call.
    ``trust_pickle`` allows a pickle-based model file (loading it runs any code it carries)."""
    require_dask()
    return documents.map_partitions(_label_documents, _model_in_graph(model, trust_pickle))


def _label_documents(
    documents: Iterable[str | Sequence[str]], model: Labeler
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
    labels = iter(label_frame(frame, model, proba=False)["label"].tolist())
    return [[(next(labels), text) for text in texts] for texts in paragraph_lists]
