"""Documents as runs of rows (newsseg.runs): the one place that finds them."""

from __future__ import annotations

import numpy as np

from newsseg.runs import run_numbers, run_slices, run_starts


def test_runs_of_equal_consecutive_values():
    ids = ["a", "a", "b", "a", "a", "c"]  # a document apart twice is two runs
    assert run_starts(ids).tolist() == [0, 2, 3, 5]
    assert run_numbers(ids).tolist() == [0, 0, 1, 2, 2, 3]
    assert run_slices(ids) == [slice(0, 2), slice(2, 3), slice(3, 5), slice(5, 6)]


def test_no_rows_and_one_row():
    assert run_starts([]).tolist() == [] and run_numbers([]).tolist() == []
    assert run_slices([]) == []
    assert run_slices(["only"]) == [slice(0, 1)]


def test_numeric_runs_and_ids_that_look_alike():
    assert run_starts(np.array([3, 3, 0, 0, 0, 7])).tolist() == [0, 2, 5]
    # 1 and "1" and True are different ids in a frame's object column
    assert run_starts(np.array(["1", 1, 1.5, "1.5"], dtype=object)).tolist() == [0, 1, 2, 3]
