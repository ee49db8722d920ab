"""The boosting stage's trees as flat node arrays, checked, and walked with numpy.

A fitted ``HistGradientBoostingClassifier`` holds one tree per label and iteration (1 200
for the default model). Here all trees are a few arrays of nodes, tree after tree, as a model
file stores them (see :mod:`newsseg.model_arrays`). :meth:`TreeEnsemble.raw_scores` gives
the same raw scores as scikit-learn's ``_raw_predict``, to the bit: the baseline, then each
tree's leaf value added in the order scikit-learn adds them.

The walk goes node by node down each tree with the rows that reached the node: every split
sends its rows left or right at once, so a row is only compared at the nodes on its path.
Values are first replaced by their bin among the thresholds the trees split on (one small
integer a value), so that comparing is cheap: ``x <= threshold`` exactly when the bin of
``x`` is at most the threshold's rank.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

NODE_ARRAYS = ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value", "gain")
"""The per-node arrays of a :class:`TreeEnsemble`."""
LEAF_VALUE_LIMIT = 1e12
"""The largest absolute leaf value a model file may hold: the raw scores, sums of a leaf a
tree, then stay finite. (A diverging booster's reached 1.5e5; healthy ones stay below 50.)"""


@dataclass(frozen=True)
class TreeEnsemble:
    """Gradient-boosted trees as node arrays. Node ``i`` of the flat arrays belongs to the tree
    whose nodes end at the first ``tree_ends`` above ``i``; ``left`` and ``right`` count from
    its tree's first node, and a split sends ``x`` left when ``x <= threshold`` (a missing
    ``x``, NaN, where ``missing_left`` says). Trees come iteration by iteration, each
    iteration's ``trees_per_iteration`` trees adding to one raw score each."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    gain: np.ndarray
    tree_ends: np.ndarray
    baseline: np.ndarray
    trees_per_iteration: int
    n_features: int

    @property
    def n_trees(self) -> int:
        return len(self.tree_ends)

    @property
    def tree_of_node(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_trees), np.diff(self.tree_ends, prepend=0))

    def problem(self) -> str | None:
        """What makes these arrays no set of trees a walk can follow to a leaf, or None.
        Checked: the sizes agree, every split's children lie after it inside its own tree
        and every node but a tree's root is the child of exactly one split (so each tree is
        a tree and every walk ends at a leaf), features are input columns, thresholds are
        no NaN, leaf values and gains are finite, the baseline is finite."""
        n_nodes = len(self.feature)
        if any(len(getattr(self, name)) != n_nodes for name in NODE_ARRAYS):
            return "the node arrays differ in length"
        ends = self.tree_ends
        if not (self.trees_per_iteration >= 1 and self.n_trees >= 1 and n_nodes >= 1):
            return "no trees"
        if self.n_trees % self.trees_per_iteration:
            return f"{self.n_trees} trees, not whole iterations of {self.trees_per_iteration}"
        if self.baseline.shape != (self.trees_per_iteration,):
            return f"baseline of shape {self.baseline.shape}, not ({self.trees_per_iteration},)"
        if not np.isfinite(self.baseline).all():
            return "the baseline is not finite"
        if ends[-1] != n_nodes or (np.diff(ends, prepend=0) < 1).any():
            return "the tree sizes do not add up to the nodes"
        sizes = np.diff(ends, prepend=0)
        first, size = np.repeat(ends - sizes, sizes), np.repeat(sizes, sizes)
        position = np.arange(n_nodes) - first
        split = ~self.is_leaf
        for side in (self.left, self.right):
            inside = (side > position) & (side < size)
            if not inside[split].all():
                return "a split's child lies outside its tree or before it"
        parents = np.bincount(
            np.concatenate([(first + self.left)[split], (first + self.right)[split]]),
            minlength=n_nodes,
        )
        if not np.array_equal(parents, (position > 0).astype(parents.dtype)):
            return "a node is the child of no split or of several"
        feature = self.feature[split]
        if len(feature) and not ((feature >= 0) & (feature < self.n_features)).all():
            return "a split's feature is not an input column"
        if np.isnan(self.threshold[split]).any():
            return "a split's threshold is NaN"
        leaf_values = self.value[self.is_leaf]
        if not (np.isfinite(leaf_values).all() and np.abs(leaf_values).max() <= LEAF_VALUE_LIMIT):
            return "a leaf value is not finite or beyond any trained booster's"
        if not np.isfinite(self.gain[split]).all():
            return "a split's gain is not finite"
        return None

    # -- prediction

    def raw_scores(self, X: np.ndarray) -> np.ndarray:
        """The raw scores of the rows of ``X`` (``n_features`` columns), one column per tree
        of an iteration: scikit-learn's ``_raw_predict``, to the bit."""
        walk = self._walk
        bins, missing = walk.binned(np.asarray(X, dtype=np.float64))
        n = len(X)
        raw = np.zeros((n, self.trees_per_iteration), dtype=np.float64, order="F")
        raw += self.baseline
        out = np.empty(n)
        for tree, nodes in enumerate(walk.trees):
            _walk_tree(nodes, bins, missing, walk.missing_code, out)
            raw[:, tree % self.trees_per_iteration] += out
        return raw

    @functools.cached_property
    def _walk(self) -> _Walk:
        return _Walk.of(self)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_walk", None)  # derived, and large as Python lists: rebuilt on first use
        return state


