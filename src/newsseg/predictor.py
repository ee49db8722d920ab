"""Labeling paragraphs from the arrays of a model file, with numpy and pandas alone.

:class:`ArrayLabeler` gives the labels and probabilities of the
:class:`~newsseg.model.ParagraphLabeler` its arrays were made from, to the bit: the same
feature functions (:mod:`newsseg.features`, :mod:`newsseg.ngrams`,
:mod:`newsseg.stage_two`), the text model's and the booster's arithmetic done in the order
scikit-learn does it (see :func:`sparse_decision`, :mod:`newsseg.trees`), and the same
decoding (:class:`newsseg.sequence.ChainDecoder`). Importing it imports no scikit-learn,
scipy or skops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from newsseg.binning import BinQuantiser
from newsseg.config import BODY_LABEL
from newsseg.features import (
    DOC_COLUMN,
    TEXT_COLUMN,
    as_paragraph_frame,
    as_text,
    document_slices,
    layout_matrix,
    memory_cues,
    topic_cues,
)
from newsseg.model_arrays import ModelArrays, header_stage_two_names, structure_settings
from newsseg.ngrams import NgramVocabulary, SparseRows
from newsseg.sequence import SEQUENCE_MODES, Chain, ChainDecoder
from newsseg.stage_two import stage_two_matrix
from newsseg.trees import gain_shares


class Labeler(Protocol):
    """What newsseg's functions need of a model: a fitted
    :class:`~newsseg.model.ParagraphLabeler` or an :class:`ArrayLabeler`."""

    classes_: np.ndarray

    def predict(self, X: Any) -> np.ndarray: ...

    def predict_proba(self, X: Any) -> np.ndarray: ...

    def predict_with_proba(self, X: Any) -> tuple[np.ndarray, np.ndarray]: ...

    def get_params(self, deep: bool = True) -> dict: ...

    def set_params(self, **params: Any) -> Labeler: ...

    def booster_leaf_max(self) -> float: ...

    def top_features(self, n: int = 15) -> dict[str, list[tuple[str, float]]]: ...

    def cue_importances(self) -> dict[str, dict[str, float]]: ...

    def stage_two_feature_names(self) -> list[str]: ...


DECODING_PARAMS = ("sequence",)
"""The settings of a loaded model that may change: they change decoding only."""


class ArrayLabeler:
    """A trained model read from a model file (see :mod:`newsseg.model_arrays`): labels
    paragraphs as the :class:`~newsseg.model.ParagraphLabeler` it was written from does.
    ``X`` is a frame with ``doc_id`` and ``text`` (a document's rows consecutive, in page
    order), or a list of paragraphs of one document."""

    def __init__(self, model: ModelArrays) -> None:
        self.stored = model
        """The arrays and header of the model file, as read."""
        header = model.header
        self.classes_ = np.asarray(model.labels, dtype=object)
        self.settings = model.settings
        self.sequence = self.settings["sequence"]
        self.temperature_ = float(header["temperature"])
        chain = model.step_arrays("chain")
        self.chain_ = Chain(chain["log_start"], chain["log_transitions"], chain["log_end"])
        self.log_prior_ = chain["log_prior"]
        text = header.get("text")
        self.text_steps = [
            (step["name"], _vocabulary(step, model.step_arrays(f"text.{step['name']}")))
            for step in (text["steps"] if text else [])
        ]
        self.text_labels = _indices(self.classes_, text["labels"]) if text else None
        self.topic = (
            _vocabulary(header["topic"], model.step_arrays("topic"))
            if header.get("topic")
            else None
        )
        self.layout_names = list(header["layout"]["features"]) if header.get("layout") else None
        self.trees = model.trees()
        self.booster_labels = _indices(self.classes_, header["booster"]["labels"])
        self.quantiser = _quantiser(model.step_arrays("quantiser"))

    def __repr__(self) -> str:
        return f"ArrayLabeler(labels={list(self.classes_)}, sequence={self.sequence!r})"

    # -- settings

    def get_params(self, deep: bool = True) -> dict:
        """The settings the model was trained with (``sequence`` as it is now)."""
        return {**self.stored.header["params"], "sequence": self.sequence}

    def set_params(self, **params: Any) -> ArrayLabeler:
        """Change how the model decodes (``sequence``); other settings need training."""
        unknown = sorted(set(params) - set(DECODING_PARAMS))
        if unknown:
            raise ValueError(
                f"a loaded model's {', '.join(unknown)} cannot change without training; "
                f"only {', '.join(DECODING_PARAMS)} can"
            )
        if "sequence" in params:
            if params["sequence"] not in SEQUENCE_MODES:
                raise ValueError(f"sequence must be one of {SEQUENCE_MODES}")
            self.sequence = params["sequence"]
        return self

    @property
    def decoder(self) -> ChainDecoder:
        zoned = self.settings["zones"] and BODY_LABEL in self.classes_
        return ChainDecoder(
            len(self.classes_),
            self.chain_,
            self.log_prior_,
            zoned,
            self.temperature_,
            self.sequence,
        )

    # -- the stages

    def text_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The text model's label probabilities (columns in ``classes_``), or None."""
        if not self.text_steps:
            return None
        texts = [as_text(text) for text in frame[TEXT_COLUMN].tolist()]
        rows = [vocabulary.transform(texts) for _, vocabulary in self.text_steps]
        text = self.stored.arrays
        decision = sparse_decision(rows, text["text.coef"], text["text.intercept"])
        proba = softmax(decision) if decision.ndim == 2 else binary_proba(decision)
        return _aligned(proba, self.text_labels, len(self.classes_))

    def layout_cues(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self.layout_names is None:
            return None
        texts = pd.Series(frame[TEXT_COLUMN].to_numpy(dtype=object)).map(as_text)
        return layout_matrix(texts, pd.Series(frame[DOC_COLUMN].to_numpy()).astype(str))

    def topic_cues(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self.topic is None:
            return None
        texts = frame[TEXT_COLUMN].astype(str).tolist()
        return topic_cues(self.topic, texts, frame[DOC_COLUMN])

    def memory_cues(self, frame: pd.DataFrame) -> np.ndarray | None:
        if not self.stored.header.get("memory"):
            return None
        arrays = self.stored.arrays
        return memory_cues(
            frame[TEXT_COLUMN], frame[DOC_COLUMN], arrays["memory.hashes"], arrays["memory.counts"]
        )

    def stage_two_features(self, X: Any) -> np.ndarray:
        """The boosting stage's feature matrix of paragraphs (see
        :func:`newsseg.stage_two.stage_two_matrix`)."""
        frame = as_paragraph_frame(X)
        return stage_two_matrix(
            frame,
            self.classes_,
            layout=self.layout_cues(frame),
            layout_names=self.layout_names or [],
            topic=self.topic_cues(frame),
            memory=self.memory_cues(frame),
            text_proba=self.text_proba(frame),
            use_context=self.settings["use_context"],
            structure=structure_settings(self.settings),
        )

    def stage_two_proba(self, stacked: np.ndarray) -> np.ndarray:
        """The booster's label probabilities of a :meth:`stage_two_features` matrix."""
        raw = self.trees.raw_scores(self.quantiser.transform(stacked))
        proba = softmax(np.asarray(raw, copy=True)) if raw.shape[1] > 1 else binary_proba(raw[:, 0])
        return _aligned(proba, self.booster_labels, len(self.classes_))

    def booster_proba(self, X: Any) -> np.ndarray:
        """The booster's per-paragraph label probabilities (before any decoding)."""
        frame = as_paragraph_frame(X)
        if frame.empty:
            return np.zeros((0, len(self.classes_)))
        return self.stage_two_proba(self.stage_two_features(frame))

    # -- prediction

    def predict(self, X: Any) -> np.ndarray:
        frame = as_paragraph_frame(X)
        proba = self.booster_proba(frame)
        return self.classes_[self.decoder.decode(proba, document_slices(frame[DOC_COLUMN]))]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Per-paragraph label probabilities, columns in ``classes_``: the chain's calibrated
        posterior marginals, or the booster's probabilities with ``sequence="none"``."""
        frame = as_paragraph_frame(X)
        slices = document_slices(frame[DOC_COLUMN])
        return self.decoder.reported_proba(self.booster_proba(frame), slices)

    def predict_with_proba(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Decoded labels and the probabilities :meth:`predict_proba` reports, computed with
        one pass of the feature stages."""
        frame = as_paragraph_frame(X)
        proba = self.booster_proba(frame)
        slices, decoder = document_slices(frame[DOC_COLUMN]), self.decoder
        return self.classes_[decoder.decode(proba, slices)], decoder.reported_proba(proba, slices)

    # -- what the model is

    def booster_leaf_max(self) -> float:
        """The largest absolute leaf value in the booster's trees (learning rate included)."""
        values = self.trees.value[self.trees.is_leaf]
        return float(np.abs(values).max(initial=0.0))

    def top_features(self, n: int = 15) -> dict[str, list[tuple[str, float]]]:
        """The ``n`` text features with the largest weight towards each label in the text
        model, strongest first. Names are prefixed by their step."""
        if not self.text_steps:
            return {str(label): [] for label in self.classes_}
        names = [
            f"{name}__{term}"
            for name, _ in self.text_steps
            for term in _terms(self.stored.step_arrays(f"text.{name}"))
        ]
        coef = np.asarray(self.stored.arrays["text.coef"])
        if coef.shape[0] == 1:  # two labels: one row, positive for the second
            coef = np.vstack([-coef[0], coef[0]])
        labels = [self.classes_[i] for i in self.text_labels]
        return {
            str(label): [(names[i], float(coef[row, i])) for i in np.argsort(-coef[row])[:n]]
            for row, label in enumerate(labels)
        }

    def stage_two_feature_names(self) -> list[str]:
        """Names of the boosting stage's features, in the columns of :meth:`stage_two_features`."""
        return header_stage_two_names(self.stored.header)

    def cue_importances(self) -> dict[str, dict[str, float]]:
        """Each stage-two feature's share of the split gain of the booster's trees for each
        label (each label's shares sum to 1; with two labels one tree set serves both)."""
        names = self.stage_two_feature_names()
        trees = self.trees
        per_iteration = trees.trees_per_iteration
        split = ~trees.is_leaf
        tree_kind = (trees.tree_of_node % per_iteration)[split]
        gains = np.zeros((per_iteration, len(names)))
        np.add.at(gains, (tree_kind, trees.feature[split]), np.maximum(trees.gain[split], 0.0))
        labels = [str(self.classes_[i]) for i in self.booster_labels]
        return gain_shares(gains, names, labels)


# --------------------------------------------------------------------------- arithmetic


def sparse_decision(rows: Sequence[SparseRows], coef: np.ndarray, intercept: np.ndarray):
    """A linear model's decision values of sparse rows given as column blocks side by side
    (``X @ coef.T + intercept``, 1-D for one row of coefficients), computed as scipy's
    sparse product over the stacked matrix computes them, so that the floats are the same:
    in the coefficients' dtype (a model fitted on float32 rows has float32 coefficients),
    each row's sum taken value by value, the first block's values before the next block's.
    ``np.add.at`` adds in array order, so the blocks' values are simply put one after the
    other."""
    dtype = np.result_type(rows[0].data.dtype, coef.dtype)
    offsets = np.cumsum([0] + [block.n_columns for block in rows])
    n_rows = len(rows[0])
    row_of_value = np.concatenate([block.row_of_value for block in rows])
    columns = np.concatenate([block.indices + o for block, o in zip(rows, offsets, strict=False)])
    values = np.concatenate([block.data for block in rows]).astype(dtype)
    weights = coef.astype(dtype, copy=False)
    decision = np.empty((n_rows, len(coef)), dtype=dtype)
    for k in range(len(coef)):
        sums = np.zeros(n_rows, dtype=dtype)
        np.add.at(sums, row_of_value, values * weights[k][columns])
        decision[:, k] = sums
    decision = decision + intercept.astype(dtype, copy=False)
    return decision[:, 0] if len(coef) == 1 else decision


def softmax(X: np.ndarray) -> np.ndarray:
    """scikit-learn's ``softmax`` (``utils.extmath``), in place: the same numpy calls, so the
    same floats."""
    X -= np.max(X, axis=1).reshape((-1, 1))
    np.exp(X, out=X)
    X /= np.sum(X, axis=1).reshape((-1, 1))
    return X


def expit(x: np.ndarray) -> np.ndarray:
    """``scipy.special.expit``, imported here: only two-label models need it (numpy's own
    ``exp`` differs from the C library's in the last bit for some values, so ``expit`` is
    not rewritten with it)."""
    from scipy.special import expit as scipy_expit

    return scipy_expit(x)


def binary_proba(decision: np.ndarray) -> np.ndarray:
    """Two-label probabilities of one decision value a row (the second label's log-odds)."""
    positive = expit(decision)
    out = np.empty((len(positive), 2), dtype=positive.dtype)
    out[:, 1] = positive
    out[:, 0] = 1 - positive
    return out


def _aligned(proba: np.ndarray, columns: np.ndarray, n_labels: int) -> np.ndarray:
    """Probabilities over some labels as columns over all (a label a stage never saw: 0)."""
    out = np.zeros((len(proba), n_labels))
    out[:, columns] = proba
    return out


def _indices(classes: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    return np.searchsorted(np.asarray(classes, dtype=str), np.asarray(labels, dtype=str))


def _vocabulary(step: dict, arrays: dict) -> NgramVocabulary:
    return NgramVocabulary(
        step["analyzer"], tuple(step["ngram_range"]), arrays["hashes"], arrays["idf"]
    )


def _bounds(ends: np.ndarray) -> list[tuple[int, int]]:
    """The start and end of each of the parts a concatenated array's ``ends`` mark."""
    stops = ends.tolist()
    return list(zip([0, *stops[:-1]], stops, strict=False))


def _terms(arrays: dict) -> list[str]:
    blob = arrays["terms"].tobytes()
    return [blob[a:b].decode("utf-8") for a, b in _bounds(arrays["term_ends"])]


def _quantiser(arrays: dict) -> BinQuantiser:
    quantiser = BinQuantiser()
    quantiser.columns_ = arrays["columns"].tolist()
    quantiser.thresholds_ = [
        arrays["thresholds"][a:b] for a, b in _bounds(arrays["threshold_ends"])
    ]
    return quantiser
