"""The state of an annotation run, apart from any web framework: the documents to label, the
labels a model proposes for them, the labels the user saves, and the models retrained on them.

A document is addressed by its index in the run, never by a path: the only files a run reads
are its inputs, its ``--base`` data and the labeled dumps in its output folder, and the only
files it writes are ``<output>/<name>.tsv``, one per document, each atomically.
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from newsseg import dataset
from newsseg.annotate import RETRAIN_EVERY
from newsseg.config import STDIN_PATH, TABLE_SUFFIXES, ordered_labels
from newsseg.errors import InputError, NewssegError, OutputError
from newsseg.model import ParagraphLabeler
from newsseg.model_file import resolve
from newsseg.predict import PREDICT_LABEL_HINT, PREDICT_SUFFIXES, label_confidence, label_frame

LOW_CONFIDENCE = 0.8
"""A paragraph whose proposed label has a lower probability is marked for a closer look."""
ORDERS = ("uncertain", "input")
"""``uncertain``: the documents the model is least sure of first; ``input``: as given."""
LABEL_KEYS = "123456789"
"""The key that sets each label, in the label order; further labels are set by clicking."""

_UNSAFE_IN_NAME = re.compile(r"[/\\\x00]")
"""Characters a table's ``doc_id`` cannot keep in an output file name (as in predict -o)."""


def document_uncertainty(confidence: Sequence[float] | np.ndarray) -> float:
    """How unsure a model is of a document: the expected share of its paragraphs whose
    proposed label is wrong, from the calibrated probability of each proposed label."""
    values = np.asarray(confidence, dtype=float)
    return float(np.mean(1.0 - values)) if len(values) else 0.0


def label_keys(labels: Sequence[str]) -> dict[str, str]:
    """The key of each label that has one: ``1`` for the first, ``2`` for the second, ..."""
    return dict(zip(labels, LABEL_KEYS, strict=False))


def document_name(doc_id: str, source: str) -> str:
    """The file stem a document is saved under: a dump's own stem, a table row's ``doc_id``
    (the names ``predict -o`` gives the same documents)."""
    if Path(source).suffix.lower() in TABLE_SUFFIXES:
        return _UNSAFE_IN_NAME.sub("_", str(doc_id)) or "_"
    return Path(source).stem


def labeled_dump_text(labels: Sequence[str], paragraphs: Sequence[str]) -> str:
    """A labeled dump: one ``label<TAB>text`` line per paragraph."""
    return "".join(f"{label}\t{text}\n" for label, text in zip(labels, paragraphs, strict=True))


@dataclass
class Document:
    """One document of the run and what is known of its labels."""

    index: int
    name: str
    """The stem of its output file, ``<output>/<name>.tsv``."""
    source: str
    """The input it was read from (shown to the user; never taken from a request)."""
    paragraphs: list[str]
    proposed: list[str] = field(default_factory=list)
    """The labels of the model that labeled it last (when it was saved, for a saved one)."""
    confidence: list[float] = field(default_factory=list)
    model: int = 0
    """The id of that model (see :attr:`Session.models`)."""
    saved_labels: list[str] | None = None
    """The labels in its output file, when that file holds this document."""
    other_file: bool = False
    """Its output file exists but holds other text: kept until this document is saved."""

    @property
    def saved(self) -> bool:
        return self.saved_labels is not None

    @property
    def labels(self) -> list[str]:
        """The labels to show: the saved ones, else the proposed ones."""
        return self.saved_labels if self.saved_labels is not None else self.proposed

    @property
    def uncertainty(self) -> float:
        return document_uncertainty(self.confidence)

    @property
    def changed(self) -> int:
        """Lines whose saved label differs from the label proposed for them."""
        if self.saved_labels is None:
            return 0
        return sum(a != b for a, b in zip(self.saved_labels, self.proposed, strict=True))


@dataclass
class ModelInfo:
    """A model of the run: the one it started with (id 0), or one it retrained."""

    id: int
    name: str
    saved_documents: int = 0
    base_documents: int = 0
    paragraphs: int = 0
    seconds: float = 0.0


@dataclass
class Training:
    """What the background training is doing, for the page."""

    running: bool = False
    stage: str = ""
    started: float = 0.0
    error: str | None = None
    pending: bool = False
    """Another run was asked for while one was running: it starts when that one ends."""


