"""Grouped CV of booster, structure-cue and decoder variants that share the text model.

The text model (TF-IDF, five inner folds) is most of a fold's training time, and variants of
the later stages do not change it. This benchmark fits each fold's feature stages once and
caches them (``--cache DIR``: per fold the stage-two data of the training sites and the test
sites' stage-two matrix), then fits only the booster, chain and temperature of each variant
on them and scores the pooled out-of-fold labels: all pages, each label tier of the
manifest apart (``reviewed``, ``rules``), and the share of errors in blocks at the
article's edges.

    python benchmarks/stage_two_cv.py --cache /tmp/s2cv --variants default,no-structure
    python benchmarks/stage_two_cv.py --cache /tmp/s2cv --json out.json --predictions out.npz

Variants (``--variants``, comma-separated; each a set of ParagraphLabeler settings of the
later stages, see VARIANTS). A cache is tied to its corpus and to the settings of the
feature stages; delete it after changing either.
"""

from __future__ import annotations

import argparse
import copy
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from newsseg import dataset, evaluate
from newsseg.config import DEFAULT_CORPUS
from newsseg.features import document_slices
from newsseg.model import ParagraphLabeler, StageTwoData

VARIANTS: dict[str, dict] = {
    "default": {},
    "no-structure": {"use_structure": False},
    "no-relative": {"use_relative": False},
    "no-series": {"use_series": False},
    "v0.5 (no relative, no series)": {"use_relative": False, "use_series": False},
    "no-zones": {"zones": False},
    "no-structure-no-zones": {"use_structure": False, "zones": False},
    "v0.4 booster (no L2, 120 iterations, no structure, no zones)": {
        "boost_l2": 0.0,
        "boost_iterations": 120,
        "use_structure": False,
        "zones": False,
    },
    "early-stopping": {"early_stopping": True},
    "120 iterations": {"boost_iterations": 120},
    "200 iterations": {"boost_iterations": 200},
    "no-sequence": {"sequence": "none"},
    "rules teasers x0.5": {"weighting": ["labels=rules:teaser=0.5"]},
    "wcxb_articles teasers x0.25": {"weighting": ["source=wcxb_articles:teaser=0.25"]},
    "rules x0.5": {"weighting": ["labels=rules=0.5"]},
}
"""Variants by name: settings changed from the default model's (later stages only)."""
LATER_STAGES = (
    "use_structure",
    "use_relative",
    "use_series",
    "zones",
    "boost_iterations",
    "boost_leaves",
    "boost_learning_rate",
    "boost_l2",
    "early_stopping",
    "sequence",
)
"""The settings a variant may change: a cached fold's model gets the defaults of these."""
SHORT_NAMES = {
    "v0.4": "v0.4 booster (no L2, 120 iterations, no structure, no zones)",
    "v0.5": "v0.5 (no relative, no series)",
}


def fold_cache(cache: Path, frame, splits, fold: int) -> dict:
    """The cached feature stages of one fold, computed and written when missing."""
    path = cache / f"fold{fold}.pkl"
    if path.is_file():
        with open(path, "rb") as handle:
            return pickle.load(handle)
    train_rows, test_rows = splits[fold]
    train, test = frame.iloc[train_rows], frame.iloc[test_rows]
    model = ParagraphLabeler(use_structure=False)  # structure cues are added per variant
    data = model.stage_two_data(train[["doc_id", "text"]], train["label"].to_numpy())
    test_frame = test[["doc_id", "text"]].reset_index(drop=True)
    text_proba = model._align(
        model.classifier_.predict_proba(model.features_.transform(test_frame)), model.classifier_
    )
    entry = {
        "model": model,
        "data": data,
        "test_text_proba": text_proba,
        "test_stacked": model._stage_two_matrix(test_frame, text_proba, training=False),
    }
    with open(path, "wb") as handle:
        pickle.dump(entry, handle)
    return entry


def with_structure(model: ParagraphLabeler, frame, stacked: np.ndarray, text_proba):
    """``stacked`` (built without structure cues) with the model's structure cues appended,
    as :meth:`ParagraphLabeler._stage_two_matrix` appends them."""
    n_layout = len(model.layout_.get_feature_names_out()) if model.layout_ is not None else 0
    layout = stacked[:, :n_layout] if n_layout else None
    return np.hstack([stacked, model.structure_features(frame, text_proba, layout)])


def text_columns(model: ParagraphLabeler) -> slice:
    """Where the text model's probabilities stand in a stage-two matrix."""
    start = sum(
        len(step.get_feature_names_out())
        for step in (model.layout_, model.topic_)
        if step is not None
    )
    return slice(start, start + len(model.classes_))


def row_weights(data: StageTwoData, frame, terms: list[str]) -> np.ndarray | None:
    """The booster weights ``--weight`` terms give the rows of a fold's stage-two data: a
    real row by its document's manifest columns and its label, a composed row 1."""
    weighting = dataset.Weighting.parse(terms)
    if not weighting:
        return None
    columns = ["doc_id", "site", dataset.COLLECTION_COLUMN, dataset.TIER_COLUMN]
    documents = frame[columns].drop_duplicates("doc_id").set_index("doc_id")
    rows = data.frame[["doc_id"]].join(documents, on="doc_id")
    rows["label"] = data.labels
    weights = weighting.weights(rows)
    weights[data.sources != np.arange(len(data.frame))] = 1.0
    return weights


