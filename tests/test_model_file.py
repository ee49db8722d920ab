"""Model files: saving and loading the model of arrays, the metadata, pickles only with trust,
and newsseg 0.x's skops files (read with skops, converted to arrays, refused with a reason)."""

from __future__ import annotations

import copy
import json
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest

from newsseg import dataset, model, model_file
from newsseg.binning import BinQuantiser
from newsseg.conversion import as_model_arrays
from newsseg.errors import ModelError, OutputError
from newsseg.model import ParagraphLabeler
from newsseg.predictor import ArrayLabeler

from .conftest import TINY_PARAMS
from .legacy_files import write_skops_model


@pytest.fixture(scope="module")
def tiny_frame(tiny_corpus) -> pd.DataFrame:
    return dataset.read_documents([tiny_corpus], labeled=True)


def test_save_load_round_trip_keeps_predictions_and_metadata(tiny_model_path, tiny_frame):
    labeler, metadata = model_file.load(tiny_model_path)
    assert isinstance(labeler, ArrayLabeler)
    X = tiny_frame[["doc_id", "text"]]
    assert metadata["labels"] == ["headline", "body", "legal", "teaser"]
    assert metadata["training_data"]["documents"] == 12
    assert len(metadata["training_data"]["sha256"]) == 64
    assert metadata["versions"]["scikit-learn"]
    assert model_file.read_metadata(tiny_model_path) == metadata
    sidecar = json.loads(model_file.metadata_path(tiny_model_path).read_text(encoding="utf-8"))
    assert sidecar == metadata
    again, _ = model_file.load(tiny_model_path)
    assert (labeler.predict(X) == again.predict(X)).all()


def test_a_saved_model_labels_as_the_fitted_one_to_the_bit(tiny_fitted, tiny_frame, tmp_path):
    fitted, metadata = tiny_fitted
    target = tmp_path / "m.npz"
    model_file.save(fitted, target, metadata)
    loaded, _ = model_file.load(target)
    X = tiny_frame[["doc_id", "text"]]
    labels, proba = loaded.predict_with_proba(X)
    assert np.array_equal(proba, fitted.predict_proba(X))
    assert (labels == fitted.predict(X)).all()
    assert np.array_equal(loaded.booster_proba(X), fitted.booster_proba(X))
    with zipfile.ZipFile(target) as archive:
        assert len(archive.namelist()) < 40  # a few arrays, not three per tree


def test_saving_the_same_model_twice_gives_the_same_bytes(tiny_fitted, tmp_path):
    fitted, metadata = tiny_fitted
    metadata = {**metadata, "saved": "fixed"}
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    for path in (first, second):
        model_file.write_model(as_model_arrays(fitted, metadata), path)
    assert first.read_bytes() == second.read_bytes()


