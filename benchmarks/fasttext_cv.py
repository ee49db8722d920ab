"""fastText supervised, the speed yardstick of bench_speed.py, scored as newsseg is.

    python benchmarks/fasttext_cv.py [--corpus ../shared/corpus] [--folds 5] [--json FILE]

Grouped-by-site K-fold CV (the folds of ``newsseg.evaluate.grouped_folds``, pooled
out-of-fold scores from ``newsseg.evaluate.score``) of fastText trained on each paragraph's
text alone, with bench_speed.py's settings (10 epochs, word bigrams; one thread and a fixed
seed, so that a run repeats). It sees neither a paragraph's position nor its neighbours: the
row says what a fast per-paragraph text classifier gets, not what fastText could do with
newsseg's cues. Needs ``pip install fasttext-community``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_speed import FASTTEXT_SETTINGS, fasttext_labels, fasttext_training_file
from cv_args import cv_parser, read_corpus

from newsseg.evaluate import grouped_folds, score


def fold_predictions(train, test, folder: Path) -> list[str]:
    import fasttext

    training_file = folder / "train.txt"
    fasttext_training_file([("train", list(zip(*train, strict=True)))], training_file)
    model = fasttext.train_supervised(
        str(training_file), **FASTTEXT_SETTINGS, verbose=0, thread=1, seed=0
    )
    return fasttext_labels(model, list(test))


def main() -> None:
    parser = cv_parser(__doc__)
    args = parser.parse_args()
    try:
        import fasttext  # noqa: F401
    except ImportError:
        sys.exit("fasttext_cv: fastText is not installed (pip install fasttext-community)")
    frame = read_corpus(args, "fasttext_cv").reset_index(drop=True)
    predicted = np.empty(len(frame), dtype=object)
    with tempfile.TemporaryDirectory(prefix="newsseg-fasttext-") as folder:
        for train, test in grouped_folds(frame, args.folds):
            rows = frame.iloc[train]
            predicted[test] = fold_predictions(
                (rows["label"], rows["text"]), frame["text"].iloc[test], Path(folder)
            )
    scores = score(frame, predicted)
    f1 = {label: round(row["f1"], 3) for label, row in scores["labels"].items()}
    print("| labeler | macro-F1 | headline | body | legal | teaser | body_f1 |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| fastText supervised | {scores['macro_f1']:.3f} | {f1['headline']:.3f} | "
        f"{f1['body']:.3f} | {f1['legal']:.3f} | {f1['teaser']:.3f} | {scores['body_f1']:.3f} |"
    )
    if args.json:
        args.json.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
