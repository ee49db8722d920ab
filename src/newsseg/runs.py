"""Documents as runs of rows: a batch's rows hold each document's paragraphs one after the
other, and a document is a run of rows with the same ``doc_id``. The one place that finds
those runs; everything that walks a batch document by document starts here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def run_starts(values: Sequence | np.ndarray) -> np.ndarray:
    """The first row of each run of equal consecutive values (none for no values)."""
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if len(array) == 0:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(np.concatenate([[True], array[1:] != array[:-1]]))


def run_numbers(values: Sequence | np.ndarray) -> np.ndarray:
    """The number of each row's run (0, 1, ...): rows of one run share it."""
    starts = run_starts(values)
    numbers = np.zeros(len(values), dtype=int)
    numbers[starts[1:]] = 1
    return np.cumsum(numbers)


def run_slices(values: Sequence | np.ndarray) -> list[slice]:
    """One slice of rows per run of equal consecutive values."""
    starts = run_starts(values).tolist()
    if not starts:
        return []
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], len(values)], strict=True)]
