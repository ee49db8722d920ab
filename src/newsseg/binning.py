"""The boosting stage's input cut into the bins scikit-learn would cut it into, computed fast.

With sample weights (``class_weight="balanced"`` gives every row one), scikit-learn 1.9's
``HistGradientBoostingClassifier`` finds each column's bin thresholds by calling
``_weighted_percentile`` once per quantile: 254 sorts of the column, for each of about a
hundred columns, a third of newsseg's training time (fixed upstream in
scikit-learn/scikit-learn#34248, not yet released). :class:`BinQuantiser` computes the same
thresholds for all quantiles at once, and replaces every value by one representative of its
bin. The booster then sees at most 255 distinct values a column, bins them by their
midpoints (scikit-learn's quick path) and puts every row into the bin it would have had:
the same trees, and the same predictions once new rows are quantised alike.
"""

from __future__ import annotations

import numpy as np

MAX_BINS = 255
"""Bins for non-missing values: ``HistGradientBoostingClassifier(max_bins=255)``."""
SUBSAMPLE = 200_000
"""Above this many rows scikit-learn bins a weighted sample without weights (quickly)."""
_ALMOST_INF = 1e300
"""scikit-learn's cap on a bin threshold."""


def weighted_thresholds(
    column: np.ndarray, weights: np.ndarray, max_bins: int = MAX_BINS
) -> np.ndarray | None:
    """The thresholds scikit-learn's ``_find_binning_thresholds`` computes for ``column``
    with positive ``weights`` (its weighted "averaged inverted CDF" quantiles, every step
    done as it does them, so that the floats come out the same), or None where it bins by
    distinct values (at most ``max_bins`` of them)."""
    keep = ~np.isnan(column) & (weights != 0)
    values, weights = column[keep], weights[keep]
    order = np.argsort(values)  # _find_binning_thresholds sorts first ...
    values, weights = values[order], weights[order]
    if len(np.unique(values)) <= max_bins:
        return None
    order = np.argsort(values)  # ... and _weighted_percentile sorts again
    values, cdf = values[order], np.cumsum(weights[order])
    ranks = np.linspace(0, 100, num=max_bins + 1)[1:-1] / 100 * cdf[-1]
    last = len(values) - 1
    at = np.clip(np.searchsorted(cdf, ranks), 0, last)
    above = cdf[at] - ranks > np.finfo(np.float64).eps
    after = np.clip(at + 1, 0, last)
    thresholds = np.where(above, values[at], (values[at] + values[after]) / 2)
    return np.clip(np.unique(thresholds), None, _ALMOST_INF)


class BinQuantiser:
    """Fitted on the booster's training matrix and row weights; maps each column with more
    than ``MAX_BINS`` distinct values onto one representative value per bin."""

    def __init__(self) -> None:
        self.columns_: list[int] = []
        self.thresholds_: list[np.ndarray] = []

    def fit(self, X: np.ndarray, weights: np.ndarray | None) -> BinQuantiser:
        self.columns_, self.thresholds_ = [], []
        if weights is None or len(X) > SUBSAMPLE:
            return self  # scikit-learn's own binning is quick there
        for j in range(X.shape[1]):
            thresholds = weighted_thresholds(X[:, j].astype(np.float64), weights)
            if thresholds is not None:
                self.columns_.append(j)
                self.thresholds_.append(thresholds)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``X`` with every value of a quantised column replaced by its bin's upper
        threshold (the last bin's by the next float above the last threshold); missing
        values stay missing."""
        if not self.columns_:
            return X
        out = np.array(X, dtype=np.float64, copy=True)
        for j, thresholds in zip(self.columns_, self.thresholds_, strict=True):
            representatives = np.append(thresholds, np.nextafter(thresholds[-1], np.inf))
            column = out[:, j]
            binned = representatives[np.searchsorted(thresholds, column, side="left")]
            out[:, j] = np.where(np.isnan(column), np.nan, binned)
        return out
