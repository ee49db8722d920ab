"""A fitted :class:`~newsseg.model.ParagraphLabeler` as the arrays of a model file (see
:mod:`newsseg.model_arrays`): what training writes, and what a v0.x skops file becomes.

Only scikit-learn's fitted attributes are read here; prediction from the arrays
(:class:`newsseg.predictor.ArrayLabeler`) never needs scikit-learn.
"""

from __future__ import annotations

import numpy as np

from newsseg.feature_steps import NgramTfidf
from newsseg.model import ParagraphLabeler
from newsseg.model_arrays import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SETTING_FLAGS,
    ModelArrays,
    problem,
)
from newsseg.stage_two import STRUCTURE_FLAGS

SETTINGS = ("sequence", *SETTING_FLAGS, *STRUCTURE_FLAGS)
"""The settings of a ParagraphLabeler that prediction follows (the others shape training)."""


class ConversionError(ValueError):
    """A fitted model this newsseg cannot write as arrays (made by an older newsseg)."""


def as_model_arrays(model: ParagraphLabeler, metadata: dict | None = None) -> ModelArrays:
    """The arrays and header of a fitted ``model`` (with ``metadata`` in the header),
    checked as a reader checks them: a :class:`ConversionError` for a model of an older
    design, a :class:`ValueError` for a state a reader would refuse."""
    classes = [str(label) for label in model.classes_]
    header: dict = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "labels": classes,
        "settings": {name: _plain(getattr(model, name)) for name in SETTINGS},
        "params": {name: _plain(value) for name, value in model.get_params().items()},
        "temperature": float(model.temperature_),
        "text": None,
        "topic": None,
        "layout": None,
        "memory": model.memory_ is not None,
        "metadata": metadata or {},
    }
    arrays: dict[str, np.ndarray] = {}
    if model.classifier_ is not None:
        header["text"] = _text_model(model, arrays)
    if model.topic_ is not None:
        vectorizer = model.topic_.vectorizer_
        header["topic"] = _vocabulary(vectorizer, "topic", arrays, terms=False)
    if model.layout_ is not None:
        header["layout"] = {"features": [str(n) for n in model.layout_.get_feature_names_out()]}
    if model.memory_ is not None:
        arrays["memory.hashes"] = np.asarray(model.memory_.hashes_, dtype="<i8")
        arrays["memory.counts"] = np.asarray(model.memory_.counts_, dtype="<i8")
    header["booster"] = _booster(model, arrays)
    _quantiser(model, arrays)
    arrays["chain.log_start"] = np.asarray(model.log_start_, dtype="<f8")
    arrays["chain.log_transitions"] = np.asarray(model.log_transitions_, dtype="<f8")
    arrays["chain.log_end"] = np.asarray(model.log_end_, dtype="<f8")
    arrays["chain.log_prior"] = np.asarray(model.log_prior_, dtype="<f8")
    found = problem(header, arrays)
    if found:  # a state no training gives (a crafted or damaged file)
        raise ValueError(found)
    return ModelArrays(header, arrays)


def _text_model(model: ParagraphLabeler, arrays: dict) -> dict:
    steps = []
    for name, step, _ in model.features_.transformers_:
        if name == "remainder":
            continue
        if not isinstance(step, NgramTfidf):
            raise ConversionError(
                f"its text step {name!r} is a {type(step).__name__}, written by newsseg "
                "before 0.3; retrain it with 'newsseg train DATA -o MODEL'"
            )
        steps.append({"name": name, **_vocabulary(step, f"text.{name}", arrays, terms=True)})
    classifier = model.classifier_
    # scikit-learn fits float32 rows with float32 coefficients and predicts in float32.
    dtype = "<f4" if classifier.coef_.dtype == np.float32 else "<f8"
    if classifier.intercept_.dtype != classifier.coef_.dtype:
        raise ConversionError("its text model's intercepts and coefficients differ in dtype")
    arrays["text.coef"] = np.asarray(classifier.coef_, dtype=dtype)
    arrays["text.intercept"] = np.asarray(classifier.intercept_, dtype=dtype)
    return {
        "steps": steps,
        "labels": [str(label) for label in classifier.classes_],
        "dtype": "float32" if dtype == "<f4" else "float64",
    }


def _vocabulary(step: NgramTfidf, prefix: str, arrays: dict, terms: bool) -> dict:
    arrays[f"{prefix}.hashes"] = np.asarray(step.hashes_, dtype="<u8")
    arrays[f"{prefix}.idf"] = np.asarray(step.idf_, dtype="<f4")
    if terms:
        encoded = [str(term).encode("utf-8") for term in step.terms_]
        arrays[f"{prefix}.terms"] = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
        arrays[f"{prefix}.term_ends"] = np.cumsum([len(t) for t in encoded], dtype="<i8")
    return {"analyzer": step.analyzer, "ngram_range": [int(n) for n in step.ngram_range]}


def _booster(model: ParagraphLabeler, arrays: dict) -> dict:
    booster_arrays, header = tree_arrays(model.booster_)
    arrays.update({f"booster.{name}": array for name, array in booster_arrays.items()})
    return header


def tree_arrays(booster) -> tuple[dict[str, np.ndarray], dict]:
    """A fitted ``HistGradientBoostingClassifier``'s trees as the node arrays of a
    :class:`newsseg.trees.TreeEnsemble` (by name), and what the header says of them."""
    if getattr(booster, "is_categorical_", None) is not None and booster.is_categorical_.any():
        raise ConversionError("its booster splits on categories, which newsseg never trains")
    trees = [tree for iteration in booster._predictors for tree in iteration]
    nodes = np.concatenate([tree.nodes for tree in trees])
    fields = {
        "feature": ("feature_idx", "<i8"),
        "threshold": ("num_threshold", "<f8"),
        "missing_left": ("missing_go_to_left", "|b1"),
        "left": ("left", "<i8"),
        "right": ("right", "<i8"),
        "is_leaf": ("is_leaf", "|b1"),
        "value": ("value", "<f8"),
        "gain": ("gain", "<f8"),
    }
    arrays = {name: nodes[field].astype(dtype) for name, (field, dtype) in fields.items()}
    arrays["tree_ends"] = np.cumsum([len(tree.nodes) for tree in trees], dtype="<i8")
    arrays["baseline"] = np.asarray(booster._baseline_prediction, dtype="<f8").ravel()
    header = {
        "labels": [str(label) for label in booster.classes_],
        "trees_per_iteration": len(booster._predictors[0]),
        "n_features": int(booster.n_features_in_),
    }
    return arrays, header


def _quantiser(model: ParagraphLabeler, arrays: dict) -> None:
    """The booster's input quantiser (none in files from before it: an empty one)."""
    quantiser = model.quantiser_
    columns = [] if quantiser is None else list(quantiser.columns_)
    thresholds = [] if quantiser is None else list(quantiser.thresholds_)
    arrays["quantiser.columns"] = np.asarray(columns, dtype="<i8")
    arrays["quantiser.threshold_ends"] = np.cumsum([len(t) for t in thresholds], dtype="<i8")
    arrays["quantiser.thresholds"] = (
        np.concatenate(thresholds).astype("<f8") if thresholds else np.zeros(0, dtype="<f8")
    )


def _plain(value):
    """A setting as plain JSON data (numpy scalars and tuples as Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value
