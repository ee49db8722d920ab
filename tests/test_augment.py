"""Composed training pages: built from training documents only, shaped like real pages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from newsseg.augment import Composition, compose_documents
from newsseg.config import COMPOSED_MARK


def corpus() -> tuple[pd.DataFrame, np.ndarray]:
    rows = []
    for site in ("alpha", "beta", "gamma"):
        rows += [
            (f"{site}__1", f"{site} headline", "headline"),
            (f"{site}__1", f"{site} first body paragraph about {site}.", "body"),
            (f"{site}__1", f"{site} second body paragraph.", "body"),
            (f"{site}__1", f"© 2021 {site} media. All rights reserved.", "legal"),
            (f"{site}__1", f"{site} teaser title", "teaser"),
        ]
    frame = pd.DataFrame(rows, columns=["doc_id", "text", "label"])
    return frame[["doc_id", "text"]], frame["label"].to_numpy(dtype=object)


def test_composed_pages_follow_the_training_rows():
    frame, labels = corpus()
    composed, _, sources = compose_documents(frame, labels, Composition(share=2.0))
    assert composed.iloc[: len(frame)].equals(frame)
    assert (sources[: len(frame)] == np.arange(len(frame))).all()
    new = composed.iloc[len(frame) :]
    assert new["doc_id"].str.contains(COMPOSED_MARK).all()
    assert new["doc_id"].nunique() == 6


def test_a_composed_page_is_headline_body_notice_then_teasers_of_other_sites():
    frame, labels = corpus()
    composition = Composition(share=2.0, notice_share=1.0, lead_share=1.0, teasers=(2, 2))
    composed, composed_labels, sources = compose_documents(frame, labels, composition)
    page = composed["doc_id"] == composed["doc_id"].iloc[len(frame)]
    page_labels = list(composed_labels[page.to_numpy()])
    assert page_labels == ["headline", "body", "body", "legal", "teaser", "teaser"]
    host_site = composed["doc_id"][page].iloc[0].split("__")[0]
    texts = composed["text"][page].tolist()
    for teaser in texts[-2:]:  # leads of documents of other sites
        assert "first body paragraph" in teaser and host_site not in teaser
    assert host_site not in texts[3]  # the notice comes from other sites
    page_sources = sources[page.to_numpy()]
    assert page_sources[3] == -1  # a notice joined or stripped is new text
    copied = page_sources[page_sources >= 0]
    assert (composed["text"].to_numpy()[copied] == np.asarray(texts)[page_sources >= 0]).all()


def test_composition_is_deterministic_and_can_be_off():
    frame, labels = corpus()
    first = compose_documents(frame, labels, Composition(), random_state=3)
    second = compose_documents(frame, labels, Composition(), random_state=3)
    assert first[0].equals(second[0])
    off = compose_documents(frame, labels, Composition(share=0.0))
    assert off[0].equals(frame) and len(off[1]) == len(labels)
