"""Ablation: grouped-by-site K-fold CV of the default model with each component changed.

    python benchmarks/ablation.py [--corpus ../shared/corpus] [--folds 5] [--json FILE]

Prints a Markdown table (pooled out-of-fold scores) and, with --json, writes the same
numbers. Every row trains from scratch on the training folds only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from newsseg.dataset import read_documents
from newsseg.evaluate import cross_validate
from newsseg.model import ParagraphLabeler

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"

VARIANTS = {
    "default model": {},
    "without sequence decoding": {"sequence": "none"},
    "without context (neighbours' text-model probabilities)": {"use_context": False},
    "with cross-document memory": {"use_memory": True},
    "without character n-grams": {"use_chars": False},
    "without layout cues": {"use_layout": False},
    "without topic cues": {"use_topic": False},
    "without composed training pages": {"compose": 0.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", nargs="*", help="names of variants to run (default: all)")
    args = parser.parse_args()
    if not (args.corpus / "manifest.csv").is_file():
        sys.exit(f"ablation: corpus not found at {args.corpus} (give --corpus)")
    frame = read_documents([args.corpus], labeled=True)
    rows = {}
    print("| variant | macro-F1 | headline | body | legal | teaser | body_f1 | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, params in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        pooled = cross_validate(ParagraphLabeler(**params), frame, folds=args.folds)["pooled"]
        seconds = time.perf_counter() - start
        f1 = {label: pooled["labels"][label]["f1"] for label in pooled["labels"]}
        rows[name] = {"params": params, "macro_f1": pooled["macro_f1"], "f1": f1,
                      "body_f1": pooled["body_f1"], "seconds": round(seconds, 1)}  # fmt: skip
        print(
            f"| {name} | {pooled['macro_f1']:.3f} | {f1['headline']:.3f} | {f1['body']:.3f} | "
            f"{f1['legal']:.3f} | {f1['teaser']:.3f} | {pooled['body_f1']:.3f} | {seconds:.0f} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
