"""The labeler: decoding, the scikit-learn contract (clone, CV, grid search), model files."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate

from newsseg import dataset, model, model_file, sequence, structure
from newsseg.config import document_site
from newsseg.features import DOC_COLUMN, document_slices
from newsseg.model import ParagraphLabeler

from .conftest import TINY_PARAMS


@pytest.fixture(scope="module")
def tiny_frame(tiny_corpus) -> pd.DataFrame:
    return dataset.read_documents([tiny_corpus], labeled=True)


def test_viterbi_follows_transitions_when_emissions_are_unsure():
    # Two labels; staying is far likelier than switching.
    log_start = np.log([0.5, 0.5])
    log_moves = np.log([[0.9, 0.1], [0.1, 0.9]])
    log_end = np.log([0.5, 0.5])
    emissions = np.log([[0.9, 0.1], [0.45, 0.55], [0.9, 0.1]])
    assert sequence.viterbi(emissions, log_start, log_moves, log_end).tolist() == [0, 0, 0]
    assert emissions.argmax(axis=1).tolist() == [0, 1, 0]


def test_transitions_are_counted_within_documents():
    log_start, log_moves, _ = model.transition_log_probs(
        [np.array([0, 1, 1]), np.array([0])], 2, 1.0
    )
    assert np.exp(log_start).tolist() == pytest.approx([3 / 4, 1 / 4])
    assert np.exp(log_moves[0]).tolist() == pytest.approx([1 / 3, 2 / 3])


def test_fit_predict_on_tiny_corpus(tiny_frame):
    labeler = ParagraphLabeler(**TINY_PARAMS).fit(
        tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    )
    predicted = labeler.predict(tiny_frame[["doc_id", "text"]])
    assert (predicted == tiny_frame["label"].to_numpy()).mean() > 0.95
    proba = labeler.predict_proba(tiny_frame[["doc_id", "text"]])
    assert proba.shape == (len(tiny_frame), 4)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_a_list_of_strings_is_one_document(tiny_frame):
    labeler = ParagraphLabeler(**TINY_PARAMS).fit(
        tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    )
    labels = labeler.predict(["Council approves new tram", *tiny_frame["text"][1:5]])
    assert labels[0] == "headline"


def test_clone_cross_validate_and_grid_search_over_groups(tiny_frame):
    X, y, groups = tiny_frame[["doc_id", "text"]], tiny_frame["label"], tiny_frame["site"]
    estimator = ParagraphLabeler(**TINY_PARAMS)
    assert clone(estimator).get_params() == estimator.get_params()
    scores = cross_validate(estimator, X, y, groups=groups, cv=GroupKFold(3), scoring="accuracy")
    assert len(scores["test_score"]) == 3
    assert np.all(scores["test_score"] > 0.8)
    search = GridSearchCV(estimator, {"sequence": ["viterbi", "none"]}, cv=GroupKFold(3))
    search.fit(X, y, groups=groups)
    assert search.best_params_["sequence"] in ("viterbi", "none")


def test_top_features_explain_each_label(tiny_model_path):
    labeler, _ = model_file.load(tiny_model_path)
    top = labeler.top_features(5)
    assert set(top) == {"headline", "body", "legal", "teaser"}
    assert all(len(features) == 5 for features in top.values())
    weights = [weight for _, weight in top["legal"]]
    assert weights == sorted(weights, reverse=True)
    legal_names = " ".join(name for name, _ in labeler.top_features(40)["legal"])
    assert "rights" in legal_names or "copyright" in legal_names or "©" in legal_names


def test_invalid_sequence_mode_is_rejected_in_fit(tiny_frame):
    with pytest.raises(ValueError, match="sequence must be one of"):
        ParagraphLabeler(sequence="crf").fit(tiny_frame[["doc_id", "text"]], tiny_frame["label"])


def test_composed_rows_get_the_text_model_view_of_unseen_text(tiny_frame):
    """A composed teaser copied from another document takes that document's out-of-fold
    text-model probabilities: the text model never saw it, as at prediction time."""
    from newsseg.augment import Composition, compose_documents

    labeler = ParagraphLabeler(**TINY_PARAMS, inner_folds=3)
    labeler.classes_ = np.unique(tiny_frame["label"])
    frame, labels, sources = compose_documents(
        tiny_frame[["doc_id", "text"]], tiny_frame["label"].to_numpy(dtype=object), Composition()
    )
    proba = labeler._fit_text_model(frame, labels, sources)
    copied = np.flatnonzero(sources >= 0)
    assert np.allclose(proba[copied], proba[sources[copied]])
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_components_can_be_switched_off(tiny_frame):
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    for switch in ("use_layout", "use_topic", "use_context", "use_memory"):
        on = {"use_memory": True} if switch != "use_memory" else {}
        labeler = ParagraphLabeler(**TINY_PARAMS, **on, **{switch: switch == "use_memory"})
        assert len(labeler.fit(X, y).predict(X)) == len(X)
    dense_only = ParagraphLabeler(use_words=False, use_chars=False).fit(X, y)
    assert dense_only.classifier_ is None
    assert (dense_only.predict(X) == y.to_numpy()).mean() > 0.8


def test_structure_cues_and_zones_add_columns_and_decode_each_page(tiny_frame):
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    plain = ParagraphLabeler(**TINY_PARAMS, use_structure=False).fit(X, y)
    both = ParagraphLabeler(**TINY_PARAMS, use_structure=True, zones=True).fit(X, y)
    added = both.structure_feature_names()
    relative = structure.relative_cue_names([str(c) for c in both.classes_])
    assert added == [
        *structure.SPAN_CUES,
        *relative,
        *structure.RHYTHM_CUES,
        *structure.SERIES_CUES,
    ]
    assert both.stage_two_features(X).shape[1] == plain.stage_two_features(X).shape[1] + len(added)
    names = both.stage_two_feature_names()
    assert len(names) == both.stage_two_features(X).shape[1]
    assert names[-len(added) :] == [f"structure__{name}" for name in added]
    assert not any(name.startswith("memory__") for name in names)
    assert both.log_transitions_.shape == (3 * 4, 3 * 4)
    labels, proba = both.predict_with_proba(X)
    assert (labels == y.to_numpy()).mean() > 0.9
    assert np.allclose(proba.sum(axis=1), 1.0) and proba.shape == (len(X), 4)
    body = labels == "body"  # one run of body lines per page
    for part in document_slices(X["doc_id"]):
        rows = np.flatnonzero(body[part])
        assert len(rows) == 0 or rows[-1] - rows[0] + 1 == len(rows)


def test_training_is_the_same_in_any_document_order_and_thread_count(tiny_frame):
    from threadpoolctl import threadpool_limits

    documents = document_slices(tiny_frame["doc_id"])
    shuffled_order = np.random.default_rng(3).permutation(len(documents))
    shuffled = pd.concat([tiny_frame.iloc[documents[i]] for i in shuffled_order])
    X = tiny_frame[["doc_id", "text"]]
    fits = []
    reversed_documents = pd.concat([tiny_frame.iloc[part] for part in reversed(documents)])
    for frame, threads in ((tiny_frame, 1), (shuffled, 2), (reversed_documents, 1)):
        with threadpool_limits(limits=threads):
            fitted = ParagraphLabeler(**TINY_PARAMS, use_structure=True).fit(
                frame[["doc_id", "text"]], frame["label"]
            )
            fits.append(fitted.predict_with_proba(X))
    for labels, proba in fits[1:]:
        assert np.array_equal(labels, fits[0][0])
        assert np.array_equal(proba, fits[0][1])


def test_sample_weights_reach_the_booster_and_zero_weights_are_ignored(tiny_frame):
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"].to_numpy()
    # Teasers relabeled body on two sites: weighed 0 they are as if they were not there.
    noisy = y.copy()
    wrong = (y == "teaser") & tiny_frame["site"].isin(["daily-planet", "bay-news"]).to_numpy()
    noisy[wrong] = "body"
    weights = np.where(wrong, 0.0, 1.0)
    data = ParagraphLabeler(**TINY_PARAMS).stage_two_data(X, noisy, weights)
    assert data.weights is not None and len(data.weights) == len(data.labels)
    assert data.weights[len(X) :].min() == 1.0  # composed rows weigh 1
    assert data.weights[: len(X)].sum() == len(X) - wrong.sum()
    weighed = ParagraphLabeler(**TINY_PARAMS).fit(X, noisy, weights)
    unweighed = ParagraphLabeler(**TINY_PARAMS).fit(X, noisy)
    teaser = list(weighed.classes_).index("teaser")
    belief = [m.booster_proba(X)[wrong, teaser] for m in (weighed, unweighed)]
    log_odds = [np.mean(np.log(p / (1 - p))) for p in np.clip(belief, 1e-9, 1 - 1e-9)]
    assert log_odds[0] > log_odds[1] + 1.0  # weighed out, the wrong labels teach less
    with pytest.raises(ValueError, match="one finite weight"):
        ParagraphLabeler(**TINY_PARAMS).fit(X, y, np.full(len(X), np.nan))


@pytest.fixture(scope="module")
def tiny_labeler(tiny_frame) -> ParagraphLabeler:
    return ParagraphLabeler(**TINY_PARAMS).fit(tiny_frame[["doc_id", "text"]], tiny_frame["label"])


def test_batched_decoding_gives_each_documents_own_viterbi_path(tiny_labeler, tiny_frame):
    X = tiny_frame[["doc_id", "text"]]
    emission = tiny_labeler.log_emission(tiny_labeler.booster_proba(X))
    chain = tiny_labeler.chain_
    expected = np.concatenate(
        [
            sequence.viterbi(emission[part], chain.log_start, chain.log_moves, chain.log_end)
            for part in dataset_slices(X)
        ]
    )
    labels = tiny_labeler.classes_[expected % len(tiny_labeler.classes_)]  # states: zones
    assert (tiny_labeler.predict(X) == labels).all()


def dataset_slices(X: pd.DataFrame) -> list[slice]:
    return document_slices(X["doc_id"])


def test_reported_probabilities_are_the_chains_tempered_marginals(tiny_labeler, tiny_frame):
    X = tiny_frame[["doc_id", "text"]]
    proba = tiny_labeler.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0)
    booster = tiny_labeler.booster_proba(X)
    marginals = sequence.tempered_marginals(
        tiny_labeler.log_emission(booster),
        dataset_slices(X),
        tiny_labeler.chain_,
        tiny_labeler.temperature_,
    )
    if tiny_labeler.zones:  # a label's probability sums its copies in the zones
        marginals = marginals.reshape(len(marginals), sequence.ZONES, -1).sum(axis=1)
    assert np.allclose(proba, marginals)
    labels, reported = tiny_labeler.predict_with_proba(X)
    assert np.allclose(reported, proba)
    assert (labels == tiny_labeler.predict(X)).all()


def test_no_sequence_reports_the_plain_booster_probabilities(tiny_labeler, tiny_frame):
    X = tiny_frame[["doc_id", "text"]]
    plain = clone_fitted(tiny_labeler, sequence="none")
    assert np.array_equal(plain.predict_proba(X), tiny_labeler.booster_proba(X))
    marginal = clone_fitted(tiny_labeler, sequence="marginal")
    expected = tiny_labeler.classes_[tiny_labeler.predict_proba(X).argmax(axis=1)]
    assert (marginal.predict(X) == expected).all()


def clone_fitted(labeler: ParagraphLabeler, **params) -> ParagraphLabeler:

    changed = copy.copy(labeler)
    return changed.set_params(**params)


def test_temperature_is_fitted_on_held_out_sites_only_when_asked(tiny_labeler, tiny_frame):
    low, high = sequence.TEMPERATURE_BOUNDS
    assert low <= tiny_labeler.temperature_ <= high
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    data = tiny_labeler.stage_two_data(X, y)
    train, test = tiny_labeler._calibration_holdout(data)
    site = data.frame[DOC_COLUMN].map(document_site).to_numpy()
    assert set(site[test]).isdisjoint(site[train])
    copied = data.sources[train]
    assert set(site[copied[copied >= 0]]).isdisjoint(site[test])
    plain = ParagraphLabeler(**TINY_PARAMS, calibration_share=0.0).fit(X, y)
    assert plain.temperature_ == 1.0


def test_a_large_calibration_holdout_trains_on_a_sample_of_its_rows(
    tiny_labeler, tiny_frame, monkeypatch
):
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    data = tiny_labeler.stage_two_data(X, y)
    full, test = tiny_labeler._calibration_holdout(data)
    monkeypatch.setattr(model, "CALIBRATION_MAX_ROWS", len(full) // 2)
    sample, same_test = tiny_labeler._calibration_holdout(data)
    assert len(sample) == len(full) // 2 and set(sample) <= set(full)
    assert np.array_equal(same_test, test)
    assert np.array_equal(tiny_labeler._calibration_holdout(data)[0], sample)


def test_inner_fold_text_models_start_from_the_whole_data_model(tiny_labeler):
    labels = tiny_labeler.classifier_.classes_
    warm = tiny_labeler._fold_classifier(labels)
    assert warm.warm_start
    assert np.array_equal(warm.coef_, tiny_labeler.classifier_.coef_)
    assert warm.coef_ is not tiny_labeler.classifier_.coef_
    cold = tiny_labeler._fold_classifier(labels[:-1])  # a fold missing a label
    assert not cold.warm_start and not hasattr(cold, "coef_")


def test_model_files_written_before_calibration_still_load_and_decode(tiny_labeler, tiny_frame):
    """Older model files hold no calibration_share, temperature or label prior."""
    state = dict(tiny_labeler.__getstate__())  # a copy: it may be the live __dict__
    for name in ("calibration_share", "temperature_", "log_prior_"):
        del state[name]
    older = ParagraphLabeler.__new__(ParagraphLabeler)
    older.__setstate__(state)
    assert older.get_params()["calibration_share"] == 0.0
    assert older.temperature_ == 1.0
    X = tiny_frame[["doc_id", "text"]]
    assert (older.predict(X) == tiny_labeler.predict(X)).all()
    assert np.allclose(older.predict_proba(X).sum(axis=1), 1.0)


def test_a_teaser_block_after_the_body_is_decoded_as_one_run(tiny_labeler):
    """A hand-written page: headline, body, notice, then titles of other stories."""
    page = [
        "Ferry service resumes after winter break",
        "The ferry has been the talk of the town this week, and sailors say the timetable "
        "will change how residents spend their days for years to come.",
        "According to the sailors, planning for the ferry began two years ago, when a small "
        "group met in the town hall to discuss the timetable and what it could mean.",
        "© 2024 Harbour Courier. All rights reserved.",
        "Museum opens exhibition of ancient maps",
        "Storm closes schools across the county",
        "Library extends weekend opening hours",
    ]
    labels, proba = tiny_labeler.predict_with_proba(page)
    assert labels.tolist() == ["headline", "body", "body", "legal", "teaser", "teaser", "teaser"]
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_emissions_divide_out_the_prior_the_booster_learned(tiny_labeler, tiny_frame):
    """Balanced class weights leave the booster no label prior; without them, the chain's
    emissions are the booster's probabilities over the training label shares."""
    assert np.array_equal(tiny_labeler.log_prior_, np.zeros(4))
    X, y = tiny_frame[["doc_id", "text"]], tiny_frame["label"]
    unweighted = ParagraphLabeler(**TINY_PARAMS, class_weight=None, compose=0.0).fit(X, y)
    counts = y.value_counts().reindex(unweighted.classes_).to_numpy() + model.PRIOR_SMOOTHING
    assert np.allclose(unweighted.log_prior_, np.log(counts / counts.sum()))
    proba = unweighted.booster_proba(X)
    expected = sequence.log_proba(proba) - unweighted.log_prior_
    assert np.allclose(unweighted.log_emission(proba), np.tile(expected, sequence.ZONES))


