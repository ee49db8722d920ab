"""Does a model file of arrays label as the 0.x skops file it was converted from, and how fast?

    python benchmarks/array_model_check.py [OLD.skops] [NEW.npz] [--corpus DIR]
                                           [--every N] [--booster-rows 94000]

(Default: models/default.skops and models/default.npz.) Labels the corpus (every ``N``-th
document; default all) with the old model (its scikit-learn ParagraphLabeler, read with
skops) and the new one (the ArrayLabeler), and prints how many labels differ, the largest
difference of the reported and the booster's probabilities, and each one's CPU seconds.
Then times the booster alone, one thread: scikit-learn's ``predict_proba`` against the numpy
tree walk on the corpus's stage-two rows replicated to ``--booster-rows`` (the quantiser
included in both). Needs skops (``pip install 'newsseg[skops]'``).

After retraining the default: ``newsseg convert-model models/default.skops
models/default.npz --force``, then this script.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread, as measured in the README

import numpy as np

from newsseg import dataset, model_file
from newsseg.config import corpus_path
from newsseg.features import as_paragraph_frame
from newsseg.predict.labeling import document_batches

MODELS = Path(__file__).resolve().parents[1] / "models"


def cpu(work):
    start = time.process_time()
    result = work()
    return result, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?", type=Path, default=MODELS / "default.skops")
    parser.add_argument("new", nargs="?", type=Path, default=MODELS / "default.npz")
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--every", type=int, default=1, help="every N-th document")
    parser.add_argument("--booster-rows", type=int, default=94_000)
    args = parser.parse_args()

    old, _ = model_file.load_skops(args.old)
    new, _ = model_file.load(args.new)
    frame = dataset.read_corpus([corpus_path(args.corpus)])
    chosen = set(frame["doc_id"].drop_duplicates().to_numpy()[:: args.every])
    frame = frame[frame["doc_id"].isin(chosen)].reset_index(drop=True)
    X = as_paragraph_frame(frame[["doc_id", "text"]])
    batches = document_batches(X["doc_id"], size=200)

    def labeled(labeler):
        parts = [labeler.predict_with_proba(X.iloc[rows]) for rows in batches]
        return np.concatenate([p[0] for p in parts]), np.vstack([p[1] for p in parts])

    (old_labels, old_proba), old_seconds = cpu(lambda: labeled(old))
    (new_labels, new_proba), new_seconds = cpu(lambda: labeled(new))
    stacked = np.vstack([new.stage_two_features(X.iloc[rows]) for rows in batches])
    old_booster = old.stage_two_proba(stacked)
    new_booster = new.stage_two_proba(stacked)
    print(f"{len(X)} paragraphs of {len(chosen)} documents")
    print(f"labels that differ: {int((old_labels != new_labels).sum())}")
    print(
        "probabilities: bit-identical "
        f"{np.array_equal(old_proba, new_proba)}, largest difference "
        f"{float(np.abs(old_proba - new_proba).max()):.3g}; booster's: bit-identical "
        f"{np.array_equal(old_booster, new_booster)}, largest difference "
        f"{float(np.abs(old_booster - new_booster).max()):.3g}"
    )
    print(f"labeling, CPU seconds: scikit-learn {old_seconds:.1f}, arrays {new_seconds:.1f}")

    repeats = int(np.ceil(args.booster_rows / len(stacked)))
    rows = np.tile(stacked, (repeats, 1))[: args.booster_rows]
    sklearn_proba, sklearn_seconds = cpu(lambda: old.stage_two_proba(rows))
    numpy_proba, numpy_seconds = cpu(lambda: new.stage_two_proba(rows))
    print(
        f"booster on {len(rows)} rows, CPU seconds: scikit-learn predict_proba "
        f"{sklearn_seconds:.2f}, numpy walk {numpy_seconds:.2f} "
        f"({sklearn_seconds / numpy_seconds:.1f}x; bit-identical "
        f"{np.array_equal(sklearn_proba, numpy_proba)})"
    )


if __name__ == "__main__":
    main()
