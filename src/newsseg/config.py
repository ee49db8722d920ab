"""Names and settings shared by every module: labels, file kinds, default locations."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from newsseg.errors import InputError

VERSION = "0.5.0"
"""The version of newsseg (``newsseg.__version__``), recorded in the models it trains."""

LABELS: tuple[str, ...] = ("headline", "body", "legal", "teaser")
"""The label set of the shipped model, in a fixed order used by reports."""


@dataclass(frozen=True)
class LabelRoles:
    """Which label plays each part of a page. Composed training pages (see
    :mod:`newsseg.augment`) and the text model's context cues (see
    :func:`newsseg.model.probability_context`) are built from these parts; a label set may
    hold other labels besides (``--labels headline,body,legal,teaser,byline``)."""

    headline: str = "headline"
    """The page's own title."""
    body: str = "body"
    """The article's paragraphs."""
    notice: str = "legal"
    """Copyright, rights, terms and cookie notices: the start of a page's footer."""
    teaser: str = "teaser"
    """Titles or leads of other articles."""


ROLES = LabelRoles()
"""The label of each part of a page, named once."""

BODY_LABEL = ROLES.body
HEADLINE_LABEL = ROLES.headline
ARTICLE_LABELS = (HEADLINE_LABEL, BODY_LABEL)
"""The labels of the clean article (``predict --article``)."""


def ordered_labels(labels) -> list[str]:
    """``labels`` in the report order: the known labels first, then others sorted."""
    found = {str(label) for label in labels}
    return [label for label in LABELS if label in found] + sorted(found - set(LABELS))


DUMP_SUFFIXES = (".txt",)
LABELED_SUFFIXES = (".tsv",)
TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")

STDIN_PATH = "-"

MANIFEST_NAME = "manifest.csv"
SITE_SEPARATOR = "__"
"""Corpus files are named ``<site>__<id>.tsv``; the part before it names the site."""

COMPOSED_MARK = "#composed"
"""Ids of training pages composed from other documents end in this mark and a number."""


def document_site(doc_id: str) -> str:
    """The site of a document, the one rule for every ``doc_id``: a composed page's is its
    host's (the id before :data:`COMPOSED_MARK`); a ``<site>__<id>`` id's is the part before
    ``__`` when that part is not empty; any other id (``page``, ``__id``) is its own site."""
    name = str(doc_id).partition(COMPOSED_MARK)[0]
    site, separator, _ = name.partition(SITE_SEPARATOR)
    return site if separator and site else name


DEFAULT_MODEL_PACKAGE = "newsseg.models"
DEFAULT_MODEL_NAME = "default.npz"
MODEL_META_MEMBER = "newsseg-meta.json"
"""Name of the metadata entry stored inside a model file (a zip archive)."""

CORPUS_ENV = "NEWSSEG_CORPUS"
DEFAULT_CORPUS = Path("..") / "shared" / "corpus"
"""Where the developers' labeled corpus sits beside a checkout."""
CHECKOUT = Path(__file__).resolve().parents[2]
"""The checkout this module is in (with an editable install, as the developers have)."""
EXAMPLE_DUMP = Path("examples") / "ilkha-sample.txt"
"""A real dump of a site not in the corpus, in the folder that holds the corpus."""


def corpus_path(explicit: str | Path | None = None, *, must_exist: bool = True) -> Path:
    """Where the developers' labeled corpus is: ``explicit`` when given, else the folder
    ``$NEWSSEG_CORPUS`` names, else ``../shared/corpus`` beside the checkout. With
    ``must_exist``, an :class:`~newsseg.errors.InputError` says where it was looked for
    when that folder holds no ``manifest.csv``."""
    if explicit is not None:
        path = Path(explicit)
    elif os.environ.get(CORPUS_ENV):
        path = Path(os.environ[CORPUS_ENV])
    else:
        path = (CHECKOUT / DEFAULT_CORPUS).resolve()
    if must_exist and not (path / MANIFEST_NAME).is_file():
        raise InputError(
            path, f"no labeled corpus here (no {MANIFEST_NAME}); set {CORPUS_ENV} to its folder"
        )
    return path


def example_dump_path() -> Path:
    """The example dump of an unseen site, beside the corpus (see :func:`corpus_path`):
    ``../shared/examples/ilkha-sample.txt``; it may be missing."""
    return corpus_path(must_exist=False).parent / EXAMPLE_DUMP


TOP_FEATURES = 15
"""Text features listed per label by ``newsseg inspect`` and ``inspect_model``."""
