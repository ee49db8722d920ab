"""The quality gate (benchmarks/quality_gate.py) on hand-written scores and baselines."""

from __future__ import annotations

import json

import pytest

CORPUS = "c0" * 32
OTHER_CORPUS = "d1" * 32


def evaluation(macro_f1=0.90, body_f1=0.97, teaser_f1=0.80) -> dict:
    """Scores shaped as ``newsseg evaluate --json`` writes them (the parts the gate reads)."""
    return {
        "macro_f1": macro_f1,
        "body_f1": body_f1,
        "labels": {"body": {"f1": 0.98}, "teaser": {"f1": teaser_f1}},
    }


def write_baseline(path, floors, margin=0.01):
    baseline = {"corpus_sha256": CORPUS, "noise_margin": margin, "cases": {"e": {"floors": floors}}}
    path.write_text(json.dumps(baseline), encoding="utf-8")
    return path


def test_metrics_are_named_by_their_path_in_the_scores(quality_gate):
    cv = {
        "pooled": evaluation(),
        "per_fold": {"macro_f1": {"mean": 0.88, "std": 0.05}, "accuracy": {"mean": 0.9}},
        "tiers": {"reviewed": evaluation(teaser_f1=0.7)},
    }
    found = quality_gate.metrics(cv)
    assert found["pooled.labels.teaser.f1"] == 0.80
    assert found["per_fold.macro_f1.mean"] == 0.88 and "per_fold.accuracy.mean" not in found
    assert found["tiers.reviewed.labels.teaser.f1"] == 0.7
    assert quality_gate.metrics(evaluation())["labels.body.f1"] == 0.98


def test_check_passes_within_the_noise_margin(quality_gate, tmp_path):
    baseline = write_baseline(tmp_path / "b.json", {"macro_f1": 0.905, "labels.teaser.f1": 0.80})
    lines = quality_gate.check(evaluation(), "e", data_sha256=CORPUS, baseline=baseline)
    assert lines == ["labels.teaser.f1: 0.8000 (floor 0.8000)", "macro_f1: 0.9000 (floor 0.9050)"]


def test_check_names_each_metric_below_its_floor_and_each_missing_one(quality_gate, tmp_path):
    floors = {"macro_f1": 0.95, "labels.teaser.f1": 0.85, "labels.legal.f1": 0.9, "body_f1": 0.9}
    baseline = write_baseline(tmp_path / "b.json", floors)
    with pytest.raises(quality_gate.GateError) as caught:
        quality_gate.check(evaluation(), "e", data_sha256=CORPUS, baseline=baseline)
    message = str(caught.value)
    assert "macro_f1: 0.9000 is below its floor 0.9500 - 0.01 margin" in message
    assert "labels.teaser.f1: 0.8000 is below its floor 0.8500" in message
    assert "labels.legal.f1: missing from the scores" in message
    assert "body_f1" not in message


def test_scores_of_another_corpus_are_refused(quality_gate, tmp_path):
    baseline = write_baseline(tmp_path / "b.json", {"macro_f1": 0.5})
    with pytest.raises(quality_gate.GateError, match="cannot be compared"):
        quality_gate.check(evaluation(), "e", data_sha256=OTHER_CORPUS, baseline=baseline)
    with pytest.raises(quality_gate.GateError, match="cannot be compared"):
        quality_gate.update(evaluation(), "e", data_sha256=OTHER_CORPUS, baseline_path=baseline)


def test_a_case_may_be_measured_on_data_of_its_own(quality_gate, tmp_path):
    path = write_baseline(tmp_path / "b.json", {})
    baseline = quality_gate.load_baseline(path)
    baseline.cases["e"] = quality_gate.Case({"macro_f1": 0.5}, corpus_sha256=OTHER_CORPUS)
    assert quality_gate.check(evaluation(), "e", data_sha256=OTHER_CORPUS, baseline=baseline)
    with pytest.raises(quality_gate.GateError, match="cannot be compared"):
        quality_gate.check(evaluation(), "e", data_sha256=CORPUS, baseline=baseline)


def test_update_raises_floors_freely(quality_gate, tmp_path):
    baseline = write_baseline(tmp_path / "b.json", {"macro_f1": 0.85, "body_f1": 0.97})
    lines = quality_gate.update(evaluation(), "e", data_sha256=CORPUS, baseline_path=baseline)
    assert lines == ["raised macro_f1: 0.8500 -> 0.9000"]
    assert quality_gate.load_baseline(baseline).cases["e"].floors == {
        "macro_f1": 0.9,
        "body_f1": 0.97,
    }


def test_update_refuses_to_lower_a_floor_and_changes_nothing(quality_gate, tmp_path):
    baseline = write_baseline(tmp_path / "b.json", {"macro_f1": 0.85, "labels.teaser.f1": 0.82})
    before = baseline.read_bytes()
    with pytest.raises(quality_gate.GateError, match=r"refusing to lower labels.teaser.f1 \(0.82"):
        quality_gate.update(evaluation(), "e", data_sha256=CORPUS, baseline_path=baseline)
    assert baseline.read_bytes() == before


def test_update_lowers_a_floor_when_allowed_and_says_so(quality_gate, tmp_path):
    baseline = write_baseline(tmp_path / "b.json", {"macro_f1": 0.85, "labels.teaser.f1": 0.82})
    lines = quality_gate.update(
        evaluation(), "e", data_sha256=CORPUS, baseline_path=baseline, allow_lower=True
    )
    assert lines == [
        "lowered labels.teaser.f1: 0.8200 -> 0.8000",
        "raised macro_f1: 0.8500 -> 0.9000",
    ]


def test_update_starts_a_new_case_and_a_new_baseline(quality_gate, tmp_path):
    path = tmp_path / "new.json"
    quality_gate.update(evaluation(0.91234), "fresh", data_sha256=OTHER_CORPUS, baseline_path=path)
    baseline = quality_gate.load_baseline(path)
    assert baseline.corpus_sha256 == OTHER_CORPUS
    assert baseline.cases["fresh"].floors["macro_f1"] == 0.9123  # rounded down


def test_the_command_reads_a_models_metadata_and_exits_1_on_failure(quality_gate, tmp_path, capsys):
    baseline = write_baseline(tmp_path / "b.json", {"pooled.macro_f1": 0.95})
    meta = tmp_path / "m.meta.json"
    cv = {"pooled": evaluation(), "per_fold": {}}
    meta.write_text(json.dumps({"training_data": {"sha256": CORPUS}, "cv": cv}), encoding="utf-8")
    argv = ["check", str(meta), "--case", "e", "--baseline", str(baseline)]
    assert quality_gate.main(argv) == 1
    assert "pooled.macro_f1: 0.9000 is below its floor" in capsys.readouterr().err
    assert quality_gate.main(["update", *argv[1:], "--allow-lower"]) == 0
    assert "lowered pooled.macro_f1: 0.9500 -> 0.9000" in capsys.readouterr().out
    assert quality_gate.main(argv) == 0


def test_the_shipped_baseline_holds_the_corpus_hash_and_the_test_cases(quality_gate):
    baseline = quality_gate.load_baseline()
    assert len(baseline.corpus_sha256) == 64
    assert {"corpus-cv", "held-out-sites", "reviewed-quarter-cv"} <= set(baseline.cases)
