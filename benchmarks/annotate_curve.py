"""How many corrected pages a new kind of site needs: newsseg annotate's loop, played.

    OMP_NUM_THREADS=1 python benchmarks/annotate_curve.py [--corpus ../shared/corpus]
        [--group fundus] [--points 0 5 10 20 40] [--orders uncertain random] [--seed 0]
        [--shuffle-seeds 0 1 2] [--json FILE]

The pages of one group of the corpus (``--group``, a ``source`` of the manifest: ``fundus``,
news sites of many countries, is a new kind of site next to the reviewed tier) are held out
of training and split by site into a pool to correct and test pages (no site in both). The
benchmark plays the user of ``newsseg annotate``: it opens a session over the pool (with the
reviewed tier, ``labels == "reviewed"``, as ``--base`` data), saves pages with their true
labels in the order the session gives (``uncertain``: the least certain first under the
latest model; ``random``: a shuffled input order), and retrains at each point N of
``--points`` on the reviewed tier plus the N corrected pages, as the app's retraining does.
Each model is scored on the test pages (macro-F1, teaser F1 and body_f1 of
newsseg.evaluate.score). N = 0 is the model of the reviewed tier alone, shared by the orders;
the random order is run once per ``--shuffle-seeds`` seed and averaged.

It trains 1 + (points - 1) x orders models on ~130-170 pages each (a few minutes each on one
core) and prints a Markdown table; ``--json`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from newsseg import dataset
from newsseg.annotate.session import Session, open_session
from newsseg.config import LABELS, MANIFEST_NAME, corpus_path
from newsseg.errors import InputError
from newsseg.evaluate import score
from newsseg.model import ParagraphLabeler

REVIEWED_TIER = "reviewed"
TEST_SHARE = 0.5
"""The share of the group's pages (whole sites) kept for testing."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="default: $NEWSSEG_CORPUS or ../shared/corpus")
    parser.add_argument("--group", default="fundus", help="the manifest source held out")
    parser.add_argument("--points", type=int, nargs="+", default=[0, 5, 10, 20, 40])
    parser.add_argument("--orders", nargs="+", default=["uncertain", "random"])
    parser.add_argument("--seed", type=int, default=0, help="of the pool/test split")
    parser.add_argument(
        "--shuffle-seeds",
        type=int,
        nargs="+",
        help="one random order per seed, averaged in the table (default: --seed)",
    )
    parser.add_argument("--test-share", type=float, default=TEST_SHARE)
    parser.add_argument("--json", type=Path)
    return parser.parse_args()


def corpus_files(corpus: Path, rows: pd.DataFrame) -> list[Path]:
    pairs = zip(rows["source"], rows["doc_id"], strict=True)
    return [corpus / source / f"{doc_id}.tsv" for source, doc_id in pairs]


