"""newsseg: label every paragraph of a scraped news-page dump.

Each paragraph gets one of ``headline``, ``body``, ``legal`` or ``teaser``. The Python API:

>>> import newsseg
>>> model = newsseg.load_model()                      # the shipped default model
>>> newsseg.label_paragraphs(["A headline", "A body paragraph."], model)
"""

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
from newsseg.config import LABELS

__version__ = "0.1.0"

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
