"""newsseg: label every paragraph of a scraped news-page dump.

Each paragraph gets one of ``headline``, ``body``, ``legal`` or ``teaser``. The Python API:

>>> import newsseg
>>> model = newsseg.load_model()                      # the shipped default model
>>> newsseg.label_paragraphs(["A headline", "A body paragraph."], model)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from newsseg.config import LABELS, VERSION

if TYPE_CHECKING:
    from newsseg.api import (
        cross_validation,
        evaluate_model,
        evaluate_report,
        evaluation_frame,
        inspect_model,
        label_dump,
        label_frame,
        label_paragraphs,
        load_model,
        train,
    )

__version__ = VERSION

__all__ = [
    "LABELS",
    "__version__",
    "cross_validation",
    "evaluate_model",
    "evaluate_report",
    "evaluation_frame",
    "inspect_model",
    "label_dump",
    "label_frame",
    "label_paragraphs",
    "load_model",
    "train",
]

_API = frozenset(__all__) - {"LABELS", "__version__"}


def __getattr__(name: str):
    # The API is imported on first use: it loads scikit-learn and pandas (seconds), which
    # `newsseg --help` and `import newsseg.config` do not need.
    if name in _API:
        return getattr(importlib.import_module("newsseg.api"), name)
    raise AttributeError(f"module 'newsseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
