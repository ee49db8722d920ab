"""The label chain: batched Viterbi against the per-document reference, forward-backward
marginals against brute-force enumeration, padding, and temperature fitting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from newsseg import sequence
from newsseg.sequence import Chain


def random_chain(rng: np.random.Generator, n_labels: int) -> Chain:
    def log_rows(shape):
        values = rng.dirichlet(np.ones(shape[-1]) * 0.5, size=shape[:-1] or None)
        return np.log(values)

    return Chain(log_rows((n_labels,)), log_rows((n_labels, n_labels)), log_rows((n_labels,)))


def random_documents(rng: np.random.Generator, n_docs: int, n_labels: int, longest: int):
    lengths = rng.integers(1, longest + 1, size=n_docs)
    lengths[0] = 1  # a one-paragraph document
    emission = np.log(rng.dirichlet(np.ones(n_labels) * 0.3, size=int(lengths.sum())))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    slices = [slice(int(a), int(a + n)) for a, n in zip(starts, lengths, strict=True)]
    return emission, slices


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_cells", [7, sequence.MAX_PADDED_CELLS])
def test_batched_viterbi_gives_the_per_document_paths(seed, max_cells, monkeypatch):
    rng = np.random.default_rng(seed)
    n_labels = int(rng.integers(2, 6))
    chain = random_chain(rng, n_labels)
    emission, slices = random_documents(rng, 40, n_labels, longest=30)
    monkeypatch.setattr(sequence, "MAX_PADDED_CELLS", max_cells)  # many batches, or one
    batched = sequence.decode_documents(emission, slices, chain)
    expected = np.concatenate(
        [
            sequence.viterbi(emission[part], chain.log_start, chain.log_moves, chain.log_end)
            for part in slices
        ]
    )
    assert batched.tolist() == expected.tolist()


def brute_force_marginals(emission: np.ndarray, chain: Chain) -> np.ndarray:
    """Marginals by summing the probability of every label path."""
    n_steps, n_labels = emission.shape
    marginals = np.zeros((n_steps, n_labels))
    for path in itertools.product(range(n_labels), repeat=n_steps):
        score = chain.log_start[path[0]] + chain.log_end[path[-1]]
        score += sum(emission[step, label] for step, label in enumerate(path))
        score += sum(chain.log_moves[a, b] for a, b in itertools.pairwise(path))
        marginals[np.arange(n_steps), path] += np.exp(score)
    return marginals / marginals.sum(axis=1, keepdims=True)


def test_forward_backward_marginals_match_enumerating_every_path():
    rng = np.random.default_rng(7)
    chain = random_chain(rng, 3)
    emission, slices = random_documents(rng, 6, 3, longest=5)
    marginals = sequence.decode_documents(emission, slices, chain, posterior=True)
    assert np.allclose(marginals.sum(axis=1), 1.0)
    for part in slices:
        assert np.allclose(marginals[part], brute_force_marginals(emission[part], chain))


def test_marginals_follow_transitions_when_emissions_are_unsure():
    # As in the Viterbi test: staying is likelier than switching, so the unsure middle
    # paragraph leans towards its neighbours' label.
    chain = Chain(np.log([0.5, 0.5]), np.log([[0.9, 0.1], [0.1, 0.9]]), np.log([0.5, 0.5]))
    emission = np.log([[0.9, 0.1], [0.45, 0.55], [0.9, 0.1]])
    marginals = sequence.decode_documents(emission, [slice(0, 3)], chain, posterior=True)
    assert marginals[1, 0] > 0.5


def test_padded_batches_keep_within_the_cell_budget_and_cover_every_document():
    lengths = np.array([3, 50, 1, 7, 7, 2])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    batches = list(sequence.padded_batches(starts, lengths, max_cells=20))
    seen = []
    for batch in batches:
        assert list(batch.lengths) == sorted(batch.lengths, reverse=True)
        assert batch.rows.size <= 20 or len(batch.lengths) == 1  # a long one stands alone
        seen.extend(batch.rows[batch.mask].tolist())
    assert sorted(seen) == list(range(lengths.sum()))


def test_fit_temperature_softens_overconfident_probabilities():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=2000)
    right = rng.random(2000) < 0.8  # 80% right, but always 99% sure
    guess = np.where(right, truth, 1 - truth)
    proba = np.full((2000, 2), 0.01)
    proba[np.arange(2000), guess] = 0.99
    temperature = sequence.fit_temperature(
        lambda t: sequence.tempered(proba, t), truth, bounds=(0.1, 50.0)
    )
    calibrated = sequence.tempered(proba, temperature)
    assert temperature > 1.0
    assert calibrated.max(axis=1).mean() == pytest.approx(0.8, abs=0.02)
    assert sequence.mean_log_loss(calibrated, truth) < sequence.mean_log_loss(proba, truth)


def test_a_chain_temperature_softens_marginals_but_keeps_the_viterbi_path():
    rng = np.random.default_rng(3)
    chain = random_chain(rng, 4)
    emission, slices = random_documents(rng, 20, 4, longest=12)
    path = sequence.decode_documents(emission, slices, chain)
    for temperature in (0.5, 3.0):
        hot = sequence.decode_documents(emission / temperature, slices, chain.tempered(temperature))
        assert hot.tolist() == path.tolist()
    plain = sequence.tempered_marginals(emission, slices, chain, 1.0)
    assert np.allclose(plain, sequence.decode_documents(emission, slices, chain, posterior=True))
    soft = sequence.tempered_marginals(emission, slices, chain, 3.0)
    assert np.allclose(soft.sum(axis=1), 1.0)
    assert soft.max(axis=1).mean() < plain.max(axis=1).mean()
    low = sequence.TEMPERATURE_BOUNDS[0]  # far sharper: nothing may underflow to NaN
    sharp = sequence.tempered_marginals(emission, slices, chain, low)
    assert np.isfinite(sharp).all() and np.allclose(sharp.sum(axis=1), 1.0)
    assert sharp.max() < 1.0 and sharp.min() > 0.0  # never certain: --min-confidence 1 marks all


def test_zone_states_split_a_page_at_its_first_and_last_body_line():
    # headline, teaser, body, legal, body, teaser, teaser (labels body=0 ... teaser=3)
    labels = np.array([1, 3, 0, 2, 0, 3, 3])
    states = sequence.zone_states(labels, body=0, n_labels=4)
    assert (states // 4).tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert (states % 4).tolist() == labels.tolist()


def test_the_zoned_chain_keeps_body_inside_one_article():
    training = [np.array([1, 0, 0, 3, 3]), np.array([1, 3, 0, 2, 0, 3])]
    zoned = sequence.Chain(*sequence.zone_transition_log_probs(training, n_labels=4, body=0))
    plain = sequence.Chain(*sequence.transition_log_probs(training, 4))
    # Headline, body, a rail of teasers, then a line the booster takes for body: the label
    # chain takes the body back after the rail; the zoned one cannot, its article ended.
    proba = np.full((9, 4), 0.02)
    proba[0, 1] = 0.94
    proba[1:4, 0] = 0.94
    proba[4:8, 3] = 0.94
    proba[8, 0], proba[8, 3] = 0.8, 0.16
    emission = np.log(proba)
    assert sequence.decode_documents(emission, [slice(0, 9)], plain)[-1] == 0
    states = sequence.decode_documents(np.tile(emission, sequence.ZONES), [slice(0, 9)], zoned)
    assert (states % 4).tolist() == [1, 0, 0, 0, 3, 3, 3, 3, 3]
    assert (states // 4).tolist() == [0, 1, 1, 1, 2, 2, 2, 2, 2]
    start, moves, _ = zoned.log_start, zoned.log_moves, zoned.log_end
    assert not np.isfinite(moves[0 * 4 + 1, 2 * 4 + 3])  # no move from before to after
    assert not np.isfinite(start[2 * 4 + 3]) and np.isfinite(start[1])