def split_by_site(
    rows: pd.DataFrame, test_share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The group's pages as (pool, test), whole sites on each side, about ``test_share`` of
    the pages tested."""
    sites = sorted(rows["site"].unique())
    random.Random(seed).shuffle(sites)
    pages = rows.groupby("site").size()
    test_sites, tested = set(), 0
    for site in sites:
        if tested >= test_share * len(rows):
            break
        test_sites.add(site)
        tested += pages[site]
    in_test = rows["site"].isin(test_sites)
    return rows[~in_test], rows[in_test]


def scores_of(model: ParagraphLabeler, test: pd.DataFrame) -> dict:
    predicted = model.predict(test[["doc_id", "text"]])
    scores = score(test, predicted, labels=LABELS)
    return {
        "macro_f1": scores["macro_f1"],
        "teaser_f1": scores["labels"]["teaser"]["f1"],
        "body_f1": scores["body_f1"],
    }


def curve_table(rows: list[dict], points: list[int]) -> str:
    """A Markdown table: one line per N, each order's scores side by side; the random
    order's are the mean over its shuffles, with their range."""
    orders = list(dict.fromkeys(row["order"] for row in rows if row["order"] != "-"))
    metrics = ("macro_f1", "teaser_f1", "body_f1")
    names = {"macro_f1": "macro-F1", "teaser_f1": "teaser F1", "body_f1": "body_f1"}
    header = ["corrected pages"] + [f"{order}: {names[m]}" for order in orders for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for count in sorted(points):
        cells = [str(count)]
        for order in orders:
            found = [
                row for row in rows if row["corrected"] == count and row["order"] in (order, "-")
            ]
            for metric in metrics:
                values = [row[metric] for row in found]
                cell = f"{sum(values) / len(values):.3f}" if values else "-"
                if len(values) > 1:
                    cell += f" ({min(values):.3f}-{max(values):.3f})"
                cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def correct_until(session: Session, count: int, truth: dict[str, list[str]]) -> None:
    """Save pages with their true labels, in the session's order, until ``count`` are saved."""
    while sum(doc.saved for doc in session.documents) < count:
        doc = session.documents[session.order()[0]]
        session.save(doc.index, truth[doc.name])


def main() -> None:
    args = parse_args()
    try:
        args.corpus = corpus_path(args.corpus)
    except InputError as error:
        sys.exit(f"annotate_curve: {error} (or give --corpus)")
    manifest = pd.read_csv(args.corpus / MANIFEST_NAME)
    group = manifest[manifest["source"] == args.group]
    if group.empty:
        sys.exit(f"annotate_curve: no pages of source {args.group!r} in the manifest")
    base_paths = corpus_files(args.corpus, manifest[manifest["labels"] == REVIEWED_TIER])
    pool, test_rows = split_by_site(group, args.test_share, args.seed)
    test = dataset.read_documents(corpus_files(args.corpus, test_rows), labeled=True)
    pool_paths = corpus_files(args.corpus, pool)
    truth = {path.stem: dataset.read_labeled_dump(path)["label"].tolist() for path in pool_paths}
    if max(args.points) > len(pool_paths):
        sys.exit(f"annotate_curve: the pool holds {len(pool_paths)} pages, fewer than the points")
    log(
        f"{args.group}: pool {len(pool)} pages ({pool['site'].nunique()} sites), test "
        f"{len(test_rows)} pages ({test_rows['site'].nunique()} sites); base "
        f"{len(base_paths)} reviewed pages"
    )

    base = dataset.read_documents(base_paths, labeled=True)
    start = time.monotonic()
    model0 = ParagraphLabeler().fit(base[["doc_id", "text"]], base["label"].to_numpy())
    first = {"order": "-", "corrected": 0, **scores_of(model0, test)}
    first["seconds"] = time.monotonic() - start
    rows = [first]
    log(f"N=0: {first}")
    runs = [(order, None) for order in args.orders if order != "random"]
    if "random" in args.orders:
        runs += [("random", seed) for seed in args.shuffle_seeds or [args.seed]]
    for order, shuffle_seed in runs:
        paths = list(pool_paths)
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(paths)
        with tempfile.TemporaryDirectory(prefix="annotate-curve-") as output:
            session = open_session(
                paths,
                output,
                model0,
                base=base_paths,
                order="uncertain" if order == "uncertain" else "input",
                retrain_every=0,
            )
            for count in sorted(point for point in args.points if point > 0):
                correct_until(session, count, truth)
                start = time.monotonic()
                session.train_now()
                row = {"order": order, "shuffle_seed": shuffle_seed, "corrected": count}
                row |= scores_of(session.model, test)
                row["seconds"] = time.monotonic() - start
                rows.append(row)
                log(f"{order} N={count}: {row}")

    print(
        f"Held out: {args.group}, {len(pool)} pool pages ({pool['site'].nunique()} sites) and "
        f"{len(test_rows)} test pages ({test_rows['site'].nunique()} sites); base: "
        f"{len(base_paths)} reviewed pages\n"
    )
    print(curve_table(rows, args.points))
    if args.json:
        result = {
            "group": args.group,
            "seed": args.seed,
            "shuffle_seeds": args.shuffle_seeds or [args.seed],
            "pool_pages": len(pool),
            "test_pages": len(test_rows),
            "test_sites": int(test_rows["site"].nunique()),
            "base_pages": len(base_paths),
            "rows": rows,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
