"""Shared fixtures: a tiny labeled corpus written here, and a model trained on it once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from newsseg.config import corpus_path
from newsseg.errors import InputError

SITES = ("daily-planet", "gotham-gazette", "metro-herald", "river-times", "valley-post", "bay-news")

TOPICS = (
    ("Council approves new bridge over the river", "bridge", "council", "engineers"),
    ("Local bakery wins national bread award", "bakery", "award", "bakers"),
    ("Storm closes schools across the county", "storm", "schools", "forecasters"),
    ("Museum opens exhibition of ancient maps", "museum", "maps", "curators"),
    ("City marathon draws record crowd", "marathon", "runners", "organisers"),
    ("Hospital expands its children's ward", "hospital", "ward", "doctors"),
    ("Farmers report strong apple harvest", "harvest", "apples", "farmers"),
    ("Library extends weekend opening hours", "library", "hours", "librarians"),
    ("New tram line links the old town", "tram", "line", "planners"),
    ("Theatre revives a forgotten comedy", "theatre", "comedy", "actors"),
    ("Park restoration finishes ahead of schedule", "park", "restoration", "gardeners"),
    ("Harbour festival returns after five years", "festival", "harbour", "sailors"),
)


def body_paragraphs(topic: tuple[str, str, str, str]) -> list[str]:
    _, thing, other, people = topic
    return [
        f"The {thing} has been the talk of the town this week, and {people} say the "
        f"{other} will change how residents spend their days for years to come.",
        f"According to the {people}, planning for the {thing} began two years ago, when a "
        f"small group met in the town hall to discuss the {other} and what it could mean.",
        f"Residents who spoke to us were mostly positive. One said the {thing} was long "
        f"overdue, while another worried about the cost of the {other} to local taxpayers.",
        f"Officials expect the {other} to be finished by the spring, and the {people} have "
        "promised regular updates on progress, costs and any changes to the timetable.",
    ]


def labeled_lines(site_index: int, doc_index: int) -> list[tuple[str, str]]:
    topic = TOPICS[(site_index * 2 + doc_index) % len(TOPICS)]
    others = [TOPICS[(site_index * 2 + doc_index + k) % len(TOPICS)][0] for k in (3, 5, 7)]
    site = SITES[site_index]
    lines = [("headline", topic[0])]
    lines += [("body", text) for text in body_paragraphs(topic)]
    lines.append(("legal", f"© 2024 {site.replace('-', ' ').title()}. All rights reserved."))
    lines += [("teaser", title) for title in others]
    return lines


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Twelve labeled dumps of six sites, named ``<site>__<n>.tsv``."""
    root = tmp_path_factory.mktemp("corpus")
    for site_index, site in enumerate(SITES):
        for doc_index in range(2):
            text = "".join(
                f"{label}\t{line}\n" for label, line in labeled_lines(site_index, doc_index)
            )
            (root / f"{site}__{doc_index}.tsv").write_text(text, encoding="utf-8")
    return root


TINY_PARAMS = {"word_max_features": 500, "char_max_features": 1000, "boost_iterations": 120}


@pytest.fixture(scope="session")
def tiny_model_path(tiny_corpus, tmp_path_factory) -> Path:
    """A model trained on the tiny corpus and saved as a model file (of arrays)."""
    from newsseg.api import train

    path = tmp_path_factory.mktemp("models") / "tiny.npz"
    train([tiny_corpus], path, params=TINY_PARAMS)
    return path


@pytest.fixture(scope="session")
def tiny_fitted(tiny_corpus):
    """A ParagraphLabeler fitted on the tiny corpus, and its training metadata."""
    from newsseg import dataset, model_file
    from newsseg.model import ParagraphLabeler

    frame = dataset.read_corpus([tiny_corpus])
    model = ParagraphLabeler(**TINY_PARAMS).fit(frame[["doc_id", "text"]], frame["label"])
    metadata = model_file.training_metadata(
        model,
        frame,
        ["headline", "body", "legal", "teaser"],
        dataset.NO_SELECTION,
        dataset.NO_WEIGHTING,
    )
    return model, metadata


@pytest.fixture(scope="session")
def tiny_legacy_path(tiny_fitted, tmp_path_factory) -> Path:
    """The tiny model as newsseg 0.x saved it: a skops archive (reading it needs skops)."""
    pytest.importorskip("skops")
    from tests.legacy_files import write_skops_model

    model, metadata = tiny_fitted
    return write_skops_model(model, tmp_path_factory.mktemp("legacy") / "tiny.skops", metadata)


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The developers' corpus (see :func:`newsseg.config.corpus_path`); skip when absent."""
    try:
        return corpus_path()
    except InputError as error:
        pytest.skip(f"real corpus not found: {error}")


@pytest.fixture(scope="session")
def quality_gate():
    """benchmarks/quality_gate.py, the floors of the quality scores (a script, not a package)."""
    path = Path(__file__).parents[1] / "benchmarks" / "quality_gate.py"
    spec = importlib.util.spec_from_file_location("quality_gate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