class Session:
    """An annotation run over ``documents``, saving to ``output_dir``. Thread-safe: the web
    server calls it from its request threads while a model trains in another thread."""

    def __init__(
        self,
        documents: list[Document],
        output_dir: Path,
        model: ParagraphLabeler,
        model_name: str,
        *,
        base: pd.DataFrame | None = None,
        order: str = "uncertain",
        retrain_every: int = RETRAIN_EVERY,
        params: dict[str, Any] | None = None,
    ) -> None:
        if order not in ORDERS:
            raise NewssegError(f"order=... must be one of {', '.join(ORDERS)}, not {order!r}")
        if retrain_every < 0:
            raise NewssegError(f"retrain_every=N must be 0 or more, not {retrain_every}")
        self.documents = documents
        self.output_dir = output_dir
        self.model = model
        self.labels = ordered_labels(model.classes_)
        self.base = base
        self.order_by = order
        self.retrain_every = retrain_every
        self.params = dict(params or {})
        self.models = [ModelInfo(0, model_name)]
        self.training = Training()
        self.saved_since_model = 0
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._label_with(model, 0, documents)
        self._resume()

    # -- reading the run's state

    def order(self) -> list[int]:
        """Document indices in the order to label them: the unsaved documents (the most
        uncertain first, or in input order), then the saved ones in input order."""
        with self._lock:
            todo = [doc for doc in self.documents if not doc.saved]
            if self.order_by == "uncertain":
                todo.sort(key=lambda doc: (-doc.uncertainty, doc.index))
            done = [doc for doc in self.documents if doc.saved]
            return [doc.index for doc in todo + done]

    def document(self, index: int) -> Document:
        """The document of number ``index``; a :class:`KeyError` for any other number."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise KeyError(index)
        if not 0 <= index < len(self.documents):
            raise KeyError(index)
        return self.documents[index]

    def document_view(self, index: int) -> dict:
        """What the page shows of a document, as plain data."""
        with self._lock:
            doc = self.document(index)
            model = self.models[doc.model]
            return {
                "index": doc.index,
                "name": doc.name,
                "source": doc.source,
                "saved": doc.saved,
                "other_file": doc.other_file,
                "changed": doc.changed,
                "uncertainty": doc.uncertainty,
                "model": {"id": model.id, "name": model.name},
                "paragraphs": [
                    {
                        "text": text,
                        "label": label,
                        "proposed": proposed,
                        "confidence": confidence,
                        "low": confidence < LOW_CONFIDENCE,
                    }
                    for text, label, proposed, confidence in zip(
                        doc.paragraphs, doc.labels, doc.proposed, doc.confidence, strict=True
                    )
                ],
            }

    def state(self) -> dict:
        """The run as the page's header and document list show it, as plain data."""
        with self._lock:
            saved = [doc for doc in self.documents if doc.saved]
            training = self.training
            return {
                "labels": self.labels,
                "keys": label_keys(self.labels),
                "low_confidence": LOW_CONFIDENCE,
                "order_by": self.order_by,
                "total": len(self.documents),
                "saved": len(saved),
                "changed_lines": sum(doc.changed for doc in saved),
                "retrain_every": self.retrain_every,
                "saved_since_model": self.saved_since_model,
                "output_dir": str(self.output_dir),
                "models": [vars(model).copy() for model in self.models],
                "training": {
                    "running": training.running,
                    "stage": training.stage,
                    "seconds": time.monotonic() - training.started if training.running else 0.0,
                    "error": training.error,
                    "pending": training.pending,
                },
                "documents": [
                    {
                        "index": doc.index,
                        "name": doc.name,
                        "saved": doc.saved,
                        "model": doc.model,
                        "uncertainty": doc.uncertainty,
                        "changed": doc.changed,
                    }
                    for doc in (self.documents[index] for index in self.order())
                ],
            }

    # -- saving

    def output_path(self, doc: Document) -> Path:
        return self.output_dir / f"{doc.name}.tsv"

    def save(self, index: int, labels: Sequence[str]) -> dict:
        """Save the labels of document ``index`` to its output file (atomically), and start
        a retraining when ``retrain_every`` documents have been saved since the last model.
        Returns the run's :meth:`state`."""
        doc = self.document(index)
        labels = self._checked_labels(doc, labels)
        with self._lock:
            dataset.write_text(self.output_path(doc), labeled_dump_text(labels, doc.paragraphs))
            doc.saved_labels = labels
            doc.other_file = False
            self.saved_since_model += 1
            due = self.retrain_every and self.saved_since_model >= self.retrain_every
        if due:
            self.start_training()
        return self.state()

    def _checked_labels(self, doc: Document, labels: Sequence[str]) -> list[str]:
        if not isinstance(labels, list | tuple) or len(labels) != len(doc.paragraphs):
            raise NewssegError(
                f"document {doc.index} has {len(doc.paragraphs)} paragraphs: "
                "send one label for each"
            )
        unknown = [label for label in labels if label not in self.labels]
        if unknown:
            raise NewssegError(f"label {str(unknown[0])!r} is not one of {', '.join(self.labels)}")
        return [str(label) for label in labels]

    def _resume(self) -> None:
        """Take the labels of documents already saved in the output folder."""
        for doc in self.documents:
            target = self.output_path(doc)
            if not target.is_file():
                continue
            frame = dataset.read_labeled_dump(
                target, labels=self.labels, label_hint="the labels of the model annotating"
            )
            if frame["text"].tolist() == doc.paragraphs:
                doc.saved_labels = frame["label"].tolist()
            else:
                doc.other_file = True

    # -- retraining

    def training_frame(self) -> tuple[pd.DataFrame, int, int]:
        """The saved documents (with their labels) and the base data, as one paragraph
        frame; and how many saved and base documents it holds. A saved document replaces a
        base document of the same name (it is the same page, labeled anew)."""
        with self._lock:
            saved = [doc for doc in self.documents if doc.saved]
            parts = [
                pd.DataFrame(
                    {"doc_id": doc.name, "text": doc.paragraphs, "label": doc.saved_labels}
                )
                for doc in saved
            ]
        base_documents = 0
        if self.base is not None:
            names = {doc.name for doc in saved}
            base = self.base[~self.base["doc_id"].isin(names)][["doc_id", "text", "label"]]
            base_documents = base["doc_id"].nunique()
            parts.append(base)
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return frame, len(saved), base_documents

    def train_now(self) -> ModelInfo:
        """Train a model on the saved documents and the base data, then label every unsaved
        document with it; the work of the background training, callable on its own."""
        with self._lock:
            frame, saved_documents, base_documents = self.training_frame()
            counted = self.saved_since_model  # saves during the training count for the next
        if frame.empty or frame["label"].nunique() < 2:
            raise NewssegError(
                "training needs at least two different labels: save more documents "
                "or give base=... data"
            )
        self._stage(f"training on {saved_documents} saved + {base_documents} base documents")
        start = time.monotonic()
        model = ParagraphLabeler(**self.params)
        try:
            model.fit(frame[["doc_id", "text"]], frame["label"].to_numpy())
        except ValueError as error:
            raise NewssegError(f"training failed: {error}") from None
        self._stage("labeling the unsaved documents")
        with self._lock:
            info = ModelInfo(
                id=len(self.models),
                name=f"model #{len(self.models)}, trained on {saved_documents} saved"
                f" + {base_documents} base documents",
                saved_documents=saved_documents,
                base_documents=base_documents,
                paragraphs=len(frame),
            )
            unsaved = [doc for doc in self.documents if not doc.saved]
        proposed = proposals(model, unsaved)
        with self._lock:  # the documents and the model that labels them change together
            self._apply(unsaved, proposed, info.id)
            info.seconds = time.monotonic() - start
            self.models.append(info)
            self.model = model
            self.saved_since_model = max(0, self.saved_since_model - counted)
        return info

    def start_training(self) -> bool:
        """Start :meth:`train_now` in a background thread; when one is running, ask for
        another after it instead. Returns whether a thread was started."""
        with self._lock:
            if self.training.running:
                self.training.pending = True
                return False
            self.training = Training(running=True, started=time.monotonic(), stage="starting")
            self._thread = threading.Thread(
                target=self._train_in_background, name="newsseg-annotate-training", daemon=True
            )
            self._thread.start()
            return True

    def wait_for_training(self, timeout: float | None = None) -> bool:
        """Wait until no training runs (tests, the benchmark); whether that is so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                thread, running = self._thread, self.training.running
            if not running:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if thread is not None:
                thread.join(remaining if remaining is None else min(remaining, 0.1))

    def _train_in_background(self) -> None:
        error = None
        try:
            self.train_now()
        except NewssegError as known:
            error = str(known)
        except Exception as unknown:  # a bug: shown on the page, not lost in a thread
            traceback.print_exc()
            error = f"training failed unexpectedly (a bug): {type(unknown).__name__}: {unknown}"
        with self._lock:
            again = self.training.pending and error is None
            self.training = Training(error=error)
        if again:
            self.start_training()

    def _stage(self, stage: str) -> None:
        with self._lock:
            self.training.stage = stage

    def _label_with(self, model: ParagraphLabeler, model_id: int, docs: list[Document]) -> None:
        """Propose ``model``'s labels (and their probabilities) for ``docs``."""
        self._apply(docs, proposals(model, docs), model_id)

    def _apply(
        self, docs: list[Document], proposed: list[tuple[list[str], list[float]]], model_id: int
    ) -> None:
        with self._lock:
            for doc, (labels, confidence) in zip(docs, proposed, strict=True):
                if not doc.saved:  # saved meanwhile: keep what it was saved against
                    doc.proposed, doc.confidence, doc.model = labels, confidence, model_id


