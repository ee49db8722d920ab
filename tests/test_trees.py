"""The booster's trees as node arrays: the numpy walk gives scikit-learn's raw scores to the
bit (missing values included), and arrays that are no trees are named, not walked."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from newsseg.conversion import tree_arrays
from newsseg.trees import TreeEnsemble


def ensemble_of(booster) -> TreeEnsemble:
    arrays, header = tree_arrays(booster)
    return TreeEnsemble(
        **arrays,
        trees_per_iteration=header["trees_per_iteration"],
        n_features=header["n_features"],
    )


def data(seed: int, n_classes: int, n_rows: int = 600, missing: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 6))
    X[:, 5] = rng.integers(0, 4, n_rows)  # few distinct values: ties at thresholds
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1) * (n_classes - 2)
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    return X, np.minimum(y, n_classes - 1)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_the_walk_gives_scikit_learns_raw_scores_to_the_bit(n_classes, missing):
    X, y = data(0, n_classes, missing=missing)
    booster = HistGradientBoostingClassifier(max_iter=25, max_leaf_nodes=15, random_state=0)
    booster.fit(X, y)
    ensemble = ensemble_of(booster)
    assert ensemble.problem() is None
    test, _ = data(1, n_classes, n_rows=300, missing=missing)
    test[:5] = np.inf  # beyond every threshold
    test[5:10] = -np.inf
    test[10:15] = booster._bin_mapper.bin_thresholds_[0][3]  # exactly at a threshold
    assert np.array_equal(ensemble.raw_scores(test), booster._raw_predict(test))


def test_a_tree_that_is_one_leaf_scores_its_value():
    X = np.zeros((50, 2))
    y = np.array([0, 1] * 25)
    booster = HistGradientBoostingClassifier(max_iter=3).fit(X, y)  # nothing to split on
    ensemble = ensemble_of(booster)
    assert ensemble.is_leaf.all()
    assert np.array_equal(ensemble.raw_scores(X[:7]), booster._raw_predict(X[:7]))


def test_the_walk_is_rebuilt_after_pickling():
    import pickle

    X, y = data(2, 3)
    ensemble = ensemble_of(HistGradientBoostingClassifier(max_iter=5).fit(X, y))
    before = ensemble.raw_scores(X)
    assert "_walk" in ensemble.__dict__
    copied = pickle.loads(pickle.dumps(ensemble))
    assert "_walk" not in copied.__dict__
    assert np.array_equal(copied.raw_scores(X), before)


@pytest.fixture(scope="module")
def ensemble() -> TreeEnsemble:
    X, y = data(3, 3)
    return ensemble_of(HistGradientBoostingClassifier(max_iter=4, random_state=0).fit(X, y))


def crafted(ensemble: TreeEnsemble, **changes) -> TreeEnsemble:
    fields = {
        name: getattr(ensemble, name).copy()
        for name in ensemble.__dataclass_fields__
        if isinstance(getattr(ensemble, name), np.ndarray)
    }
    for name, change in changes.items():
        fields[name] = change(fields[name])
    return TreeEnsemble(
        **fields, trees_per_iteration=ensemble.trees_per_iteration, n_features=ensemble.n_features
    )


def _first_split(values: np.ndarray, value, ensemble: TreeEnsemble) -> np.ndarray:
    values[np.flatnonzero(~ensemble.is_leaf)[0]] = value
    return values


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("left", 0, "before it"),
        ("right", 10**6, "outside its tree"),
        ("feature", 6, "not an input column"),
        ("threshold", np.nan, "NaN"),
    ],
)
def test_nodes_that_no_walk_could_follow_are_named(ensemble, field, value, problem):
    bad = crafted(ensemble, **{field: lambda a: _first_split(a, value, ensemble)})
    assert problem in bad.problem()


def test_sizes_that_do_not_add_up_are_named(ensemble):
    assert "differ in length" in crafted(ensemble, gain=lambda a: a[:-1]).problem()
    assert "whole iterations" in crafted(ensemble, tree_ends=lambda a: a[:-1]).problem()
    assert "baseline" in crafted(ensemble, baseline=lambda a: a[:-1]).problem()
    leaf = np.flatnonzero(ensemble.is_leaf)[0]
    huge = crafted(ensemble, value=lambda a: np.where(np.arange(len(a)) == leaf, 1e15, a))
    assert "leaf value" in huge.problem()
