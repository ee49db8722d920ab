"""The paragraph labeler, a scikit-learn estimator (its model files: :mod:`newsseg.model_file`).

:class:`ParagraphLabeler` turns paragraph features into per-paragraph label probabilities
with a text model and a booster, then decodes each document's label sequence over a chain of
label transitions learned from the training documents (see :mod:`newsseg.sequence`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.common import (
    PREDICTOR_RECORD_DTYPE,
    X_BITSET_INNER_DTYPE,
)
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from newsseg.augment import Composition, compose_documents
from newsseg.binning import BinQuantiser
from newsseg.config import (
    BODY_LABEL,
    document_site,
)
from newsseg.feature_steps import (
    LayoutFeatures,
    ParagraphMemory,
    TopicFeatures,
    paragraph_features,
)
from newsseg.features import (
    CHAR_MAX_FEATURES,
    DOC_COLUMN,
    TEXT_COLUMN,
    WORD_MAX_FEATURES,
    as_paragraph_frame,
    document_slices,
)
from newsseg.sequence import (
    SEQUENCE_MODES,
    Chain,
    ChainDecoder,
    fit_temperature,
    transition_log_probs,
    zone_transition_log_probs,
)
from newsseg.stage_two import (
    StructureSettings,
    stage_two_feature_names,
    stage_two_matrix,
    structure_feature_names,
    structure_features,
)
from newsseg.trees import gain_shares

CALIBRATION_SHARE = 0.2
"""Share of the training sites held out once to fit the reported probabilities' temperature."""
PRIOR_SMOOTHING = 1.0
"""Add-one smoothing of the label counts of the booster's prior (``class_weight=None``)."""
CALIBRATION_SEED_OFFSET = 1
"""Added to ``random_state`` to draw the calibration holdout's sites (apart from other draws)."""
CALIBRATION_MAX_ROWS = 50_000
"""At most this many rows train the calibration holdout's booster (a random sample beyond):
it only serves to fit one number, the temperature, and would otherwise cost as much as the
model's own booster on a large corpus."""


BOOST_L2 = 1.0
"""L2 regularisation of the booster's leaves. Without it (scikit-learn's default 0), on the
1,225-page corpus a leaf of near-zero hessian took a value of 1.5e5 at iteration ~90, the
probabilities saturated, and the model labelled 11% of its own training paragraphs wrong
and a ``©`` line as body (CV, one booster per fold, did not show it)."""
BOOST_ITERATIONS = 300
"""Boosting iterations. On cached fold 0 of grouped CV (13,534 test paragraphs, the text
model fixed) the errors fell with more: 518 at 120, 468 at 200, 450 at 300 (a learning rate
of 0.2 over 150: 486); stopping at the calibration holdout's best iteration stopped far too
soon (591 errors at 48; its booster trains on at most 50,000 rows)."""


@dataclass
class HeldOut:
    """The calibration holdout: booster probabilities (columns in ``classes_``) of the real
    documents of sites left out of a second booster, at its best ``iteration``."""

    proba: np.ndarray
    doc_slices: list[slice]
    truth: np.ndarray
    iteration: int

    def scores(self, decoded: np.ndarray) -> dict[str, float | int]:
        """Macro-F1 (over the labels the held-out paragraphs have) and accuracy of decoded
        label indices on the held-out paragraphs."""
        present = np.unique(self.truth)
        macro = f1_score(self.truth, decoded, labels=present, average="macro", zero_division=0)
        return {
            "macro_f1": float(macro) if len(present) else 0.0,
            "accuracy": float(np.mean(self.truth == decoded)) if len(decoded) else 0.0,
            "paragraphs": len(decoded),
            "iteration": self.iteration,
        }


# --------------------------------------------------------------------------- the estimator


@dataclass
class StageTwoData:
    """What the boosting stage trains on: the (composed) training rows, their labels, the
    training row each was copied from, and the stage-two feature matrix."""

    frame: pd.DataFrame
    labels: np.ndarray
    sources: np.ndarray
    stacked: np.ndarray
    weights: np.ndarray | None = None
    """Per-row weights of the booster (composed rows weigh 1), or None for all 1."""


