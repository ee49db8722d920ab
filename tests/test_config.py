"""Where the developers' corpus is found: one rule for tests, notebooks and benchmarks."""

from __future__ import annotations

import pytest

from newsseg import config
from newsseg.errors import InputError


def corpus_in(folder):
    folder.mkdir(parents=True)
    (folder / config.MANIFEST_NAME).write_text("doc_id,site\n", encoding="utf-8")
    return folder


def test_an_explicit_corpus_comes_before_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(config.CORPUS_ENV, str(corpus_in(tmp_path / "env")))
    assert config.corpus_path(corpus_in(tmp_path / "given")) == tmp_path / "given"
    assert config.corpus_path() == tmp_path / "env"


def test_without_either_the_corpus_is_the_one_beside_the_checkout(monkeypatch):
    monkeypatch.delenv(config.CORPUS_ENV, raising=False)
    expected = (config.CHECKOUT / ".." / "shared" / "corpus").resolve()
    assert config.corpus_path(must_exist=False) == expected


def test_a_missing_corpus_says_where_it_was_looked_for_and_how_to_point_at_it(tmp_path):
    with pytest.raises(InputError, match=r"no labeled corpus here.*NEWSSEG_CORPUS") as caught:
        config.corpus_path(tmp_path / "nowhere")
    assert caught.value.path == str(tmp_path / "nowhere")


def test_the_example_dump_is_looked_for_beside_the_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv(config.CORPUS_ENV, str(tmp_path / "shared" / "corpus"))
    assert config.example_dump_path() == tmp_path / "shared" / "examples" / "ilkha-sample.txt"
