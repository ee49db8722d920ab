"""Labeling from a model file's arrays: the ArrayLabeler gives the labels, probabilities and
stage outputs of the ParagraphLabeler it was converted from, to the bit, for every setting;
the shipped model's arrays label the corpus as the shipped 0.5 skops file does."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from newsseg import dataset, model_file
from newsseg.conversion import as_model_arrays
from newsseg.features import as_paragraph_frame
from newsseg.model import ParagraphLabeler
from newsseg.predictor import ArrayLabeler, sparse_decision

from .conftest import TINY_PARAMS

FAST = {**TINY_PARAMS, "boost_iterations": 20}


@pytest.fixture(scope="module")
def tiny_frame(tiny_corpus) -> pd.DataFrame:
    return dataset.read_documents([tiny_corpus], labeled=True)


@pytest.fixture(scope="module")
def unseen() -> pd.DataFrame:
    """Pages the tiny models never saw: a notice inside the body, a teaser rail, a one-line
    page, an empty line and a very long one."""
    pages = {
        "a": [
            "Ferry service resumes",
            "The ferry has been the talk of the town this week.",
            "© 2024 Harbour Courier. All rights reserved.",
            "The last line of the story.",
            "Museum opens exhibition of ancient maps",
            "Storm closes schools",
        ],
        "b": ["Only a title"],
        "c": ["", "x" * 5000, "Copyright 2024 Example. Terms of use and privacy policy."],
    }
    rows = [(doc, text) for doc, texts in pages.items() for text in texts]
    return pd.DataFrame(rows, columns=["doc_id", "text"])


def assert_labels_alike(fitted: ParagraphLabeler, frames: list[pd.DataFrame]) -> ArrayLabeler:
    arrays = ArrayLabeler(as_model_arrays(fitted))
    for frame in frames:
        X = frame[["doc_id", "text"]]
        if len(X):  # scikit-learn's steps refuse an empty batch
            assert np.array_equal(arrays.stage_two_features(X), fitted.stage_two_features(X))
        assert np.array_equal(arrays.booster_proba(X), fitted.booster_proba(X))
        labels, proba = arrays.predict_with_proba(X)
        assert np.array_equal(proba, fitted.predict_proba(X))
        assert (labels == fitted.predict(X)).all()
        assert (arrays.predict(X) == labels).all()
        assert np.array_equal(arrays.predict_proba(X), proba)
    return arrays


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sequence": "marginal"},
        {"sequence": "none"},
        {"use_words": False},
        {"use_chars": False, "use_context": False},
        {"use_words": False, "use_chars": False},
        {"use_layout": False},
        {"use_topic": False, "use_memory": True},
        {"use_structure": False, "zones": False},
        {"use_relative": False},
        {"use_series": False, "use_layout": False},
        {"class_weight": None},
    ],
    ids=lambda params: ",".join(f"{k}={v}" for k, v in params.items()) or "default",
)
def test_arrays_label_as_the_fitted_model_to_the_bit(params, tiny_frame, unseen):
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    fitted = ParagraphLabeler(**{**FAST, **params}).fit(X, y)
    assert_labels_alike(fitted, [tiny_frame, unseen, unseen.iloc[:0]])


def test_two_labels_take_the_logistic_paths(tiny_frame, unseen):
    """With two labels the text model and the booster have one score a row (expit)."""
    frame = tiny_frame.assign(label=np.where(tiny_frame["label"] == "body", "body", "other"))
    fitted = ParagraphLabeler(**FAST).fit(frame[["doc_id", "text"]], frame["label"])
    assert fitted.classifier_.coef_.shape[0] == 1 and len(fitted.booster_._predictors[0]) == 1
    arrays = assert_labels_alike(fitted, [tiny_frame, unseen])
    assert set(arrays.top_features(3)) == {"body", "other"}


def test_what_the_model_is_reads_as_the_fitted_one(tiny_fitted):
    fitted, _ = tiny_fitted
    arrays = ArrayLabeler(as_model_arrays(fitted))
    assert arrays.top_features(7) == fitted.top_features(7)
    assert arrays.stage_two_feature_names() == fitted.stage_two_feature_names()
    assert arrays.booster_leaf_max() == fitted.booster_leaf_max()
    expected = fitted.cue_importances()
    found = arrays.cue_importances()
    assert found.keys() == expected.keys()
    for label in expected:
        assert found[label] == pytest.approx(expected[label], abs=1e-12)
    assert arrays.get_params() == fitted.get_params()
    assert list(arrays.classes_) == list(fitted.classes_)


def test_sparse_decisions_add_in_scipys_order():
    """Float32 sums differ with the order of their terms: the decision must add each row's
    values in the order of the stacked matrix (first block, then the next), as scipy does."""
    import scipy.sparse as sp

    from newsseg.feature_steps import as_csr
    from newsseg.ngrams import SparseRows

    rng = np.random.default_rng(0)
    blocks = []
    for n_columns in (50, 80):
        dense = (rng.random((30, n_columns)) < 0.3) * rng.random((30, n_columns))
        matrix = sp.csr_matrix(dense.astype(np.float32))
        blocks.append(SparseRows(matrix.indptr, matrix.indices, matrix.data, n_columns))
    stacked = sp.hstack([as_csr(block) for block in blocks]).tocsr()
    for dtype in (np.float32, np.float64):
        coef = rng.normal(size=(4, 130)).astype(dtype)
        intercept = rng.normal(size=4).astype(dtype)
        expected = stacked @ coef.T + intercept
        assert np.array_equal(sparse_decision(blocks, coef, intercept), expected)


def test_labeling_imports_no_scikit_learn(tmp_path, tiny_model_path):
    import subprocess

    code = (
        "import sys; from newsseg import model_file; "
        f"m, _ = model_file.load({str(tiny_model_path)!r}); m.predict(['A title', 'Body.']); "
        "print(*[k for k in ('sklearn', 'scipy', 'skops', 'matplotlib') if k in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


# --------------------------------------------------------------------------- the shipped model


@pytest.mark.slow
def test_the_shipped_arrays_label_the_corpus_as_the_shipped_skops_file(shared_corpus):
    """models/default.npz was converted from models/default.skops (newsseg 0.5): on every
    fifth document of the corpus their labels and probabilities are the same, bit for bit."""
    pytest.importorskip("skops")
    legacy = model_file.default_model_path().with_name("default.skops")
    if not legacy.is_file():
        pytest.skip(f"{legacy} is not here to compare with")
    old, _ = model_file.load_skops(legacy)
    new, metadata = model_file.load()
    assert metadata["converted"]["from"] == "default.skops"
    frame = dataset.read_corpus([shared_corpus])
    documents = frame["doc_id"].drop_duplicates().to_numpy()[::5]
    sample = frame[frame["doc_id"].isin(set(documents))].reset_index(drop=True)
    X = as_paragraph_frame(sample[["doc_id", "text"]])
    labels, proba = new.predict_with_proba(X)
    assert len(X) > 10_000
    assert np.array_equal(proba, old.predict_proba(X))
    assert (labels == old.predict(X)).all()
