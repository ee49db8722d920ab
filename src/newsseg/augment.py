"""Training pages composed the way real pages are: one document's headline and body, then a
notice taken from another site, then titles or leads of other documents as teasers.

Most teasers in a labeled corpus are short titles, but on many sites they are long leads of
other stories, and notices can be long paragraphs with no ©. Composed pages show the model
both kinds, built only from the training documents (never from test folds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from newsseg.config import COMPOSED_MARK, ROLES, document_site
from newsseg.features import document_slices

_COPYRIGHT_AND_YEARS = re.compile(
    r"©|\(c\)|\bcopyright\b|\b(?:19|20)\d\d(?:\s*[-–]\s*(?:19|20)\d\d)?\b", re.IGNORECASE
)
MIN_NOTICE_CHARS = 20


@dataclass(frozen=True)
class Composition:
    """How many pages to compose and of what."""

    share: float = 1.0
    """Composed pages per training document."""
    lead_share: float = 0.7
    """Teasers that are the lead (first body paragraph) of another document, not its title."""
    teasers: tuple[int, int] = (2, 6)
    """Fewest and most teasers on a composed page."""
    notice_share: float = 0.8
    """Composed pages that carry a notice from another site."""
    notice_parts: int = 3
    """A notice joins up to this many notices of other sites into one paragraph."""
    bare_notice_share: float = 0.5
    """Notices stripped of ©, "copyright" and years: the words must carry the label."""


def compose_documents(
    frame: pd.DataFrame, labels: np.ndarray, composition: Composition, random_state: int = 0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The training rows (``doc_id``, ``text`` and ``labels``; a document's rows
    consecutive) followed by composed pages,
    and for every row the training row its text was copied from (itself for training rows,
    -1 for notices joined from several)."""
    rng = np.random.RandomState(random_state)
    texts = frame["text"].astype(str).to_numpy()
    doc_ids = frame["doc_id"].astype(str).to_numpy()
    documents = []
    for part in document_slices(frame["doc_id"]):
        rows = np.arange(part.start, part.stop)
        doc_id = doc_ids[part.start]
        documents.append(
            {
                "doc_id": doc_id,
                "site": document_site(doc_id),
                "headline": next(iter(rows[labels[rows] == ROLES.headline]), None),
                "body": list(rows[labels[rows] == ROLES.body]),
                "legal": [
                    row
                    for row in rows[labels[rows] == ROLES.notice]
                    if len(texts[row]) >= MIN_NOTICE_CHARS
                ],
            }
        )
    hosts = [d for d in documents if d["headline"] is not None and d["body"]]
    count = round(composition.share * len(documents))
    own_rows = np.arange(len(frame))
    if not hosts or count == 0:
        return frame[["doc_id", "text"]].reset_index(drop=True), labels, own_rows
    notices = [(d["site"], row) for d in documents for row in d["legal"]]
    new_ids, new_texts, new_labels, new_sources = [], [], [], []
    for number, index in enumerate(rng.choice(len(hosts), size=count, replace=True)):
        host = hosts[index]
        # (source row or -1, text, label) for each paragraph of the composed page
        page = [(host["headline"], texts[host["headline"]], ROLES.headline)]
        page += [(row, texts[row], ROLES.body) for row in host["body"]]
        others_notices = [row for site, row in notices if site != host["site"]]
        if others_notices and rng.rand() < composition.notice_share:
            page.append((-1, _notice(texts, others_notices, composition, rng), ROLES.notice))
        others = [d for d in hosts if d["site"] != host["site"]] or hosts
        low, high = composition.teasers
        for _ in range(rng.randint(low, high + 1)):
            other = others[rng.randint(len(others))]
            row = other["body"][0] if rng.rand() < composition.lead_share else other["headline"]
            page.append((row, texts[row], ROLES.teaser))
        doc_id = f"{host['doc_id']}{COMPOSED_MARK}{number}"
        for source, text, label in page:
            new_ids.append(doc_id)
            new_texts.append(text)
            new_labels.append(label)
            new_sources.append(int(source))
    composed = pd.DataFrame({"doc_id": new_ids, "text": new_texts})
    return (
        pd.concat([frame[["doc_id", "text"]], composed], ignore_index=True),
        np.concatenate([labels, np.asarray(new_labels, dtype=object)]),
        np.concatenate([own_rows, np.asarray(new_sources, dtype=int)]),
    )


def _notice(
    texts: np.ndarray, pool: list[int], composition: Composition, rng: np.random.RandomState
) -> str:
    """One notice paragraph joined from notices of other sites, sometimes stripped bare."""
    count = rng.randint(1, composition.notice_parts + 1)
    parts = [texts[pool[rng.randint(len(pool))]] for _ in range(count)]
    notice = " ".join(dict.fromkeys(parts))
    if rng.rand() < composition.bare_notice_share:
        notice = " ".join(_COPYRIGHT_AND_YEARS.sub(" ", notice).split())
    return notice