def proposals(
    model: ParagraphLabeler, docs: Sequence[Document]
) -> list[tuple[list[str], list[float]]]:
    """``model``'s labels of each document's paragraphs and the probability of each."""
    if not docs:
        return []
    frame = pd.DataFrame(
        {
            "doc_id": [doc.name for doc in docs for _ in doc.paragraphs],
            "text": [text for doc in docs for text in doc.paragraphs],
        }
    )
    labeled = label_frame(frame, model)
    labels = [str(label) for label in labeled["label"]]
    confidence = [float(value) for value in label_confidence(labeled)]
    result, start = [], 0
    for doc in docs:
        end = start + len(doc.paragraphs)
        result.append((labels[start:end], confidence[start:end]))
        start = end
    return result


# --------------------------------------------------------------------------- opening a run


def read_documents(paths: Sequence[str | Path], encoding: str = "utf-8") -> list[Document]:
    """The documents of ``paths`` (dumps, labeled dumps' text, tables), in input order.
    Two documents that would be saved under one name are an error."""
    documents: list[Document] = []
    for path in dataset.expand_paths(paths, PREDICT_SUFFIXES):
        if str(path) == STDIN_PATH:
            raise InputError(path, "annotate reads files, not standard input")
        for part in dataset.iter_paragraphs(path, encoding=encoding, label_hint=PREDICT_LABEL_HINT):
            for doc_id, rows in dataset.document_runs(part.doc_ids):
                texts = [text for run in rows for text in part.texts[run]]
                name = document_name(str(doc_id), str(path))
                documents.append(Document(len(documents), name, str(path), texts))
    names: dict[str, Document] = {}
    for doc in documents:
        if doc.name in names:
            raise InputError(
                doc.source,
                f"would be saved as {doc.name}.tsv like {names[doc.name].source}; rename one",
            )
        names[doc.name] = doc
    empty = [doc for doc in documents if not doc.paragraphs]
    if empty:
        raise InputError(empty[0].source, "no paragraphs")
    if not documents:
        raise InputError(", ".join(map(str, paths)), "no documents to annotate")
    return documents