def fit_variant(
    entry: dict, params: dict, test, frame
) -> tuple[ParagraphLabeler, np.ndarray, float]:
    """A fold's model of the variant's later stages, its test matrix and training seconds."""
    params = dict(params)
    weights = row_weights(entry["data"], frame, params.pop("weighting", []))
    defaults = {name: ParagraphLabeler().get_params()[name] for name in LATER_STAGES}
    model = copy.copy(entry["model"]).set_params(**{**defaults, **params})
    data, test_stacked = entry["data"], entry["test_stacked"]
    stacked = data.stacked
    if model.use_structure:
        stacked = with_structure(model, data.frame, stacked, stacked[:, text_columns(model)])
        test_stacked = with_structure(model, test, test_stacked, entry["test_text_proba"])
    start = time.perf_counter()
    model.fit_stage_two(StageTwoData(data.frame, data.labels, data.sources, stacked, weights))
    return model, test_stacked, time.perf_counter() - start


def rechained(model: ParagraphLabeler, data: StageTwoData, zones: bool) -> ParagraphLabeler:
    """The model with its label chain refitted with or without zones (the booster is the
    same: zones change only the decoding; Viterbi labels do not depend on the temperature)."""
    if model.zones == zones:
        return model
    other = copy.copy(model).set_params(zones=zones)
    other.fit_chain(data)
    return other


def summary(scores: dict) -> dict:
    f1 = {label: row["f1"] for label, row in scores["labels"].items()}
    return {
        "documents": scores["documents"],
        "macro_f1": scores["macro_f1"],
        "f1": f1,
        "body_f1": scores["body_f1"],
        "edge_share": scores["error_blocks"]["edge_share"],
        "errors": scores["error_blocks"]["errors"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(__file__).parents[1] / DEFAULT_CORPUS)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--variants", default="default,no-structure")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--predictions", type=Path, help="write out-of-fold labels (.npz)")
    args = parser.parse_args(argv)
    if not (args.corpus / "manifest.csv").is_file():
        print(f"corpus not found at {args.corpus} (give --corpus DIR)", file=sys.stderr)
        return 1
    names = [SHORT_NAMES.get(name, name) for name in args.variants.split(",")]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        print(f"unknown variants {unknown}; known: {list(VARIANTS)}", file=sys.stderr)
        return 1
    args.cache.mkdir(parents=True, exist_ok=True)
    frame = dataset.read_corpus([args.corpus])
    splits = evaluate.grouped_folds(frame, args.folds)
    predicted = {name: np.empty(len(frame), dtype=object) for name in names}
    seconds = dict.fromkeys(names, 0.0)
    for fold in range(args.folds):
        entry = fold_cache(args.cache, frame, splits, fold)
        test_rows = splits[fold][1]
        test = frame.iloc[test_rows].reset_index(drop=True)
        fitted: dict[str, tuple] = {}  # variants that differ only in zones share a booster
        for name in names:
            params = dict(VARIANTS[name])
            zones = params.pop("zones", ParagraphLabeler().zones)
            key = json.dumps(params, sort_keys=True)
            if key not in fitted:
                fitted[key] = fit_variant(entry, params, test, frame)
            model, test_stacked, taken = fitted[key]
            model = rechained(model, entry["data"], zones)
            proba = model.stage_two_proba(test_stacked)
            predicted[name][test_rows] = model.classes_[
                model._decode(proba, document_slices(test["doc_id"]))
            ]
            seconds[name] += taken
            print(f"fold {fold + 1}: {name} ({taken:.0f} s)", file=sys.stderr, flush=True)
    results = {}
    for name in names:
        pooled = evaluate.score(frame, predicted[name])
        tiers = evaluate.tier_scores(frame, predicted[name])
        results[name] = {
            "params": VARIANTS[name],
            "seconds": round(seconds[name], 1),
            "all": summary(pooled),
            **{tier: summary(scores) for tier, scores in tiers.items()},
        }
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if args.predictions:
        np.savez_compressed(args.predictions, **{n: predicted[n].astype(str) for n in names})
    return 0


def print_table(results: dict) -> None:
    header = "| variant | pages | macro-F1 | headline | body | legal | teaser | body_f1 | edge |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, result in results.items():
        for part in ("reviewed", "rules", "all"):
            if part not in result:
                continue
            row = result[part]
            f1 = [row["f1"].get(label, 0.0) for label in ("headline", "body", "legal", "teaser")]
            cells = [f"{value:.3f}" for value in (row["macro_f1"], *f1, row["body_f1"])]
            edge = f"{row['edge_share']:.0%} of {row['errors']}"
            print(f"| {name} ({part}) | {row['documents']} | {' | '.join(cells)} | {edge} |")


if __name__ == "__main__":
    raise SystemExit(main())
