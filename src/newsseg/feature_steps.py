"""The feature steps of training as scikit-learn estimators: the n-gram TF-IDF steps of the
text model (side by side in one named ``ColumnTransformer``), the layout and topic cues and
the cross-document memory of the boosting stage.

Each step learns in ``fit`` and computes with the array functions of
:mod:`newsseg.features` and :mod:`newsseg.ngrams`, which prediction calls on the arrays of a
model file without these classes (see :mod:`newsseg.predictor`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted, validate_data

from newsseg.features import (
    CHAR_MAX_FEATURES,
    CHAR_NGRAM_RANGE,
    DOC_COLUMN,
    MEMORY_MAX_ITEMS,
    TEXT_COLUMN,
    TOPIC_CUES,
    TOPIC_MAX_FEATURES,
    WORD_MAX_FEATURES,
    as_text,
    documents_per_hash,
    layout_frame,
    layout_matrix,
    memory_cues,
    memory_hashes,
    recurrence_cues,
    remembered,
    topic_cues,
)
from newsseg.ngrams import NgramVocabulary, SparseRows, as_texts, fit_vocabulary


class NgramTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF over word or character n-grams (see :mod:`newsseg.ngrams`), fitted and applied
    batch-wise with numpy. Sublinear term frequency, smoothed IDF and L2-normalised rows, as
    ``TfidfVectorizer(sublinear_tf=True)``; ``max_features`` keeps the most frequent
    n-grams.

    Parameters
    ----------
    analyzer : ``"char_wb"`` or ``"word"``.
    ngram_range : the smallest and largest n.
    min_df : n-grams found in fewer documents are left out.
    max_features : at most this many n-grams (None keeps all).
    """

    def __init__(
        self,
        analyzer: str = "word",
        ngram_range: tuple[int, int] = (1, 1),
        min_df: int = 1,
        max_features: int | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, X, y=None):
        fitted = fit_vocabulary(
            as_texts(X), self.analyzer, self.ngram_range, self.min_df, self.max_features
        )
        self.__dict__.pop("_vocabulary", None)
        self.hashes_, self.idf_, self.terms_ = fitted.hashes, fitted.idf, fitted.terms
        self.n_features_out_ = len(fitted.hashes)
        return self

    @property
    def vocabulary(self) -> NgramVocabulary:
        """The fitted vocabulary that computes the TF-IDF rows (built once, not saved)."""
        check_is_fitted(self, "hashes_")
        found = self.__dict__.get("_vocabulary")
        if found is None:
            found = NgramVocabulary(self.analyzer, self.ngram_range, self.hashes_, self.idf_)
            self.__dict__["_vocabulary"] = found
        return found

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_vocabulary", None)
        state.pop("_bucket_starts", None)  # the cache of model files before NgramVocabulary
        return state

    def transform(self, X) -> sp.csr_matrix:
        return as_csr(self.vocabulary.transform(as_texts(X)))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "hashes_")
        return np.asarray(self.terms_, dtype=object)


def as_csr(rows: SparseRows) -> sp.csr_matrix:
    """:class:`~newsseg.ngrams.SparseRows` as a scipy CSR matrix (sharing the arrays)."""
    return sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(rows), rows.n_columns))


class LayoutFeatures(TransformerMixin, BaseEstimator):
    """Layout cues of paragraphs (see :func:`newsseg.features.layout_frame`), as a dense
    float matrix.

    ``X`` is a DataFrame with a ``text`` column and optionally ``doc_id`` (rows of one
    document consecutive, in page order), or a 2-D array whose first column is the text and
    whose rows form one document. Position and neighbour cues depend on row order by design.
    """

    def fit(self, X, y=None):
        self._validate(X, reset=True)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        return layout_matrix(*self._validate(X, reset=False))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        return np.asarray(self.feature_names_, dtype=object)

    def _validate(self, X, reset: bool) -> tuple[pd.Series, pd.Series]:
        columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
        array = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        if columns is not None and TEXT_COLUMN in columns:
            texts = pd.Series(array[:, columns.index(TEXT_COLUMN)])
        else:
            texts = pd.Series(array[:, 0])
        if columns is not None and DOC_COLUMN in columns:
            doc_ids = pd.Series(array[:, columns.index(DOC_COLUMN)]).astype(str)
        else:
            doc_ids = pd.Series(np.zeros(len(array), dtype=int))
        texts = texts.map(as_text)
        if reset:
            self.feature_names_ = list(layout_frame(texts[:1], doc_ids[:1]).columns)
        return texts, doc_ids

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.requires_fit = True
        return tags


