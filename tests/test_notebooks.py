"""The notebooks run from top to bottom on the real corpus (slow; skipped without it) and are
stored without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

import newsseg
from newsseg.config import CORPUS_ENV

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
TIMEOUT_SECONDS = 300
"""Per cell; each notebook takes well under a minute in all."""


def test_there_are_notebooks():
    assert [path.name for path in NOTEBOOKS] == [
        "1.0-corpus-exploration.ipynb",
        "2.0-error-analysis.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs(path, shared_corpus, monkeypatch):
    from nbclient import NotebookClient

    # The kernel inherits this environment: the corpus, and first on its path the package
    # these tests import (which need not be the one installed in the environment).
    monkeypatch.setenv(CORPUS_ENV, str(shared_corpus.resolve()))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    package_root = str(Path(newsseg.__file__).parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    )
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert not errors
