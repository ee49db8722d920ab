"""Model files as newsseg 0.x wrote them (skops archives), for the tests of reading and
converting them: the 0.5 writer, with the classes named where 0.5 kept them."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from newsseg.config import MODEL_META_MEMBER
from newsseg.model_file import MOVED_TYPES, renamed_modules

SKLEARN_OF_0X = "1.9."
"""The scikit-learn minor version newsseg 0.5 was pinned to."""


def write_skops_model(model, path: Path, metadata: dict) -> Path:
    """``model`` as newsseg 0.5's ``model_file.save`` wrote it: a skops archive with the
    metadata as one more member (the calling test is skipped where skops is missing)."""
    import pytest
    import sklearn

    sio = pytest.importorskip("skops.io")
    if not sklearn.__version__.startswith(SKLEARN_OF_0X):
        # Another scikit-learn's objects hold types newsseg 0.x files never held.
        pytest.skip(f"newsseg 0.x wrote its skops files with scikit-learn {SKLEARN_OF_0X}x")

    buffer = io.BytesIO(sio.dumps(model))
    old_modules = {(new, name): old for (old, name), new in MOVED_TYPES.items()}

    with (
        zipfile.ZipFile(buffer) as source,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "schema.json":
                data = json.dumps(renamed_modules(json.loads(data), old_modules)).encode("utf-8")
            target.writestr(info.filename, data)
        target.writestr(MODEL_META_MEMBER, json.dumps(metadata))
    return path
