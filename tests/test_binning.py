"""The booster's input quantised to scikit-learn's bins: same thresholds, same trees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.binning import _find_binning_thresholds
from sklearn.utils.class_weight import compute_sample_weight

from newsseg import binning
from newsseg.binning import MAX_BINS, BinQuantiser, weighted_thresholds


def data(rows: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Columns of many distinct values, few distinct values, many ties and a constant;
    an unbalanced label that depends on them."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=rows),
            rng.integers(0, 20, size=rows).astype(float),
            np.round(rng.exponential(size=rows), 2),
            np.full(rows, 3.0),
            np.round(rng.normal(size=rows) * 100) / 100,  # hundreds of values, many tied
        ]
    )
    score = X[:, 0] + 0.3 * X[:, 1] - X[:, 2] + rng.normal(scale=0.5, size=rows)
    y = np.where(score > 4.5, "rare", np.where(score > 2, "middle", "common"))
    return X, y


def booster() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=15, max_leaf_nodes=7, class_weight="balanced", early_stopping=False
    )


@pytest.mark.parametrize("seed", range(5))
def test_thresholds_are_scikit_learns_weighted_ones(seed):
    X, y = data(seed=seed)
    weights = compute_sample_weight("balanced", y)
    for j in range(X.shape[1]):
        theirs = _find_binning_thresholds(X[:, j], MAX_BINS, sample_weight=weights)
        ours = weighted_thresholds(X[:, j], weights)
        if ours is None:  # binned by distinct values: left as it is
            assert len(np.unique(X[:, j])) <= MAX_BINS
        else:
            np.testing.assert_array_equal(ours, theirs)


def test_a_booster_on_quantised_input_grows_the_same_trees():
    X, y = data()
    weights = compute_sample_weight("balanced", y)
    quantiser = BinQuantiser().fit(X, weights)
    assert quantiser.columns_ == [0, 2, 4]  # the columns of more than 255 values
    plain = booster().fit(X, y)
    quantised = booster().fit(quantiser.transform(X), y)
    new, _ = data(seed=1)
    for rows in (X, new):
        np.testing.assert_array_equal(
            plain.predict_proba(rows), quantised.predict_proba(quantiser.transform(rows))
        )


def test_missing_values_stay_missing_and_the_input_is_not_changed():
    X, y = data()
    quantiser = BinQuantiser().fit(X, compute_sample_weight("balanced", y))
    rows = X[:5].copy()
    rows[0, 0] = np.nan
    out = quantiser.transform(rows)
    assert np.isnan(out[0, 0]) and np.isnan(rows[0, 0]) and not np.isnan(out[1:, 0]).any()
    assert (rows[1:, 0] == X[1:5, 0]).all()  # a copy was quantised
    np.testing.assert_array_equal(out[:, 1], rows[:, 1])  # few distinct values: untouched


@pytest.mark.parametrize("weighted, subsample", [(False, None), (True, 1000)])
def test_nothing_is_quantised_where_scikit_learn_bins_quickly(weighted, subsample, monkeypatch):
    """Without weights, or above its subsample size, scikit-learn's own binning is quick."""
    if subsample is not None:
        monkeypatch.setattr(binning, "SUBSAMPLE", subsample)
    X, y = data()
    weights = compute_sample_weight("balanced", y) if weighted else None
    quantiser = BinQuantiser().fit(X, weights)
    assert quantiser.columns_ == [] and quantiser.transform(X) is X


def test_a_quantiser_rebuilt_from_its_arrays_quantises_alike():
    """A model file stores the quantiser as its columns and thresholds (see model_arrays)."""
    X, y = data()
    quantiser = BinQuantiser().fit(X, compute_sample_weight("balanced", y))
    rebuilt = BinQuantiser()
    rebuilt.columns_ = [int(j) for j in np.asarray(quantiser.columns_)]
    rebuilt.thresholds_ = [np.array(t, dtype="<f8") for t in quantiser.thresholds_]
    np.testing.assert_array_equal(rebuilt.transform(X), quantiser.transform(X))
