"""The command line the cross-validation benchmarks share: --corpus, --folds and --json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from newsseg.config import DEFAULT_CORPUS as CORPUS_BESIDE_CHECKOUT
from newsseg.dataset import read_documents

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = (ROOT / CORPUS_BESIDE_CHECKOUT).resolve()


def cv_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first line, with the shared options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    return parser


def read_corpus(args: argparse.Namespace, script: str) -> pd.DataFrame:
    """The labeled corpus, or an exit naming where it was looked for."""
    if not (args.corpus / "manifest.csv").is_file():
        sys.exit(f"{script}: corpus not found at {args.corpus} (give --corpus)")
    return read_documents([args.corpus], labeled=True)
