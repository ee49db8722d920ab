"""Label-sequence decoding over a linear chain: transitions learned from training documents,
Viterbi paths and forward-backward posterior marginals, computed for many documents at once.

Documents are padded into ``(n_docs, max_len, K)`` arrays, longest first, and the decoders
step over positions with numpy over all the documents still running at that position.
Batches are cut so that no padded array holds more than :data:`MAX_PADDED_CELLS` cells: one
very long document among many short ones does not blow up memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

TRANSITION_PRIOR = 1.0
"""Add-one smoothing of label-transition counts: unseen transitions stay possible."""
MAX_PADDED_CELLS = 2_000_000
"""Most ``documents x positions`` cells in one padded batch (times K floats each)."""
PROBA_FLOOR = 1e-12
"""Smallest probability taken into log space: a zero would rule a label out for good."""
TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The range a fitted temperature is searched in."""


@dataclass(frozen=True)
class Chain:
    """A linear chain over K labels: log start, transition (from row to column) and end
    probabilities."""

    log_start: np.ndarray
    log_moves: np.ndarray
    log_end: np.ndarray

    def tempered(self, temperature: float) -> Chain:
        """The chain with every log-probability divided by ``temperature``."""
        return Chain(
            self.log_start / temperature, self.log_moves / temperature, self.log_end / temperature
        )