@dataclass(frozen=True)
class _TreeNodes:
    """One tree's nodes as Python lists (a walk reads them one at a time)."""

    feature: list[int]
    rank: list[int]
    missing_left: list[bool]
    left: list[int]
    right: list[int]
    is_leaf: list[bool]
    value: list[float]


@dataclass(frozen=True)
class _Walk:
    """What walking needs, derived once from the node arrays: the distinct thresholds of
    each feature (sorted), each split's rank among its feature's thresholds, the trees."""

    thresholds: list[np.ndarray]
    bin_dtype: type
    missing_code: int
    trees: list[_TreeNodes]

    @staticmethod
    def of(ensemble: TreeEnsemble) -> _Walk:
        split = ~ensemble.is_leaf
        thresholds = [np.zeros(0)] * ensemble.n_features
        rank = np.zeros(len(ensemble.feature), dtype=np.int64)
        for feature in np.unique(ensemble.feature[split]).tolist():
            on = split & (ensemble.feature == feature)
            thresholds[feature] = np.unique(ensemble.threshold[on])
            rank[on] = np.searchsorted(thresholds[feature], ensemble.threshold[on])
        most = max((len(t) for t in thresholds), default=0)
        # A value's bin is the number of its feature's thresholds below it: at most `most`;
        # a missing value gets a code of its own above every bin.
        bin_dtype = np.uint8 if most < 255 else np.uint16 if most < 65535 else np.uint32
        trees = []
        for start, stop in zip(
            np.concatenate([[0], ensemble.tree_ends[:-1]]).tolist(),
            ensemble.tree_ends.tolist(),
            strict=True,
        ):
            part = slice(start, stop)
            trees.append(
                _TreeNodes(
                    ensemble.feature[part].tolist(),
                    rank[part].tolist(),
                    ensemble.missing_left[part].tolist(),
                    ensemble.left[part].tolist(),
                    ensemble.right[part].tolist(),
                    ensemble.is_leaf[part].tolist(),
                    ensemble.value[part].tolist(),
                )
            )
        return _Walk(thresholds, bin_dtype, int(np.iinfo(bin_dtype).max), trees)

    def binned(self, X: np.ndarray) -> tuple[np.ndarray, list[bool]]:
        """Each value's bin, feature by feature (rows of the result are features), and
        whether each feature has a missing value at all."""
        bins = np.zeros((len(self.thresholds), len(X)), dtype=self.bin_dtype)
        missing = [False] * len(self.thresholds)
        for feature, thresholds in enumerate(self.thresholds):
            if len(thresholds) == 0:
                continue  # no split reads this column
            column = X[:, feature]
            bins[feature] = np.searchsorted(thresholds, column, side="left")
            nan = np.isnan(column)
            if nan.any():
                bins[feature][nan] = self.missing_code
                missing[feature] = True
        return bins, missing


def _walk_tree(
    nodes: _TreeNodes, bins: np.ndarray, missing: list[bool], missing_code: int, out: np.ndarray
) -> None:
    """Put the leaf value each row reaches in ``out``: the rows at each split go left or
    right together (children lie after their split, so nodes are visited in index order)."""
    if nodes.is_leaf[0]:
        out[:] = nodes.value[0]
        return
    waiting: dict[int, np.ndarray] = {}
    for node in range(len(nodes.feature)):
        if node == 0:
            values, rows = bins[nodes.feature[0]], None
        else:
            rows = waiting.pop(node)
            if nodes.is_leaf[node]:
                out[rows] = nodes.value[node]
                continue
            values = bins[nodes.feature[node]].take(rows)
        left = values <= nodes.rank[node]
        if nodes.missing_left[node] and missing[nodes.feature[node]]:
            left |= values == missing_code
        if rows is None:  # the root: every row, in order
            waiting[nodes.left[0]] = np.flatnonzero(left)
            waiting[nodes.right[0]] = np.flatnonzero(~left)
        else:
            waiting[nodes.left[node]], waiting[nodes.right[node]] = rows[left], rows[~left]


def gain_shares(
    gains: np.ndarray, names: list[str], labels: list[str]
) -> dict[str, dict[str, float]]:
    """Each label's share of split gain per feature, from ``gains`` summed per tree kind of
    an iteration (rows) and feature (columns named ``names``): a label's shares sum to 1;
    with one tree kind (two labels) it serves every label."""
    result = {}
    for k, label in enumerate(labels):
        row = gains[0 if len(gains) == 1 else k]
        total = row.sum()
        shares = row / total if total > 0 else row
        result[label] = {name: float(share) for name, share in zip(names, shares, strict=True)}
    return result