class ParagraphLabeler(ClassifierMixin, BaseEstimator):
    """Labels paragraphs of news-page dumps; ``X`` is a frame with ``doc_id`` and ``text``
    (a document's rows consecutive, in page order).

    Two stages and a decoder:

    1. a text model, TF-IDF over words and characters into a logistic regression, gives
       each paragraph label probabilities (out-of-fold, grouped by site, on training rows);
    2. gradient boosting over layout cues, topic cues, the cross-document memory and the
       text model's probabilities of each paragraph and its neighbours;
    3. a linear chain over label transitions learned from the training documents: Viterbi
       gives the labels; forward-backward gives each paragraph's posterior label marginals,
       the probabilities the model reports, over the chain divided by a temperature fitted on
       sites held out of training (calibration; the Viterbi path stays the same).

    Training documents are joined by pages composed from them (see :mod:`newsseg.augment`).

    Parameters
    ----------
    C : inverse regularisation strength of the text model.
    sequence : ``"viterbi"`` decodes each document's labels jointly; ``"marginal"`` takes
        each paragraph's most probable label under the chain's posterior marginals; ``"none"``
        takes each paragraph's most probable booster label (and reports the booster's
        probabilities).
    use_words, use_chars, use_layout, use_topic, use_context, use_memory : components.
    use_structure : page-structure cues (see :mod:`newsseg.structure`): each paragraph's
        place against the article span the text model's probabilities outline, and the
        title-then-lead rhythm of the lines around it.
    use_relative : with ``use_structure``, the text model's scores against the page's own
        (each label's log-odds minus the page's median, the body rank in the page).
    use_series : with ``use_structure``, the series cues: lines starting with the
        headline's word shapes, and how many lines of the page start alike.
    zones : decode over a chain that knows the page's zones (before the article, the
        article from its first to its last body line, after it: body lines only inside,
        one article per page; see :func:`newsseg.sequence.zone_states`).
    word_max_features, char_max_features : vocabulary caps of the TF-IDF steps.
    compose : composed pages per training document (0 composes none).
    boost_iterations, boost_leaves, boost_learning_rate : the boosting stage.
    boost_l2 : L2 regularisation of the booster's leaf values (0 lets a leaf of tiny
        hessian take a huge value, and the booster can diverge).
    early_stopping : run the booster only as many iterations as label the calibration
        holdout's unseen sites best (macro-F1 of the decoded labels; at most
        ``boost_iterations``).
    inner_folds : folds of the out-of-fold text-model probabilities.
    class_weight : ``"balanced"`` weighs rare labels up in both stages.
    calibration_share : share of the training sites held out once to fit the temperature of
        the reported probabilities (a second booster is trained without them); 0 fits none.
    random_state : seeds composition, the calibration holdout and boosting; training is
        deterministic.
    """

    def __init__(
        self,
        C: float = 4.0,
        sequence: str = "viterbi",
        use_words: bool = True,
        use_chars: bool = True,
        use_layout: bool = True,
        use_topic: bool = True,
        use_context: bool = True,
        use_memory: bool = False,
        use_structure: bool = True,
        use_relative: bool = True,
        use_series: bool = True,
        zones: bool = True,
        word_max_features: int | None = WORD_MAX_FEATURES,
        char_max_features: int | None = CHAR_MAX_FEATURES,
        compose: float = Composition.share,
        boost_iterations: int = BOOST_ITERATIONS,
        boost_leaves: int = 15,
        boost_learning_rate: float = 0.1,
        boost_l2: float = BOOST_L2,
        early_stopping: bool = False,
        inner_folds: int = 5,
        class_weight: str | None = "balanced",
        calibration_share: float = CALIBRATION_SHARE,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.sequence = sequence
        self.use_words = use_words
        self.use_chars = use_chars
        self.use_layout = use_layout
        self.use_topic = use_topic
        self.use_context = use_context
        self.use_memory = use_memory
        self.use_structure = use_structure
        self.use_relative = use_relative
        self.use_series = use_series
        self.zones = zones
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.compose = compose
        self.boost_iterations = boost_iterations
        self.boost_leaves = boost_leaves
        self.boost_learning_rate = boost_learning_rate
        self.boost_l2 = boost_l2
        self.early_stopping = early_stopping
        self.inner_folds = inner_folds
        self.class_weight = class_weight
        self.calibration_share = calibration_share
        self.random_state = random_state

    # -- saved state

    def __getstate__(self):
        """The state with the boosting stage's trees packed into a few arrays (see
        :func:`pack_booster`): a model file holds tens of arrays, not thousands of objects."""
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__
        booster = state.get("booster_")
        if isinstance(booster, HistGradientBoostingClassifier) and booster._predictors:
            state["booster_"], state["booster_arrays_"] = pack_booster(booster)
        return state

    def __setstate__(self, state: dict) -> None:
        """Restore a model file: unpack the booster's trees; one written before calibration
        (no ``calibration_share``, ``temperature_`` or ``log_prior_``) gets the values it
        decoded with."""
        state = dict(state)
        arrays = state.pop("booster_arrays_", None)
        if arrays is not None:
            unpack_booster(state["booster_"], arrays)
        state.setdefault("calibration_share", 0.0)
        state.setdefault("boost_l2", 0.0)  # how models before BOOST_L2 were trained
        state.setdefault("early_stopping", False)
        state.setdefault("use_structure", False)
        state.setdefault("use_relative", False)  # files from before the relative cues
        state.setdefault("use_series", False)
        state.setdefault("zones", False)
        if "booster_" in state:
            state.setdefault("quantiser_", None)  # files from before newsseg.binning
            state.setdefault("temperature_", 1.0)
            state.setdefault("log_prior_", np.zeros(len(state["classes_"])))
            state.setdefault("holdout_scores_", None)  # files from before the train guard
            state.setdefault("boost_iterations_", state.get("boost_iterations"))
        super().__setstate__(state)

    # -- training

    def fit(self, X, y, sample_weight=None):
        """Fit on paragraphs ``X`` and labels ``y``; ``sample_weight`` weighs each training
        paragraph in the booster (for example labels less sure than others: a noisier tier
        of a corpus), composed pages weigh 1."""
        return self.fit_stage_two(self.stage_two_data(X, y, sample_weight))

    def stage_two_data(self, X, y, sample_weight=None) -> StageTwoData:
        """Validate, compose training pages, fit the text model and the dense feature steps;
        return what the boosting stage trains on (the first half of :meth:`fit`)."""
        if self.sequence not in SEQUENCE_MODES:
            raise ValueError(f"sequence must be one of {SEQUENCE_MODES}, not {self.sequence!r}")
        frame = as_paragraph_frame(X)
        labels = np.asarray(y, dtype=object)
        if len(labels) != len(frame):
            raise ValueError(f"X has {len(frame)} paragraphs but y has {len(labels)} labels")
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError("training needs at least two different labels")
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=float)
            if weights.shape != (len(frame),) or not np.all(np.isfinite(weights) & (weights >= 0)):
                raise ValueError("sample_weight must be one finite weight >= 0 per paragraph")
        order = canonical_order(frame, labels)
        frame, labels = frame.iloc[order].reset_index(drop=True), labels[order]
        weights = None if weights is None else weights[order]
        sources = np.arange(len(frame))
        if self.compose:
            frame, labels, sources = compose_documents(
                frame, labels, Composition(share=self.compose), self.random_state
            )
        if weights is not None:  # composed rows (after the real ones) weigh 1
            weights = np.concatenate([weights, np.ones(len(frame) - len(weights))])
        # Multi-threaded OpenBLAS makes scipy's L-BFGS-B several times slower on wide
        # problems (scipy issue #26137); one thread is fastest here.
        with threadpool_limits(limits=1, user_api="blas"):
            text_proba = self._fit_text_model(frame, labels, sources)
            self._fit_dense_steps(frame)
            stacked = self._stage_two_matrix(frame, text_proba, training=True)
        return StageTwoData(frame, labels, sources, stacked, weights)

    def fit_stage_two(self, data: StageTwoData):
        """Fit the booster, the label chain and the temperature on :meth:`stage_two_data`'s
        result (the second half of :meth:`fit`).

        A second booster trained without :attr:`calibration_share` of the sites scores
        them at every iteration: its best iteration on those unseen sites is how many the
        model's booster runs (grouped early stopping; with ``early_stopping``), and its
        probabilities there fit the chain's temperature and give ``holdout_scores_``."""
        self.fit_chain(data)
        self.log_prior_ = self._booster_log_prior(np.searchsorted(self.classes_, data.labels))
        held_out = self.holdout_booster_proba(data)
        self.boost_iterations_ = self.boost_iterations
        self.temperature_, self.holdout_scores_ = 1.0, None
        if held_out is not None:
            if self.early_stopping:
                self.boost_iterations_ = held_out.iteration
            proba = held_out.proba
            self.temperature_ = fit_temperature(
                lambda temperature: self._marginals(proba, held_out.doc_slices, temperature),
                held_out.truth,
            )
            self.holdout_scores_ = held_out.scores(self._decode(proba, held_out.doc_slices))
        self.booster_, self.quantiser_ = self._fit_booster(
            data.stacked, data.labels, self.boost_iterations_, data.weights
        )
        return self

    def fit_chain(self, data: StageTwoData) -> None:
        """Learn the label chain's transitions from the training documents: over labels, or
        over labels in zones with ``zones`` (see :func:`newsseg.sequence.zone_states`)."""
        index = np.searchsorted(self.classes_, data.labels)
        sequences = [index[part] for part in document_slices(data.frame[DOC_COLUMN])]
        if self._zoned:
            body = list(self.classes_).index(BODY_LABEL)
            chain = zone_transition_log_probs(sequences, len(self.classes_), body)
        else:
            chain = transition_log_probs(sequences, len(self.classes_))
        self.log_start_, self.log_transitions_, self.log_end_ = chain

    def _fit_booster(
        self,
        stacked: np.ndarray,
        labels: np.ndarray,
        iterations: int | None = None,
        weights: np.ndarray | None = None,
    ) -> tuple[HistGradientBoostingClassifier, BinQuantiser]:
        """A booster of ``iterations`` (default ``boost_iterations``) fitted on ``stacked``
        (rows weighed by ``weights`` and the class weights) quantised to the bins it would
        cut them into (see :mod:`newsseg.binning`: the same trees, much sooner), and the
        quantiser."""
        quantiser = BinQuantiser().fit(stacked, self._sample_weight(labels, weights))
        booster = self._booster().set_params(max_iter=iterations or self.boost_iterations)
        booster.fit(quantiser.transform(stacked), labels, sample_weight=weights)
        return booster, quantiser

    def _sample_weight(
        self, labels: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray | None:
        """The booster's effective row weights: class weights times ``weights``."""
        if self.class_weight is None:
            return weights
        balanced = compute_sample_weight(self.class_weight, labels)
        return balanced if weights is None else balanced * weights

    def _booster(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=self.boost_iterations,
            max_leaf_nodes=self.boost_leaves,
            learning_rate=self.boost_learning_rate,
            l2_regularization=self.boost_l2,
            class_weight=self.class_weight,
            early_stopping=False,
            random_state=self.random_state,
        )

    def _booster_log_prior(self, label_index: np.ndarray) -> np.ndarray:
        """The log label prior the booster's probabilities hold: the training label shares,
        or none (zeros) when ``class_weight="balanced"`` weighs every label alike. Emission
        scores of the chain are booster log-probabilities minus this prior."""
        if self.class_weight == "balanced":
            return np.zeros(len(self.classes_))
        counts = np.bincount(label_index, minlength=len(self.classes_)) + PRIOR_SMOOTHING
        return np.log(counts / counts.sum())

    def holdout_booster_proba(self, data: StageTwoData) -> HeldOut | None:
        """A second booster trained without the real documents of ``calibration_share`` of
        the training sites, scored on them after every iteration: its probabilities at the
        iteration the model's booster will run (None when there are too few sites). With
        ``early_stopping`` that is the iteration whose decoded labels have the best macro-F1
        on those sites (the earliest of equal ones); without, the last. (The iteration of
        least log-loss comes far too soon: on the 1,225-page corpus at ~30 of 120, and
        grouped CV's macro-F1 fell from 0.929 to 0.912 on the reviewed tier.)"""
        held_out = self._calibration_holdout(data)
        if held_out is None:
            return None
        train, test = held_out
        train_weights = None if data.weights is None else data.weights[train]
        booster, quantiser = self._fit_booster(
            data.stacked[train], data.labels[train], weights=train_weights
        )
        truth = np.searchsorted(self.classes_, data.labels[test])
        doc_slices = document_slices(data.frame[DOC_COLUMN].iloc[test])
        best: HeldOut | None = None
        best_f1 = -1.0
        staged = booster.staged_predict_proba(quantiser.transform(data.stacked[test]))
        for iteration, stage in enumerate(staged, start=1):
            proba = self._align(stage, booster)
            if not np.all(np.isfinite(proba)):  # a diverging booster stops before it
                break
            candidate = HeldOut(proba, doc_slices, truth, iteration)
            if not self.early_stopping:
                best = candidate
                continue
            f1 = candidate.scores(self._decode(proba, doc_slices))["macro_f1"]
            if f1 > best_f1:
                best, best_f1 = candidate, f1
        return best

    def _calibration_holdout(self, data: StageTwoData) -> tuple[np.ndarray, np.ndarray] | None:
        """Training and held-out rows of the calibration holdout: ``calibration_share`` of
        the sites; held out are their real documents, and no row copied from them trains
        (nor more than :data:`CALIBRATION_MAX_ROWS` rows, drawn at random)."""
        groups = data.frame[DOC_COLUMN].map(document_site).to_numpy()
        real = data.sources == np.arange(len(data.frame))
        sites = np.unique(groups[real])
        count = round(self.calibration_share * len(sites))
        if count < 1 or count >= len(sites):
            return None
        rng = np.random.default_rng(self.random_state + CALIBRATION_SEED_OFFSET)
        held_sites = rng.choice(sites, size=count, replace=False)
        held = np.isin(groups, held_sites)
        copied = data.sources >= 0
        copied_from_held = np.zeros(len(held), dtype=bool)
        copied_from_held[copied] = held[data.sources[copied]]
        train = np.flatnonzero(~held & ~copied_from_held)
        test = np.flatnonzero(held & real)
        if len(train) > CALIBRATION_MAX_ROWS:
            train = np.sort(rng.choice(train, size=CALIBRATION_MAX_ROWS, replace=False))
        if len(np.unique(data.labels[train])) < 2 or len(test) == 0:
            return None
        return train, test

    def _fit_text_model(
        self, frame: pd.DataFrame, labels: np.ndarray, sources: np.ndarray
    ) -> np.ndarray | None:
        """Fit the text model on the real training rows; return out-of-fold probabilities
        for every row. A composed row copied from a training row takes that row's
        out-of-fold probabilities, so the next stage sees the text model as it is on text
        it never saw: a teaser lead is new text on a new page too."""
        if not (self.use_words or self.use_chars):
            self.features_ = self.classifier_ = None
            return None
        self.features_ = paragraph_features(
            word_max_features=self.word_max_features,
            char_max_features=self.char_max_features,
            use_words=self.use_words,
            use_chars=self.use_chars,
        )
        real = np.flatnonzero(sources == np.arange(len(frame)))
        self.features_.fit(frame.iloc[real])
        # Rows copied from a training row take its probabilities: only the training rows
        # and the new ones (joined notices) are read by the text model.
        read = np.concatenate([real, np.flatnonzero(sources < 0)])
        matrix = self.features_.transform(frame.iloc[read])
        groups = frame[DOC_COLUMN].map(document_site).to_numpy()[read]
        trained = np.arange(len(real))  # the training rows' places in `read`
        folds = min(self.inner_folds, len(set(groups[trained])))
        self.classifier_ = self._text_classifier().fit(matrix[trained], labels[real])
        proba = np.zeros((len(frame), len(self.classes_)))
        if folds < 2:
            proba[read] = self._align(self.classifier_.predict_proba(matrix), self.classifier_)
        else:
            for train, test in GroupKFold(n_splits=folds).split(trained, groups=groups[trained]):
                held_out = np.isin(groups, np.unique(groups[test]))
                fold_labels = labels[real[train]]
                fold_model = self._fold_classifier(fold_labels).fit(matrix[train], fold_labels)
                fold_proba = fold_model.predict_proba(matrix[held_out])
                proba[read[held_out]] = self._align(fold_proba, fold_model)
        copied = sources >= 0
        proba[copied] = proba[sources[copied]]
        return proba

    def _text_classifier(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=2000)

    def _fold_classifier(self, fold_labels: np.ndarray) -> LogisticRegression:
        """An inner fold's text model, started from the whole-data model's coefficients
        when the fold has all its labels: L-BFGS then stops after about half the
        iterations (a fold's optimum lies near the whole data's)."""
        model = self._text_classifier()
        if np.array_equal(np.unique(fold_labels), self.classifier_.classes_):
            model.set_params(warm_start=True)
            model.coef_ = self.classifier_.coef_.copy()
            model.intercept_ = self.classifier_.intercept_.copy()
        return model

    def _align(self, proba: np.ndarray, fitted) -> np.ndarray:
        """Probabilities in ``classes_`` order (a fold may miss a label)."""
        out = np.zeros((len(proba), len(self.classes_)))
        out[:, np.searchsorted(self.classes_, fitted.classes_)] = proba
        return out

    def _fit_dense_steps(self, frame: pd.DataFrame) -> None:
        self.layout_ = LayoutFeatures().fit(frame) if self.use_layout else None
        self.topic_ = TopicFeatures().fit(frame) if self.use_topic else None
        self.memory_ = ParagraphMemory().fit(frame) if self.use_memory else None

    def _stage_two_matrix(
        self, frame: pd.DataFrame, text_proba: np.ndarray | None, training: bool
    ) -> np.ndarray:
        layout = self.layout_.transform(frame) if self.layout_ is not None else None
        memory = None
        if self.memory_ is not None:
            memory = (self.memory_.transform_training if training else self.memory_.transform)(
                frame
            )
        return stage_two_matrix(
            frame,
            self.classes_,
            layout=layout,
            layout_names=self._layout_names(),
            topic=self.topic_.transform(frame) if self.topic_ is not None else None,
            memory=memory,
            text_proba=text_proba,
            use_context=self.use_context,
            structure=self.structure_settings,
        )

    def _layout_names(self) -> list[str]:
        return [] if self.layout_ is None else list(self.layout_.get_feature_names_out())

    @property
    def structure_settings(self) -> StructureSettings | None:
        """Which page-structure cues the booster reads (None: none, without
        ``use_structure``)."""
        if not self.use_structure:
            return None
        return StructureSettings(use_relative=self.use_relative, use_series=self.use_series)

    def structure_features(
        self, frame: pd.DataFrame, text_proba: np.ndarray | None, layout: np.ndarray | None
    ) -> np.ndarray:
        """The page-structure cues of paragraphs (see :mod:`newsseg.structure`): the article
        span and the page-relative scores from the text model's probabilities, the rhythm
        from the layout cues, the series cues from the text."""
        settings = self.structure_settings or StructureSettings(self.use_relative, self.use_series)
        return structure_features(
            frame, text_proba, layout, self._layout_names(), self.classes_, settings
        )

    def structure_feature_names(self) -> list[str]:
        """Names of :meth:`structure_features`' columns."""
        settings = self.structure_settings or StructureSettings(self.use_relative, self.use_series)
        return structure_feature_names(
            self.classes_,
            text=self.classifier_ is not None,
            layout=self.layout_ is not None,
            settings=settings,
        )

    # -- prediction

    def stage_two_features(self, X) -> np.ndarray:
        """The boosting stage's feature matrix of paragraphs: layout, topic and memory cues,
        the text model's probabilities and their context."""
        check_is_fitted(self, "booster_")
        frame = as_paragraph_frame(X)
        text_proba = None
        if self.classifier_ is not None:
            text_proba = self.classifier_.predict_proba(self.features_.transform(frame))
            text_proba = self._align(text_proba, self.classifier_)
        return self._stage_two_matrix(frame, text_proba, training=False)

    def booster_proba(self, X) -> np.ndarray:
        """The booster's per-paragraph label probabilities (before any decoding), columns in
        ``classes_``."""
        check_is_fitted(self, "booster_")
        frame = as_paragraph_frame(X)
        if frame.empty:
            return np.zeros((0, len(self.classes_)))
        return self.stage_two_proba(self.stage_two_features(frame))

    def stage_two_proba(self, stacked: np.ndarray) -> np.ndarray:
        """The booster's label probabilities of a :meth:`stage_two_features` matrix."""
        return self._quantised_proba(self.booster_, self.quantiser_, stacked)

    def _quantised_proba(
        self, booster, quantiser: BinQuantiser | None, stacked: np.ndarray
    ) -> np.ndarray:
        """``booster``'s label probabilities, columns in ``classes_``, of a stage-two matrix
        quantised as its training matrix was (model files from before have no quantiser)."""
        if quantiser is not None:
            stacked = quantiser.transform(stacked)
        return self._align(booster.predict_proba(stacked), booster)

    def predict_proba(self, X) -> np.ndarray:
        """Per-paragraph label probabilities, columns in ``classes_``: the chain's calibrated
        posterior marginals, or the booster's probabilities with ``sequence="none"``."""
        frame = as_paragraph_frame(X)
        return self._reported_proba(self.booster_proba(frame), document_slices(frame[DOC_COLUMN]))

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "booster_")
        frame = as_paragraph_frame(X)
        proba = self.booster_proba(frame)
        return self.classes_[self._decode(proba, document_slices(frame[DOC_COLUMN]))]

    def predict_with_proba(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Decoded labels and the probabilities :meth:`predict_proba` reports, computed with
        one pass of the feature stages."""
        check_is_fitted(self, "booster_")
        frame = as_paragraph_frame(X)
        proba = self.booster_proba(frame)
        doc_slices = document_slices(frame[DOC_COLUMN])
        return self.classes_[self._decode(proba, doc_slices)], self._reported_proba(
            proba, doc_slices
        )

    @property
    def chain_(self) -> Chain:
        """The learned label chain (start, transition and end log-probabilities)."""
        return Chain(self.log_start_, self.log_transitions_, self.log_end_)

    @property
    def _zoned(self) -> bool:
        return self.zones and BODY_LABEL in self.classes_

    def _decoder(self, temperature: float | None = None) -> ChainDecoder:
        """The fitted chain's decoding under the current ``sequence`` setting."""
        return ChainDecoder(
            len(self.classes_),
            self.chain_,
            self.log_prior_,
            self._zoned,
            getattr(self, "temperature_", 1.0) if temperature is None else temperature,
            self.sequence,
        )

    def log_emission(self, booster_proba: np.ndarray) -> np.ndarray:
        """The chain's emission scores of booster probabilities: log-probability minus the
        booster's label prior (for each zone's copy of a label, with ``zones``)."""
        return self._decoder(1.0).log_emission(booster_proba)

    def _marginals(
        self, booster_proba: np.ndarray, doc_slices: list[slice], temperature: float
    ) -> np.ndarray:
        """The posterior label marginals of the chain tempered by ``temperature``."""
        return self._decoder(temperature).marginals(booster_proba, doc_slices, temperature)

    def _reported_proba(self, booster_proba: np.ndarray, doc_slices: list[slice]) -> np.ndarray:
        return self._decoder().reported_proba(booster_proba, doc_slices)

    def _decode(self, booster_proba: np.ndarray, doc_slices: list[slice]) -> np.ndarray:
        """Label indices of each paragraph under the ``sequence`` mode."""
        return self._decoder().decode(booster_proba, doc_slices)

    def booster_leaf_max(self) -> float:
        """The largest absolute leaf value in the booster's trees (learning rate included):
        a healthy model's stays small; a diverging booster's grows without bound."""
        check_is_fitted(self, "booster_")
        values = [
            np.abs(tree.nodes["value"][tree.nodes["is_leaf"].astype(bool)]).max()
            for iteration in self.booster_._predictors
            for tree in iteration
        ]
        return float(max(values, default=0.0))

    def top_features(self, n: int = 15) -> dict[str, list[tuple[str, float]]]:
        """The ``n`` text features with the largest weight towards each label in the text
        model, strongest first: why a label fires. Names are prefixed by their step."""
        check_is_fitted(self, "booster_")
        if self.classifier_ is None:
            return {str(label): [] for label in self.classes_}
        names = self.features_.get_feature_names_out()
        coef = self.classifier_.coef_
        if coef.shape[0] == 1:  # two labels: one row, positive for the second
            coef = np.vstack([-coef[0], coef[0]])
        return {
            str(label): [(str(names[i]), float(coef[row, i])) for i in np.argsort(-coef[row])[:n]]
            for row, label in enumerate(self.classifier_.classes_)
        }

    def stage_two_feature_names(self) -> list[str]:
        """Names of the boosting stage's features, in the columns of
        :meth:`stage_two_features` (see :func:`newsseg.stage_two.stage_two_feature_names`)."""
        check_is_fitted(self, "booster_")
        return stage_two_feature_names(
            self.classes_,
            layout_names=self._layout_names() if self.layout_ is not None else None,
            topic_names=None if self.topic_ is None else self.topic_.get_feature_names_out(),
            memory=self.memory_ is not None,
            text=self.classifier_ is not None,
            use_context=self.use_context,
            structure=self.structure_settings,
        )

    def cue_importances(self) -> dict[str, dict[str, float]]:
        """How much each stage-two feature decides each label: its share of the split gain
        of the booster's trees for that label (each label's shares sum to 1; with two labels
        one tree set serves both). Read from the fitted trees; nothing is computed anew."""
        check_is_fitted(self, "booster_")
        names = self.stage_two_feature_names()
        per_iteration = len(self.booster_._predictors[0])
        gains = np.zeros((per_iteration, len(names)))
        for iteration in self.booster_._predictors:
            for k, tree in enumerate(iteration):
                splits = tree.nodes[~tree.nodes["is_leaf"].astype(bool)]
                np.add.at(gains[k], splits["feature_idx"], np.maximum(splits["gain"], 0.0))
        return gain_shares(gains, names, [str(label) for label in self.booster_.classes_])


def canonical_order(frame: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """Row order that puts a frame's documents in one order whatever order they came in:
    by ``doc_id``, then by a hash of their paragraphs and labels, each document's rows in
    page order. Training on it makes the model independent of the order of the input files
    (composition draws, folds and holdouts all follow row order)."""
    slices = document_slices(frame[DOC_COLUMN])
    texts = frame[TEXT_COLUMN].to_numpy()
    keys = []
    for number, part in enumerate(slices):
        digest = hashlib.sha256()
        for text, label in zip(texts[part], labels[part], strict=True):
            digest.update(f"{label}\t{text}\n".encode())
        keys.append((str(frame[DOC_COLUMN].iat[part.start]), digest.hexdigest(), number))
    keys.sort()
    if not slices:
        return np.arange(len(frame))
    return np.concatenate([np.arange(slices[n].start, slices[n].stop) for *_, n in keys])


# --------------------------------------------------------------------------- compact trees
# A fitted booster holds one TreePredictor per label and iteration (480 for the default
# model), each with three small arrays; a skops file stores every object and array as its
# own entry, and loading them one by one takes seconds. These functions store all trees in
# a few concatenated arrays and rebuild the predictors on load, after checking that every
# node index points inside its tree: scikit-learn predicts without bounds checks.


BITSET_WORDS = 8
"""32-bit words of a category bitset in scikit-learn's trees (256 categories)."""


def pack_booster(
    booster: HistGradientBoostingClassifier,
) -> tuple[HistGradientBoostingClassifier, dict[str, np.ndarray]]:
    """A shallow copy of a fitted ``booster`` without its trees and bin thresholds, and
    those as arrays: ``booster`` itself is left as it is."""
    trees = [tree for iteration in booster._predictors for tree in iteration]
    thresholds = booster._bin_mapper.bin_thresholds_
    arrays = {
        "layout": np.array([len(booster._predictors), len(booster._predictors[0])]),
        "node_counts": np.array([len(tree.nodes) for tree in trees], dtype=np.int64),
        "nodes": np.concatenate([tree.nodes for tree in trees]),
        "bitset_counts": np.array(
            [len(tree.raw_left_cat_bitsets) for tree in trees], dtype=np.int64
        ),
        "binned_bitsets": np.concatenate([tree.binned_left_cat_bitsets for tree in trees]),
        "raw_bitsets": np.concatenate([tree.raw_left_cat_bitsets for tree in trees]),
        "threshold_counts": np.array([len(t) for t in thresholds], dtype=np.int64),
        "thresholds": np.concatenate(thresholds) if thresholds else np.zeros(0),
    }
    bin_mapper = _shallow_copy(booster._bin_mapper, bin_thresholds_=None)
    return _shallow_copy(booster, _predictors=None, _bin_mapper=bin_mapper), arrays


def unpack_booster(booster: HistGradientBoostingClassifier, arrays: dict) -> None:
    """Put the trees and bin thresholds packed by :func:`pack_booster` back into
    ``booster``; a :class:`ValueError` if the arrays do not describe valid trees."""
    n_iterations, n_per_iteration = (int(n) for n in arrays["layout"])
    node_counts = np.asarray(arrays["node_counts"], dtype=np.int64)
    bitset_counts = np.asarray(arrays["bitset_counts"], dtype=np.int64)
    nodes = np.asarray(arrays["nodes"])
    if nodes.dtype != PREDICTOR_RECORD_DTYPE:  # as TreePredictor.__setstate__ does
        nodes = nodes.astype(PREDICTOR_RECORD_DTYPE, casting="same_kind")
    binned, raw = (
        np.ascontiguousarray(arrays[name], dtype=X_BITSET_INNER_DTYPE)
        for name in ("binned_bitsets", "raw_bitsets")
    )
    if not (
        n_iterations >= 1
        and n_per_iteration >= 1
        and n_iterations * n_per_iteration == len(node_counts) == len(bitset_counts)
        and binned.ndim == raw.ndim == 2
        and binned.shape[1] == raw.shape[1] == BITSET_WORDS
        and node_counts.min(initial=1) >= 1
        and bitset_counts.min(initial=0) >= 0
        and node_counts.sum() == len(nodes)
        and bitset_counts.sum() == len(binned) == len(raw)
    ):
        raise ValueError("the packed trees do not add up")
    _check_nodes(nodes, node_counts, bitset_counts, booster.n_features_in_)
    node_parts = np.split(nodes, np.cumsum(node_counts)[:-1])
    binned_parts = np.split(binned, np.cumsum(bitset_counts)[:-1])
    raw_parts = np.split(raw, np.cumsum(bitset_counts)[:-1])
    trees = [
        TreePredictor(*parts) for parts in zip(node_parts, binned_parts, raw_parts, strict=True)
    ]
    booster._predictors = [
        trees[start : start + n_per_iteration] for start in range(0, len(trees), n_per_iteration)
    ]
    threshold_counts = np.asarray(arrays["threshold_counts"], dtype=np.int64)
    thresholds = np.asarray(arrays["thresholds"])
    if threshold_counts.min(initial=0) < 0 or threshold_counts.sum() != len(thresholds):
        raise ValueError("the packed bin thresholds do not add up")
    booster._bin_mapper.bin_thresholds_ = np.split(thresholds, np.cumsum(threshold_counts)[:-1])


def _check_nodes(
    nodes: np.ndarray, node_counts: np.ndarray, bitset_counts: np.ndarray, n_features: int
) -> None:
    """Every split's children lie after it in its own tree (so a walk ends), its feature
    is an input column and its bitset exists: what predicting reads without checking."""
    tree_size = np.repeat(node_counts, node_counts)
    position = np.arange(len(nodes)) - np.repeat(np.cumsum(node_counts) - node_counts, node_counts)
    split = nodes["is_leaf"] == 0
    children_ok = all(
        ((nodes[side] > position) & (nodes[side] < tree_size))[split].all()
        for side in ("left", "right")
    )
    feature = nodes["feature_idx"][split]
    categorical = split & (nodes["is_categorical"] != 0)
    bitsets_ok = (nodes["bitset_idx"] < np.repeat(bitset_counts, node_counts))[categorical]
    if not (children_ok and ((feature >= 0) & (feature < n_features)).all() and bitsets_ok.all()):
        raise ValueError("a packed tree has a node index out of range")


def _shallow_copy(obj, **changes):
    """A new ``type(obj)`` sharing ``obj``'s attributes, with ``changes`` applied."""
    copy = object.__new__(type(obj))
    copy.__dict__.update(vars(obj), **changes)
    return copy