def transition_log_probs(
    label_index: Sequence[np.ndarray], n_labels: int, prior: float = TRANSITION_PRIOR
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log start, transition and end probabilities estimated from label-index sequences."""
    start = np.full(n_labels, prior)
    end = np.full(n_labels, prior)
    moves = np.full((n_labels, n_labels), prior)
    for sequence in label_index:
        if len(sequence) == 0:
            continue
        start[sequence[0]] += 1
        end[sequence[-1]] += 1
        np.add.at(moves, (sequence[:-1], sequence[1:]), 1)
    return (
        np.log(start / start.sum()),
        np.log(moves / moves.sum(axis=1, keepdims=True)),
        np.log(end / end.sum()),
    )


# --------------------------------------------------------------------------- article zones

ZONES = 3
"""Zones of a page: before its article, the article (from its first to its last body line,
with what stands inside it), and after it."""


def zone_states(label_index: np.ndarray, body: int, n_labels: int) -> np.ndarray:
    """Each paragraph's state in the zoned chain, ``zone * n_labels + label``: zone 0
    before the document's first body line, 1 from it to its last body line, 2 after."""
    positions = np.flatnonzero(label_index == body)
    zone = np.zeros(len(label_index), dtype=int)
    if len(positions):
        zone[positions[0] :] = 1
        zone[positions[-1] + 1 :] = 2
    return zone * n_labels + label_index


def zone_allowed(n_labels: int, body: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which starts, moves and ends the zoned chain allows: body lines stand only in the
    article zone, which starts and ends with one; zones never go back."""
    states = np.arange(ZONES * n_labels)
    zone, label = states // n_labels, states % n_labels
    is_body = label == body
    valid = (zone == 1) | ~is_body
    start = valid & ((zone == 0) | ((zone == 1) & is_body))
    end = valid & ((zone == 0) | ((zone == 1) & is_body) | (zone == 2))
    source, target = np.meshgrid(states, states, indexing="ij")
    same = zone[source] == zone[target]
    enters = (zone[source] == 0) & (zone[target] == 1) & is_body[target]
    leaves = (zone[source] == 1) & is_body[source] & (zone[target] == 2)
    moves = valid[source] & valid[target] & (same | enters | leaves)
    return start, moves, end


def zone_transition_log_probs(
    label_index: Sequence[np.ndarray], n_labels: int, body: int, prior: float = TRANSITION_PRIOR
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log start, transition and end probabilities of the zoned chain (``ZONES * n_labels``
    states, see :func:`zone_states`) from label-index sequences; moves it does not allow
    are ``-inf``, the allowed ones smoothed by ``prior``."""
    allowed_start, allowed_moves, allowed_end = zone_allowed(n_labels, body)
    start, moves, end = (
        np.where(allowed, prior, 0.0) for allowed in (allowed_start, allowed_moves, allowed_end)
    )
    for sequence in label_index:
        if len(sequence) == 0:
            continue
        states = zone_states(np.asarray(sequence), body, n_labels)
        start[states[0]] += 1
        end[states[-1]] += 1
        np.add.at(moves, (states[:-1], states[1:]), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = moves.sum(axis=1, keepdims=True)
        return (
            np.log(start / start.sum()),
            np.log(np.divide(moves, rows, out=np.zeros_like(moves), where=rows > 0)),
            np.log(end / end.sum()),
        )


def viterbi(
    log_emission: np.ndarray, log_start: np.ndarray, log_moves: np.ndarray, log_end: np.ndarray
) -> np.ndarray:
    """The most probable label-index path for one document's emission scores (the reference
    the batched decoder is tested against)."""
    n_steps, n_labels = log_emission.shape
    if n_steps == 0:
        return np.zeros(0, dtype=int)
    score = log_start + log_emission[0]
    back = np.zeros((n_steps, n_labels), dtype=int)
    for step in range(1, n_steps):
        candidates = score[:, None] + log_moves
        back[step] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_emission[step]
    path = np.zeros(n_steps, dtype=int)
    path[-1] = int(np.argmax(score + log_end))
    for step in range(n_steps - 1, 0, -1):
        path[step - 1] = back[step, path[step]]
    return path


# --------------------------------------------------------------------------- padding


@dataclass(frozen=True)
class PaddedBatch:
    """Documents padded to the longest of them, longest first: ``rows[i, t]`` is the flat
    row of document ``i``'s position ``t`` (0 where ``t >= lengths[i]``)."""

    rows: np.ndarray
    lengths: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """True at the real (not padded) positions."""
        return np.arange(self.rows.shape[1])[None, :] < self.lengths[:, None]


def padded_batches(
    starts: np.ndarray, lengths: np.ndarray, max_cells: int = MAX_PADDED_CELLS
) -> Iterator[PaddedBatch]:
    """Documents (flat ``starts`` and ``lengths``, all > 0) in padded batches of at most
    ``max_cells`` cells, each batch's documents longest first."""
    order = np.argsort(-lengths, kind="stable")
    begin = 0
    while begin < len(order):
        longest = int(lengths[order[begin]])
        count = max(1, max_cells // max(longest, 1))
        chosen = order[begin : begin + count]
        steps = np.arange(longest)
        mask = steps[None, :] < lengths[chosen, None]
        rows = np.where(mask, starts[chosen, None] + steps[None, :], 0)
        yield PaddedBatch(rows=rows, lengths=lengths[chosen])
        begin += count


def document_bounds(doc_slices: Sequence[slice]) -> tuple[np.ndarray, np.ndarray]:
    """Flat start rows and lengths of documents given as row slices."""
    starts = np.fromiter((part.start for part in doc_slices), dtype=np.int64, count=len(doc_slices))
    stops = np.fromiter((part.stop for part in doc_slices), dtype=np.int64, count=len(doc_slices))
    return starts, stops - starts


# --------------------------------------------------------------------------- batched decoding


def _running(lengths: np.ndarray, n_steps: int) -> np.ndarray:
    """How many documents (a prefix: they are sorted longest first) reach each position."""
    return np.searchsorted(-lengths, -np.arange(n_steps), side="left")


def viterbi_batch(log_emission: np.ndarray, lengths: np.ndarray, chain: Chain) -> np.ndarray:
    """The most probable label-index path of each padded document, ``(n_docs, max_len)``:
    ``log_emission`` is ``(n_docs, max_len, K)``, documents sorted longest first. Positions
    past a document's end repeat its last label."""
    n_docs, n_steps, n_labels = log_emission.shape
    running = _running(lengths, n_steps)
    score = chain.log_start + log_emission[:, 0]
    # A finished document's back-pointers stay the identity: its path holds still.
    back = np.broadcast_to(np.arange(n_labels), (n_docs, n_steps, n_labels)).copy()
    for step in range(1, n_steps):
        live = running[step]
        candidates = score[:live, :, None] + chain.log_moves
        back[:live, step] = candidates.argmax(axis=1)
        score[:live] = candidates.max(axis=1) + log_emission[:live, step]
    path = np.empty((n_docs, n_steps), dtype=int)
    path[:, -1] = np.argmax(score + chain.log_end, axis=1)
    every = np.arange(n_docs)
    for step in range(n_steps - 1, 0, -1):
        path[:, step - 1] = back[every, step, path[:, step]]
    return path


def forward_backward_batch(log_emission: np.ndarray, lengths: np.ndarray, chain: Chain):
    """Posterior label marginals of each padded document, ``(n_docs, max_len, K)``, rows
    summing to 1 at real positions, none below :data:`PROBA_FLOOR` (``log_emission`` as in
    :func:`viterbi_batch`).

    Scaled forward-backward in probability space: each position's forward and backward
    vectors are renormalised, so nothing underflows, and a step is one small matrix product.
    """
    n_steps = log_emission.shape[1]
    running = _running(lengths, n_steps)
    # A constant per position cancels in the marginals: scale each position's best to 1.
    emit = np.exp(log_emission - log_emission.max(axis=2, keepdims=True))
    moves = np.exp(chain.log_moves - chain.log_moves.max())  # a constant factor cancels too
    alpha = np.ones_like(emit)  # padded positions stay harmless
    alpha[:, 0] = _normalised(np.exp(chain.log_start) * emit[:, 0])
    for step in range(1, n_steps):
        live = running[step]
        alpha[:live, step] = _normalised((alpha[:live, step - 1] @ moves) * emit[:live, step])
    # Every position starts as a last one; positions followed by another are overwritten.
    beta = np.broadcast_to(_normalised(np.exp(chain.log_end)), emit.shape).copy()
    for step in range(n_steps - 2, -1, -1):
        live = running[step + 1]
        ahead = emit[:live, step + 1] * beta[:live, step + 1]
        beta[:live, step] = _normalised(ahead @ moves.T)
    # No label is certain, nor ruled out: as with the booster's, keep them above the floor.
    return _normalised(np.maximum(_normalised(alpha * beta), PROBA_FLOOR))


def _normalised(values: np.ndarray) -> np.ndarray:
    """``values`` divided by their sum along the last axis (uniform where the sum underflowed
    to 0: only a chain sharpened far below temperature 1 gets there)."""
    total = values.sum(axis=-1, keepdims=True)
    uniform = np.full_like(values, 1.0 / values.shape[-1])
    return np.divide(values, total, out=uniform, where=total > 0)


def decode_documents(
    log_emission: np.ndarray, doc_slices: Sequence[slice], chain: Chain, posterior: bool = False
) -> np.ndarray:
    """Decode flat ``(n_rows, K)`` emission scores of documents given as row slices: the
    Viterbi label index of each row, or with ``posterior`` its ``(n_rows, K)`` marginals."""
    starts, lengths = document_bounds(doc_slices)
    shape = (len(log_emission), log_emission.shape[1]) if posterior else (len(log_emission),)
    out = np.zeros(shape, dtype=float if posterior else int)
    for batch in padded_batches(starts, lengths):
        padded = log_emission[batch.rows]
        decoded = (forward_backward_batch if posterior else viterbi_batch)(
            padded, batch.lengths, chain
        )
        mask = batch.mask
        out[batch.rows[mask]] = decoded[mask]
    return out


def tempered_marginals(
    log_emission: np.ndarray, doc_slices: Sequence[slice], chain: Chain, temperature: float
) -> np.ndarray:
    """Posterior marginals of the chain with emissions and transitions alike divided by
    ``temperature``: the whole path score is, so the most probable path (Viterbi's) stays
    the same while the marginals soften (above 1) or sharpen (below 1)."""
    return decode_documents(
        log_emission / temperature, doc_slices, chain.tempered(temperature), posterior=True
    )


# --------------------------------------------------------------------------- calibration


def log_proba(proba: np.ndarray) -> np.ndarray:
    """``log(proba)`` with a floor, so that no label is ruled out for good."""
    return np.log(np.clip(proba, PROBA_FLOOR, 1.0))


def tempered(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities raised to ``1 / temperature`` and renormalised per row (temperature
    scaling: above 1 softens, below 1 sharpens, the argmax stays)."""
    scaled = log_proba(proba) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    out = np.exp(scaled)
    return out / out.sum(axis=1, keepdims=True)


def mean_log_loss(proba: np.ndarray, truth_index: np.ndarray) -> float:
    """Mean negative log-probability of the true labels."""
    return float(-np.mean(log_proba(proba[np.arange(len(truth_index)), truth_index])))


def fit_temperature(
    proba_of, truth_index: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """The temperature minimising the log-loss of ``proba_of(temperature)`` against
    ``truth_index`` (searched on a log scale within ``bounds``)."""
    # Imported here: only training fits a temperature, and scipy.optimize takes a while to
    # import (prediction never needs it).
    from scipy.optimize import minimize_scalar

    def loss(log_temperature: float) -> float:
        return mean_log_loss(proba_of(float(np.exp(log_temperature))), truth_index)

    found = minimize_scalar(loss, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded")
    return float(np.exp(found.x))


# --------------------------------------------------------------------------- decoding a model


SEQUENCE_MODES = ("viterbi", "marginal", "none")
"""How a model decodes: Viterbi over the chain, the chain's posterior marginals, or none."""


@dataclass(frozen=True)
class ChainDecoder:
    """A fitted model's decoding: its chain (over labels, or over labels in :data:`ZONES`
    zones when ``zoned``), the booster's log label prior, the temperature of the reported
    probabilities, and the ``sequence`` mode (see :data:`SEQUENCE_MODES`)."""

    n_labels: int
    chain: Chain
    log_prior: np.ndarray
    zoned: bool
    temperature: float
    sequence: str

    def log_emission(self, booster_proba: np.ndarray) -> np.ndarray:
        """The chain's emission scores of booster probabilities: log-probability minus the
        booster's label prior (for each zone's copy of a label, when ``zoned``)."""
        emission = log_proba(booster_proba) - self.log_prior
        return np.tile(emission, ZONES) if self.zoned else emission

    def marginals(
        self, booster_proba: np.ndarray, doc_slices: Sequence[slice], temperature: float
    ) -> np.ndarray:
        """The posterior label marginals of the chain tempered by ``temperature``."""
        emission = self.log_emission(booster_proba)
        marginals = tempered_marginals(emission, doc_slices, self.chain, temperature)
        if self.zoned:  # a label's probability is that of its copies in all zones
            return marginals.reshape(len(marginals), ZONES, -1).sum(axis=1)
        return marginals

    def reported_proba(self, booster_proba: np.ndarray, doc_slices: Sequence[slice]) -> np.ndarray:
        """The probabilities a model reports: the calibrated posterior marginals, or the
        booster's own with ``sequence="none"``."""
        if self.sequence == "none" or len(booster_proba) == 0:
            return booster_proba
        return self.marginals(booster_proba, doc_slices, self.temperature)

    def decode(self, booster_proba: np.ndarray, doc_slices: Sequence[slice]) -> np.ndarray:
        """Label indices of each paragraph under the ``sequence`` mode."""
        if self.sequence == "none" or len(booster_proba) == 0:
            return booster_proba.argmax(axis=1)
        if self.sequence == "marginal":
            return self.reported_proba(booster_proba, doc_slices).argmax(axis=1)
        states = decode_documents(self.log_emission(booster_proba), doc_slices, self.chain)
        return states % self.n_labels
