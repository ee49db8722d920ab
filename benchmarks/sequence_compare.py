"""Sequence decoders and calibration compared on grouped-by-site K-fold CV.

    OMP_NUM_THREADS=1 python benchmarks/sequence_compare.py [--corpus ../shared/corpus]
        [--folds 5] [--json FILE] [--no-crf]

Each fold trains the default model's two feature stages once; on top of the same stage-two
features and booster it scores: the booster's argmax (no sequence), Viterbi over the learned
chain (the default), the argmax of the chain's forward-backward marginals (untempered, with
the model's chain temperature, with an emission-only temperature), and a linear-chain CRF
(sklearn-crfsuite, skipped when not installed) trained on the same stage-two features
(standardised floats). It prints Markdown tables of pooled out-of-fold scores and asserts
nothing:

- labels: macro-F1, per-label F1, ``body_f1`` and seconds (fit and decode of the step
  itself; the shared feature stages are timed apart);
- probabilities: expected calibration error of the largest probability (10 bins), of the
  probability of the decoder's own label (what ``--min-confidence`` reads), Brier score and
  log-loss. Temperatures are fitted on a grouped holdout of each training fold's sites
  (``calibration_share`` of them, as ``fit`` does): the chain temperature divides emissions
  and transitions (the model's), the emission temperature only the emissions, the booster
  temperature the booster's own probabilities;
- seconds of each step, summed over folds, and of decoding about 100 000 paragraphs (the last
  fold's test documents repeated) with the per-document Viterbi loop, batched Viterbi and
  batched forward-backward.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict

import numpy as np
from cv_args import cv_parser, read_corpus

from newsseg import sequence
from newsseg.evaluate import calibration, grouped_folds, score
from newsseg.features import document_slices
from newsseg.model import CALIBRATION_SHARE, ParagraphLabeler

TEXT = ["doc_id", "text"]
CRF_PARAMS = {"algorithm": "lbfgs", "c1": 0.05, "c2": 0.05, "max_iterations": 200}
"""The CRF's settings: L1 and L2 regularisation of crfsuite's L-BFGS training."""


def crf_available() -> bool:
    try:
        import sklearn_crfsuite  # noqa: F401  (only asks whether it is installed)
    except ImportError:
        return False
    return True


def crf_sequences(matrix: np.ndarray, doc_slices: list[slice]) -> list[list[dict]]:
    """Stage-two rows as crfsuite sequences: one dict of float features per paragraph."""
    names = [f"f{i}" for i in range(matrix.shape[1])]
    return [
        [dict(zip(names, row.tolist(), strict=True)) for row in matrix[part]] for part in doc_slices
    ]


def run_crf(labeler, data, test_matrix, test_slices):
    """Train a linear-chain CRF on the training fold's stage-two features; its labels and
    marginals on the test fold."""
    import sklearn_crfsuite

    mean, std = data.stacked.mean(axis=0), data.stacked.std(axis=0) + 1e-9
    train_slices = document_slices(data.frame["doc_id"])
    crf = sklearn_crfsuite.CRF(**CRF_PARAMS, all_possible_transitions=True)
    crf.fit(
        crf_sequences((data.stacked - mean) / std, train_slices),
        [list(data.labels[part]) for part in train_slices],
    )
    test_sequences = crf_sequences((test_matrix - mean) / std, test_slices)
    labels = np.concatenate([np.asarray(seq, dtype=object) for seq in crf.predict(test_sequences)])
    marginals = np.vstack(
        [
            [[row.get(label, 0.0) for label in labeler.classes_] for row in doc]
            for doc in crf.predict_marginals(test_sequences)
        ]
    )
    return labels, marginals


def fold_results(labeler_params: dict, train, test, with_crf: bool) -> tuple[dict, dict, dict]:
    """Labels, probabilities and seconds of every method on one fold."""
    seconds: dict[str, float] = {}

    def timed(name, work):
        start = time.perf_counter()
        out = work()
        seconds[name] = time.perf_counter() - start
        return out

    # fit() in steps, to time each: features, booster and chain, then the calibration.
    labeler = ParagraphLabeler(**{**labeler_params, "calibration_share": 0.0})
    y = train["label"].to_numpy()
    data = timed("feature stages (shared)", lambda: labeler.stage_two_data(train[TEXT], y))
    timed("booster + chain", lambda: labeler.fit_stage_two(data))
    labeler.calibration_share = CALIBRATION_SHARE
    held_out = timed("calibration holdout booster", lambda: labeler.holdout_booster_proba(data))
    held, held_slices, held_truth = held_out.proba, held_out.doc_slices, held_out.truth
    labeler.temperature_ = timed(
        "chain temperature search",
        lambda: sequence.fit_temperature(
            lambda t: labeler._marginals(held, held_slices, t), held_truth
        ),
    )
    held_emission = labeler.log_emission(held)
    emission_temperature = sequence.fit_temperature(
        lambda t: sequence.decode_documents(
            held_emission / t, held_slices, labeler.chain_, posterior=True
        ),
        held_truth,
    )
    booster_temperature = sequence.fit_temperature(lambda t: sequence.tempered(held, t), held_truth)

    X = test[TEXT]
    test_matrix = labeler.stage_two_features(X)
    proba = labeler.stage_two_proba(test_matrix)
    slices = document_slices(X["doc_id"])
    chain, classes = labeler.chain_, labeler.classes_
    emission = labeler.log_emission(proba)
    viterbi = timed("Viterbi", lambda: sequence.decode_documents(emission, slices, chain))
    raw_marginals = timed(
        "forward-backward",
        lambda: sequence.decode_documents(emission, slices, chain, posterior=True),
    )
    marginals = sequence.tempered_marginals(emission, slices, chain, labeler.temperature_)
    emission_tempered = sequence.decode_documents(
        emission / emission_temperature, slices, chain, posterior=True
    )
    labels = {
        "booster argmax (no sequence)": classes[proba.argmax(axis=1)],
        "booster + Viterbi (default)": classes[viterbi],
        "forward-backward argmax": classes[raw_marginals.argmax(axis=1)],
        "forward-backward argmax, chain temperature": classes[marginals.argmax(axis=1)],
        "forward-backward argmax, emission temperature": classes[emission_tempered.argmax(axis=1)],
    }
    booster_scaled = sequence.tempered(proba, booster_temperature)
    probabilities = {
        "booster (--no-sequence)": (proba, proba.argmax(axis=1)),
        "booster, temperature-scaled": (booster_scaled, proba.argmax(axis=1)),
        "booster, temperature-scaled, Viterbi label": (booster_scaled, viterbi),
        "marginals (T=1), Viterbi label": (raw_marginals, viterbi),
        "marginals, emission temperature, Viterbi label": (emission_tempered, viterbi),
        "marginals, chain temperature, Viterbi label (model)": (marginals, viterbi),
    }
    if with_crf:
        crf_labels, crf_marginals = timed(
            "CRF fit + decode", lambda: run_crf(labeler, data, test_matrix, slices)
        )
        labels["linear-chain CRF"] = crf_labels
        probabilities["CRF marginals, CRF label"] = (
            crf_marginals,
            np.searchsorted(classes, crf_labels),
        )
    temperatures = {
        "chain": labeler.temperature_,
        "emission": emission_temperature,
        "booster": booster_temperature,
    }
    speed = decoding_speed(emission, slices, chain)
    return labels, probabilities, {**seconds, "temperatures": temperatures, "speed": speed}


SPEED_PARAGRAPHS = 100_000
"""Decoding speed is measured on a fold's test documents repeated to about this many
paragraphs."""


def decoding_speed(emission: np.ndarray, slices: list[slice], chain) -> dict[str, float]:
    """Seconds to decode :data:`SPEED_PARAGRAPHS` paragraphs: the per-document Viterbi loop
    (the decoder before batching), batched Viterbi and batched forward-backward."""
    copies = max(1, SPEED_PARAGRAPHS // len(emission))
    many = np.tile(emission, (copies, 1))
    shifted = [
        slice(part.start + k * len(emission), part.stop + k * len(emission))
        for k in range(copies)
        for part in slices
    ]
    seconds = {"paragraphs": float(len(many)), "documents": float(len(shifted))}
    start = time.perf_counter()
    for part in shifted:
        sequence.viterbi(many[part], chain.log_start, chain.log_moves, chain.log_end)
    seconds["per-document Viterbi loop"] = time.perf_counter() - start
    start = time.perf_counter()
    sequence.decode_documents(many, shifted, chain)
    seconds["batched Viterbi"] = time.perf_counter() - start
    start = time.perf_counter()
    sequence.decode_documents(many, shifted, chain, posterior=True)
    seconds["batched forward-backward"] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = cv_parser(__doc__)
    parser.add_argument("--no-crf", action="store_true", help="skip the CRF")
    args = parser.parse_args()
    frame = read_corpus(args, "sequence_compare").reset_index(drop=True)
    with_crf = not args.no_crf and crf_available()
    if not args.no_crf and not with_crf:
        print("sklearn-crfsuite is not installed: the CRF row is skipped", file=sys.stderr)
    predicted: dict[str, np.ndarray] = defaultdict(lambda: np.empty(len(frame), dtype=object))
    reported: dict[str, list] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    test_order, temperatures = [], []
    for fold, (train_rows, test_rows) in enumerate(grouped_folds(frame, args.folds)):
        train, test = frame.iloc[train_rows], frame.iloc[test_rows]
        labels, probabilities, fold_seconds = fold_results({}, train, test, with_crf)
        temperatures.append(fold_seconds.pop("temperatures"))
        speed = fold_seconds.pop("speed")
        for name, guess in labels.items():
            predicted[name][test_rows] = guess
        for name, pair in probabilities.items():
            reported[name].append(pair)
        for name, value in fold_seconds.items():
            seconds[name] += value
        test_order.append(test_rows)
        print(f"fold {fold + 1}: temperatures {temperatures[-1]}", file=sys.stderr, flush=True)
    classes = np.unique(frame["label"])
    truth = np.searchsorted(classes, frame["label"].to_numpy()[np.concatenate(test_order)])
    results = {"labels": {}, "probabilities": {}, "seconds": dict(seconds)}
    results["temperatures"] = temperatures
    print("| decoder | macro-F1 | headline | body | legal | teaser | body_f1 |")
    print("|---|---|---|---|---|---|---|")
    for name, guess in predicted.items():
        pooled = score(frame, guess)
        f1 = {label: pooled["labels"][label]["f1"] for label in pooled["labels"]}
        results["labels"][name] = {"macro_f1": pooled["macro_f1"], "f1": f1,
                                   "body_f1": pooled["body_f1"]}  # fmt: skip
        print(
            f"| {name} | {pooled['macro_f1']:.3f} | {f1['headline']:.3f} | {f1['body']:.3f} | "
            f"{f1['legal']:.3f} | {f1['teaser']:.3f} | {pooled['body_f1']:.3f} |"
        )
    print("\n| probabilities | ECE (max) | ECE (decoded label) | Brier | log-loss |")
    print("|---|---|---|---|---|")
    for name, pairs in reported.items():
        proba = np.vstack([pair[0] for pair in pairs])
        decoded = np.concatenate([pair[1] for pair in pairs])
        scores = calibration(proba, truth, decoded)
        results["probabilities"][name] = scores
        print(
            f"| {name} | {scores['ece']:.4f} | {scores['decoded_ece']:.4f} | "
            f"{scores['brier']:.4f} | {scores['log_loss']:.4f} |"
        )
    print("\n| step (all folds) | seconds |\n|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.2f} |")
    print(
        f"\n| decoding {speed['paragraphs']:.0f} paragraphs ({speed['documents']:.0f} documents,"
        " last fold's test documents repeated) | seconds |\n|---|---|"
    )
    for name in ("per-document Viterbi loop", "batched Viterbi", "batched forward-backward"):
        print(f"| {name} | {speed[name]:.3f} |")
    results["decoding_speed"] = speed
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