def open_session(
    paths: Sequence[str | Path],
    output_dir: str | Path,
    model: str | Path | ParagraphLabeler | None = None,
    *,
    base: Sequence[str | Path] = (),
    order: str = "uncertain",
    retrain_every: int = RETRAIN_EVERY,
    params: dict[str, Any] | None = None,
    encoding: str = "utf-8",
    trust_pickle: bool = False,
) -> Session:
    """Read the inputs and the base data, label the inputs with ``model`` (default: the
    shipped one) and take the labels already saved in ``output_dir``."""
    output = Path(output_dir)
    if output.exists() and not output.is_dir():
        raise OutputError(output, "is a file, not a folder")
    dataset.check_folder(output)
    output.mkdir(parents=True, exist_ok=True)
    resolved = resolve(model, trust_pickle=trust_pickle)
    labeler, model_name = resolved.labeler, resolved.name
    documents = read_documents(paths, encoding=encoding)
    base_frame = None
    if base:
        labels = ordered_labels(labeler.classes_)
        base_frame = dataset.read_documents(
            base,
            labeled=True,
            labels=labels,
            encoding=encoding,
            label_hint="the labels of the model annotating",
        )
    return Session(
        documents,
        output,
        labeler,
        f"model #0, {model_name}",
        base=base_frame,
        order=order,
        retrain_every=retrain_every,
        params=params,
    )


__all__ = [
    "Document",
    "ModelInfo",
    "Session",
    "document_uncertainty",
    "open_session",
    "read_documents",
]
