"""The command line the cross-validation benchmarks share: --corpus, --folds and --json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from newsseg.config import corpus_path
from newsseg.dataset import read_documents
from newsseg.errors import InputError


def cv_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first line, with the shared options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="default: $NEWSSEG_CORPUS or ../shared/corpus")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    return parser


def read_corpus(args: argparse.Namespace, script: str) -> pd.DataFrame:
    """The labeled corpus, or an exit naming where it was looked for."""
    try:
        args.corpus = corpus_path(args.corpus)
    except InputError as error:
        sys.exit(f"{script}: {error} (or give --corpus)")
    return read_documents([args.corpus], labeled=True)