class TopicFeatures(TransformerMixin, BaseEstimator):
    """Topic distance of each paragraph to its own document (see
    :func:`newsseg.features.topic_cues`), over a word TF-IDF learned in ``fit``. ``X`` is a
    frame with ``doc_id`` and ``text``, a document's rows consecutive and in page order."""

    def __init__(self, max_features: int | None = TOPIC_MAX_FEATURES) -> None:
        self.max_features = max_features

    def fit(self, X, y=None):
        self.vectorizer_ = NgramTfidf(
            analyzer="word", min_df=2, max_features=self.max_features
        ).fit(X[TEXT_COLUMN].astype(str))
        return self

    def transform(self, X):
        check_is_fitted(self, "vectorizer_")
        texts = X[TEXT_COLUMN].astype(str).tolist()
        return topic_cues(self.vectorizer_.vocabulary, texts, X[DOC_COLUMN])

    def get_feature_names_out(self, input_features=None):
        return np.asarray(TOPIC_CUES, dtype=object)


class ParagraphMemory(TransformerMixin, BaseEstimator):
    """In how many other documents a paragraph recurs: boilerplate (notices, teasers)
    recurs across the pages of a site. ``fit`` keeps a bounded, hashed count of the
    normalised paragraphs seen in at least two training documents; ``transform`` adds the
    recurrence within the batch being labeled (see :func:`newsseg.features.memory_cues`).
    Composed training pages are left out."""

    def __init__(self, max_items: int = MEMORY_MAX_ITEMS) -> None:
        self.max_items = max_items

    def fit(self, X, y=None):
        hashes = memory_hashes(X[TEXT_COLUMN], X[DOC_COLUMN])
        counts = documents_per_hash(hashes, X[DOC_COLUMN].astype(str).to_numpy())
        counts = counts[counts >= 2].sort_values(ascending=False, kind="stable")
        counts = counts.iloc[: self.max_items].sort_index()
        self.hashes_ = counts.index.to_numpy(np.int64)
        self.counts_ = counts.to_numpy(np.int64)
        return self

    def transform_training(self, X) -> np.ndarray:
        """The training rows' recurrence, not counting their own document."""
        check_is_fitted(self, "hashes_")
        hashes = memory_hashes(X[TEXT_COLUMN], X[DOC_COLUMN])
        seen = remembered(self.hashes_, self.counts_, hashes)
        return recurrence_cues(np.maximum(seen - 1, 0) * (hashes >= 0))

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "hashes_")
        return memory_cues(X[TEXT_COLUMN], X[DOC_COLUMN], self.hashes_, self.counts_)


# --------------------------------------------------------------------------- the union


def paragraph_features(
    word_max_features: int | None = WORD_MAX_FEATURES,
    char_max_features: int | None = CHAR_MAX_FEATURES,
    char_ngram_range: tuple[int, int] = CHAR_NGRAM_RANGE,
    use_words: bool = True,
    use_chars: bool = True,
) -> ColumnTransformer:
    """The text model's features: word and character TF-IDF side by side, each a named
    step. (Layout, topic and memory cues feed the boosting stage; see model.py.)"""
    steps = []
    if use_words:
        words = NgramTfidf(
            analyzer="word", ngram_range=(1, 2), min_df=2, max_features=word_max_features
        )
        steps.append(("words", words, TEXT_COLUMN))
    if use_chars:
        chars = NgramTfidf(
            analyzer="char_wb",
            ngram_range=char_ngram_range,
            min_df=2,
            max_features=char_max_features,
        )
        steps.append(("chars", chars, TEXT_COLUMN))
    if not steps:
        raise ValueError("paragraph_features needs words, characters or both")
    return ColumnTransformer(steps, sparse_threshold=1.0)


# --------------------------------------------------------------------------- model files of v0.2


class CompactTfidfVectorizer(TfidfVectorizer):
    """The TF-IDF step of model files saved before :class:`NgramTfidf` (kept so that such a
    file still loads and can be refused with a reason): a ``TfidfVectorizer`` saved with its
    vocabulary as one array of terms. New models do not use it."""

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__
        state.pop("stop_words_", None)
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms = sorted(vocabulary, key=vocabulary.__getitem__)
            state["vocabulary_terms_"] = np.array(terms, dtype=str)
        return state

    def __setstate__(self, state):
        state = dict(state)
        terms = state.pop("vocabulary_terms_", None)
        if terms is not None:
            state["vocabulary_"] = {str(term): index for index, term in enumerate(terms)}
        super().__setstate__(state)