def test_save_is_atomic_and_refuses_overwrite(tmp_path, tiny_model_path):
    labeler, metadata = model_file.load(tiny_model_path)
    target = tmp_path / "m.npz"
    model_file.save(labeler, target, metadata)
    with pytest.raises(OutputError, match="force=True"):
        model_file.save(labeler, target, metadata, force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.meta.json", "m.npz"]


def test_a_model_is_saved_only_as_npz(tmp_path):
    for name in ("m.skops", "m.joblib", "m"):
        with pytest.raises(OutputError, match=r"suffix \.npz"):
            model_file.check_model_output(tmp_path / name)


def test_not_a_model_and_corrupt_model(tmp_path, tiny_model_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(ModelError, match="not a newsseg model"):
        model_file.load(text)
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(tiny_model_path.read_bytes()[:5000])
    with pytest.raises(ModelError):
        model_file.load(truncated)
    with pytest.raises(ModelError, match="no such model file"):
        model_file.load(tmp_path / "missing.npz")


class Boom:
    """Unpickling this would run code: the refusal must come before unpickling."""

    def __reduce__(self):
        return (pytest.fail, ("a pickle was unpickled without --trust-pickle",))


def test_pickle_models_need_explicit_trust(tmp_path, tiny_model_path, tiny_fitted):
    crafted = tmp_path / "evil.joblib"
    joblib.dump(Boom(), crafted)
    with pytest.raises(ModelError, match=r"runs any code.*trust_pickle=True"):
        model_file.load(crafted)
    labeler, metadata = model_file.load(tiny_model_path)
    trusted = tmp_path / "ok.joblib"
    joblib.dump((labeler, metadata), trusted)
    loaded, loaded_meta = model_file.load(trusted, trust_pickle=True)
    assert loaded_meta == metadata
    assert isinstance(loaded, ArrayLabeler)
    old = tmp_path / "old.joblib"  # a 0.x pickle of the estimator: converted as it loads
    joblib.dump(tiny_fitted, old)
    assert isinstance(model_file.load(old, trust_pickle=True)[0], ArrayLabeler)


def test_a_fitted_model_given_in_python_is_used_as_it_is(tiny_fitted):
    fitted, _ = tiny_fitted
    assert model_file.resolve(fitted).labeler is fitted
    with pytest.raises(TypeError, match="not a model"):
        model_file.resolve(42)


def test_a_loaded_model_changes_its_decoding_only(tiny_model_path):
    labeler, _ = model_file.load(tiny_model_path)
    assert labeler.set_params(sequence="none").sequence == "none"
    with pytest.raises(ValueError, match="cannot change without training"):
        labeler.set_params(boost_iterations=3)
    with pytest.raises(ValueError, match="sequence must be one of"):
        labeler.set_params(sequence="crf")


# --------------------------------------------------------------------------- 0.x files


def test_a_skops_file_of_newsseg_0x_loads_as_arrays_and_labels_alike(
    tiny_legacy_path, tiny_fitted, tiny_frame
):
    loaded, metadata = model_file.load(tiny_legacy_path)
    fitted, expected = tiny_fitted
    assert isinstance(loaded, ArrayLabeler)
    assert metadata == expected
    X = tiny_frame[["doc_id", "text"]]
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_convert_writes_a_0x_file_as_arrays_with_a_note(tiny_legacy_path, tiny_frame, tmp_path):
    target = tmp_path / "new.npz"
    metadata = model_file.convert(tiny_legacy_path, target)
    assert metadata["converted"]["from"] == "tiny.skops"
    assert model_file.read_metadata(target) == metadata
    old, _ = model_file.load(tiny_legacy_path)
    new, _ = model_file.load(target)
    X = tiny_frame[["doc_id", "text"]]
    assert np.array_equal(old.predict_proba(X), new.predict_proba(X))
    with pytest.raises(OutputError, match="force"):
        model_file.convert(tiny_legacy_path, target)
    with pytest.raises(ModelError, match=r"not a newsseg 0\.x model file"):
        model_file.convert(target, tmp_path / "again.npz")


def test_without_skops_a_0x_file_is_one_line_saying_what_to_install(tiny_legacy_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_skops(name, *args, **kwargs):
        if name.startswith("skops"):
            raise ImportError("No module named 'skops'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skops)
    with pytest.raises(ModelError, match=r"newsseg\[skops\].*convert-model tiny.skops tiny.npz"):
        model_file.load(tiny_legacy_path)


def test_version_mismatch_says_how_to_convert_or_retrain(tiny_fitted, tmp_path):
    fitted, metadata = tiny_fitted
    old = json.loads(json.dumps(metadata))
    old["versions"]["scikit-learn"] = "0.24.2"
    broken = write_skops_model(fitted, tmp_path / "old.skops", old)
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2.*convert-model.*newsseg train"):
        model_file.load(broken)


def test_pickled_state_packs_the_trees_and_restores_them_bit_identically(tiny_frame, tmp_path):
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    fitted = ParagraphLabeler(**{**TINY_PARAMS, "boost_iterations": 20}).fit(X, y)
    versions = {"versions": model_file.library_versions()}
    target = write_skops_model(fitted, tmp_path / "m.skops", versions)
    assert len(fitted.booster_._predictors) == 20  # saving leaves the fitted model whole
    with zipfile.ZipFile(target) as archive:
        assert "TreePredictor" not in archive.read("schema.json").decode()
        assert len(archive.namelist()) < 60  # a few arrays, not three per tree
    loaded, _ = model_file.load_skops(target)
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    pairs = [
        (a, b)
        for before, after in zip(
            fitted.booster_._predictors, loaded.booster_._predictors, strict=True
        )
        for a, b in zip(before, after, strict=True)
    ]
    assert len(pairs) == 20 * 4
    for a, b in pairs:
        assert a.nodes.tobytes() == b.nodes.tobytes()


@pytest.mark.parametrize(
    ("field", "value"), [("left", 10**6), ("right", 0), ("feature_idx", 10**6)]
)
def test_0x_files_with_tree_indices_out_of_range_are_refused(
    tiny_fitted, tmp_path, monkeypatch, field, value
):
    """scikit-learn walks the trees without bounds checks: a crafted index must never
    reach it (a child at 0 would loop for ever; a big one reads outside the arrays)."""
    fitted, metadata = tiny_fitted
    pack = model.pack_booster

    def tampered(booster):
        copied, arrays = pack(booster)
        nodes = arrays["nodes"].copy()
        nodes[field][np.flatnonzero(nodes["is_leaf"] == 0)[0]] = value
        return copied, {**arrays, "nodes": nodes}

    monkeypatch.setattr(model, "pack_booster", tampered)
    target = write_skops_model(fitted, tmp_path / "crafted.skops", metadata)
    with pytest.raises(ModelError, match=r"corrupt model file.*out of range"):
        model_file.load(target)


def test_0x_files_with_unchecked_tree_objects_are_refused(tiny_fitted, tmp_path, monkeypatch):
    """Files saved before the trees were packed hold TreePredictor objects."""
    from sklearn.base import BaseEstimator

    fitted, metadata = tiny_fitted
    monkeypatch.setattr(ParagraphLabeler, "__getstate__", BaseEstimator.__getstate__)
    target = write_skops_model(fitted, tmp_path / "old-format.skops", metadata)
    with pytest.raises(ModelError, match=r"older newsseg.*newsseg train"):
        model_file.load(target)


def test_fitted_models_keep_the_bin_quantiser_and_older_ones_load_without(tiny_fitted):
    fitted, _ = tiny_fitted
    assert isinstance(fitted.quantiser_, BinQuantiser)
    state = fitted.__getstate__()
    del state["quantiser_"]  # as saved before newsseg.binning
    older = ParagraphLabeler.__new__(ParagraphLabeler)
    older.__setstate__(state)
    assert older.quantiser_ is None


def test_a_0x_zip_bomb_is_refused_before_it_is_inflated(tiny_legacy_path, tmp_path):
    bomb = tmp_path / "bomb.skops"
    bomb.write_bytes(tiny_legacy_path.read_bytes())
    with (
        zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.npy", "w", force_zip64=True) as member,
    ):
        block = bytes(2**20)
        for _ in range(300):  # 300 MB of zeros, stored in about 300 kB
            member.write(block)
    with pytest.raises(ModelError, match=r"refused: member 'zeros\.npy' would inflate"):
        model_file.load(bomb)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"log_transitions_": lambda m: np.full_like(m.log_transitions_, np.nan)}, "no log-p"),
        ({"log_transitions_": lambda m: np.zeros((3, 3))}, "has shape"),
        ({"log_start_": lambda m: np.full_like(m.log_start_, -np.inf)}, "rules out every"),
        ({"temperature_": lambda m: 0.0}, "temperature 0.0 outside"),
        ({"log_prior_": lambda m: np.array([0.0, np.nan, 0.0, 0.0])}, "no log-probabilities"),
        (
            {"classes_": lambda m: np.array(["body", "body", "legal", "teaser"], dtype=object)},
            "twice",
        ),
        ({"classifier_": lambda m: None}, "corrupt model file.*text model"),
    ],
    ids=[
        "nan-transitions",
        "wrong-shape",
        "no-start",
        "zero-temperature",
        "nan-prior",
        "labels",
        "no-text-model",
    ],
)
def test_crafted_0x_models_with_bad_state_are_one_clean_error(
    tiny_fitted, tmp_path, change, message
):
    fitted, metadata = tiny_fitted
    crafted = copy.deepcopy(fitted)
    for name, value in change.items():
        setattr(crafted, name, value(fitted))
    target = write_skops_model(crafted, tmp_path / "crafted.skops", metadata)
    with pytest.raises(ModelError, match=message):
        model_file.load(target)