def test_a_label_set_with_an_extra_label_keeps_composed_pages_and_context_cues(tiny_frame):
    """The parts of a page are named by roles (config.ROLES), not by the label set: training
    with --labels headline,body,legal,teaser,byline still composes pages and computes the
    notice and teaser context cues."""
    from newsseg.config import COMPOSED_MARK, ROLES

    rows = []
    for _, document in tiny_frame.groupby("doc_id", sort=False):
        for position, row in enumerate(document.itertuples(index=False)):
            rows.append({"doc_id": row.doc_id, "text": row.text, "label": row.label})
            if position == 0:
                rows.append({"doc_id": row.doc_id, "text": "By Jane Doe", "label": "byline"})
    frame = pd.DataFrame(rows)
    labeler = ParagraphLabeler(**TINY_PARAMS)
    data = labeler.stage_two_data(frame[["doc_id", "text"]], frame["label"].to_numpy())
    assert "byline" in list(labeler.classes_)
    composed = data.frame["doc_id"].str.contains(COMPOSED_MARK, regex=False)
    assert composed.any()
    assert {ROLES.headline, ROLES.body, ROLES.teaser} <= set(data.labels[composed.to_numpy()])
    labeler.fit_stage_two(data)
    names = labeler.stage_two_feature_names()
    for role in (ROLES.notice, ROLES.teaser):
        column = data.stacked[:, names.index(f"seen_before__{role}")]
        assert column.max() > 0  # the cue sees the role's label among the five


@pytest.mark.parametrize(
    ("doc_id", "site"),
    [
        ("news.example__42", "news.example"),
        ("news.example__42#composed3", "news.example"),
        ("page", "page"),
        ("page#composed0", "page"),
        ("__42", "__42"),  # an empty site part: the id is its own site
        ("__42#composed1", "__42"),
        ("a__b__c", "a"),
    ],
)
def test_one_site_rule_for_every_doc_id(doc_id, site):
    assert document_site(doc_id) == site
