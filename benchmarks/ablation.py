"""Ablation: grouped-by-site K-fold CV of the default model with each component changed.

    python benchmarks/ablation.py [--corpus ../shared/corpus] [--folds 5] [--json FILE]

Prints a Markdown table (pooled out-of-fold scores) and, with --json, writes the same
numbers. Every row trains from scratch on the training folds only. The rows are
newsseg.evaluate.ABLATION_VARIANTS, the same as ``newsseg train --cv 5 --ablation`` records in
a model's metadata.
"""

from __future__ import annotations

import json

from cv_args import cv_parser, read_corpus

from newsseg.evaluate import ABLATION_VARIANTS, ablation
from newsseg.model import ParagraphLabeler


def main() -> None:
    parser = cv_parser(__doc__)
    parser.add_argument("--only", nargs="*", help="names of variants to run (default: all)")
    args = parser.parse_args()
    frame = read_corpus(args, "ablation")
    rows = {}
    print("| variant | macro-F1 | headline | body | legal | teaser | body_f1 | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, params in ABLATION_VARIANTS.items():
        if args.only and name not in args.only:
            continue
        table = ablation(ParagraphLabeler(), frame, args.folds, variants={name: params})
        row = table["variants"][0]
        rows[name] = {key: value for key, value in row.items() if key != "variant"}
        f1 = row["f1"]
        print(
            f"| {name} | {row['macro_f1']:.3f} | {f1['headline']:.3f} | {f1['body']:.3f} | "
            f"{f1['legal']:.3f} | {f1['teaser']:.3f} | {row['body_f1']:.3f} | "
            f"{row['seconds']:.0f} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
