"""The train guard: a diverging booster reproduced on the tiny corpus, the checks that catch
it, and the two changes that each prevent it (L2 on the leaves, grouped early stopping)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from typer.testing import CliRunner

from newsseg import api, dataset, health
from newsseg.cli import app
from newsseg.model import ParagraphLabeler
from newsseg.model_file import read_metadata

from .conftest import TINY_PARAMS

# Without L2 and early stopping, a learning rate of 2 makes the tiny corpus's booster do
# what the 0.1 one did on the 1,225-page corpus: leaf values explode, probabilities
# saturate, and the model mislabels its own training data.
DIVERGING = {**TINY_PARAMS, "boost_l2": 0.0, "early_stopping": False, "boost_learning_rate": 2.0}


@pytest.fixture(scope="module")
def tiny_frame(tiny_corpus) -> pd.DataFrame:
    return dataset.read_documents([tiny_corpus], labeled=True)


def fitted(frame: pd.DataFrame, **params) -> ParagraphLabeler:
    return ParagraphLabeler(**params).fit(frame[["doc_id", "text"]], frame["label"])


def test_a_diverging_booster_fails_the_checks(tiny_frame):
    model = fitted(tiny_frame, **DIVERGING)
    assert model.booster_leaf_max() > 1e4
    report = health.training_health(model, tiny_frame, cv={"pooled": {"macro_f1": 0.95}})
    assert not report["ok"]
    text = " | ".join(report["warnings"])
    assert "the booster diverged" in text
    assert "on its own training documents, far below its cross-validated 0.950" in text
    assert report["measured"]["training_macro_f1"] < 0.9


@pytest.mark.parametrize(
    "fix", [{"boost_l2": 1.0}, {"early_stopping": True}], ids=["l2", "early-stopping"]
)
def test_leaf_regularisation_or_grouped_early_stopping_each_keep_it_healthy(tiny_frame, fix):
    model = fitted(tiny_frame, **{**DIVERGING, **fix})
    report = health.training_health(model, tiny_frame, cv={"pooled": {"macro_f1": 0.95}})
    assert report["ok"], report
    assert model.booster_leaf_max() < health.LEAF_LIMIT
    if "early_stopping" in fix:  # stopped where the held-out sites were scored best
        assert model.boost_iterations_ == model.holdout_scores_["iteration"] < 120


def test_the_default_model_is_regularised_and_runs_all_its_iterations(tiny_frame):
    model = fitted(tiny_frame, **TINY_PARAMS)
    assert model.boost_l2 > 0 and not model.early_stopping
    assert model.boost_iterations_ == model.boost_iterations
    assert model.holdout_scores_["paragraphs"] > 0
    assert health.training_health(model, tiny_frame)["ok"]


def test_train_warns_records_the_warnings_and_the_cli_prints_them(tiny_corpus, tmp_path):
    target = tmp_path / "bad.npz"
    with warnings.catch_warnings(record=True) as caught:  # it warns of several things
        warnings.simplefilter("always")
        metadata = api.train([tiny_corpus], target, params=DIVERGING)
    messages = [str(w.message) for w in caught if w.category is health.TrainingHealthWarning]
    assert any("the booster diverged" in message for message in messages)
    assert messages == metadata["health"]["warnings"]
    assert metadata["health"]["ok"] is False
    assert read_metadata(target)["health"] == metadata["health"]
    good = api.train([tiny_corpus], tmp_path / "good.npz", params=TINY_PARAMS)
    assert good["health"]["ok"] and good["health"]["warnings"] == []


def test_the_cli_prints_each_health_warning_for_tiny_data(tiny_corpus, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    (one / "solo__1.tsv").write_bytes(next(tiny_corpus.glob("*.tsv")).read_bytes())
    result = CliRunner().invoke(app, ["train", str(one), "-o", str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    assert "newsseg: WARNING: trained on only 1 document(s) of 1 site(s)" in result.stderr
    assert "recorded in" in result.stderr
