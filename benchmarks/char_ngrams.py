"""Character n-gram options: accuracy, speed and size of each way to bound their cost.

    python benchmarks/char_ngrams.py [--corpus ../shared/corpus] [--folds 5] [--json FILE]

For each option of the character n-gram step (no character n-grams, vocabularies capped at
several sizes, no cap) it prints grouped-by-site K-fold CV (pooled out-of-fold macro-F1 and
per-label F1 of the whole model, every fold trained from scratch), then the step alone fitted
on the whole corpus: its vocabulary size, transform speed over the corpus repeated to about
100 000 paragraphs (best of three), and the bytes it adds to a saved model. The vocabulary is
a capped set of 64-bit n-gram hashes (newsseg.ngrams.NgramTfidf), so an unseen n-gram costs a
lookup and nothing else: a capped vocabulary is the bound, with no hashing collisions.
"""

from __future__ import annotations

import io
import json
import time

import joblib
from cv_args import cv_parser, read_corpus

from newsseg.evaluate import cross_validate
from newsseg.feature_steps import paragraph_features
from newsseg.features import CHAR_MAX_FEATURES
from newsseg.model import ParagraphLabeler

SPEED_PARAGRAPHS = 100_000
OPTIONS: dict[str, dict] = {
    "no character n-grams": {"use_chars": False},
    "cap 5 000": {"char_max_features": 5_000},
    "cap 10 000": {"char_max_features": 10_000},
    f"cap {CHAR_MAX_FEATURES:,} (default)".replace(",", " "): {},
    "cap 100 000": {"char_max_features": 100_000},
    "no cap": {"char_max_features": None},
}


def step_numbers(texts: list[str], params: dict) -> tuple[int, float, int]:
    """Vocabulary size, transform paragraphs/s and saved bytes of the character step."""
    if params.get("use_chars") is False:
        return 0, float("nan"), 0
    features = paragraph_features(
        char_max_features=params.get("char_max_features", CHAR_MAX_FEATURES), use_words=False
    )
    step = {name: step for name, step, _ in features.transformers}["chars"].fit(texts)
    many = (texts * (SPEED_PARAGRAPHS // len(texts) + 1))[:SPEED_PARAGRAPHS]
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        step.transform(many)
        seconds.append(time.perf_counter() - start)
    saved = io.BytesIO()
    joblib.dump(step, saved, compress=3)
    return step.n_features_out_, len(many) / min(seconds), len(saved.getvalue())


def main() -> None:
    parser = cv_parser(__doc__)
    args = parser.parse_args()
    frame = read_corpus(args, "char_ngrams")
    texts = frame["text"].astype(str).tolist()
    rows = {}
    print(
        "| option | macro-F1 | legal | teaser | body_f1 | n-grams | transform paragraphs/s "
        "| saved KB | CV seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, params in OPTIONS.items():
        start = time.perf_counter()
        cv = cross_validate(ParagraphLabeler(**params), frame, folds=args.folds)
        cv_seconds = time.perf_counter() - start
        pooled = cv["pooled"]
        f1 = {label: scores["f1"] for label, scores in pooled["labels"].items()}
        size, speed, saved = step_numbers(texts, params)
        rows[name] = {
            "params": params,
            "macro_f1": pooled["macro_f1"],
            "f1": f1,
            "body_f1": pooled["body_f1"],
            "ngrams": size,
            "transform_paragraphs_per_s": speed,
            "saved_bytes": saved,
            "cv_seconds": cv_seconds,
        }
        print(
            f"| {name} | {pooled['macro_f1']:.3f} | {f1.get('legal', float('nan')):.3f} "
            f"| {f1.get('teaser', float('nan')):.3f} | {pooled['body_f1']:.3f} | {size} "
            f"| {speed:,.0f} | {saved / 1000:.0f} | {cv_seconds:.0f} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps({"folds": args.folds, "options": rows}, indent=2))


if __name__ == "__main__":
    main()
