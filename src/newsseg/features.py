"""Features of a paragraph: layout cues (position, length, casing, punctuation, neighbours)
and TF-IDF over words and characters, side by side in one named ``ColumnTransformer``.

Every cue is a small named function over a column of paragraphs; thresholds are named
constants. Cues see at most :data:`MAX_CHARS` characters of a paragraph, so a megabyte line
costs no more than a long paragraph.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

MAX_CHARS = 2000
"""Cues and n-grams read this many leading characters of a paragraph."""

LONG_PARAGRAPH_WORDS = 25
"""A paragraph of at least this many words counts as long (body-like)."""

WORD_MAX_FEATURES = 20000
CHAR_MAX_FEATURES = 30000
CHAR_NGRAM_RANGE = (2, 5)

TEXT_COLUMN = "text"
DOC_COLUMN = "doc_id"

_WORD = re.compile(r"\w+")
_AGENCY_TAG = r"\((?:[A-Z][A-Z0-9.&-]{1,15})\)"
_CAPS_LEAD_IN = r"^[A-Z][A-Z0-9 .,'&/-]{2,40}:"
_COPYRIGHT = r"©|\(c\)|\bcopyright\b|\bcopr\."
_YEAR = r"\b(?:19|20)\d\d\b"
_URL = r"https?://|www\.|\.com\b|@\w"
_RIGHTS_WORDS = (
    r"\b(?:rights?|reserved|permission|permitted|prohibited|reproduc\w*|redistribut\w*|"
    r"licen[cs]\w*|trademarks?|terms|privacy|cookies?|consent|disclaim\w*|liab\w*|"
    r"unauthori[sz]ed|written|prior|legal|law|policy|copyright\w*)\b"
)


# --------------------------------------------------------------------------- text cues
# Each takes the (capped) paragraphs as a string Series and returns one number a paragraph.


def log_chars(text: pd.Series) -> pd.Series:
    return np.log1p(text.str.len())


def log_words(text: pd.Series) -> pd.Series:
    return np.log1p(text.str.count(r"\w+"))


def is_long(text: pd.Series) -> pd.Series:
    return (text.str.count(r"\w+") >= LONG_PARAGRAPH_WORDS).astype(float)


def mean_word_length(text: pd.Series) -> pd.Series:
    words = text.str.count(r"\w+")
    return text.str.count(r"\w").div(words.where(words > 0, 1))


def upper_ratio(text: pd.Series) -> pd.Series:
    return _ratio(text.str.count(r"[A-Z]"), text.str.count(r"[A-Za-z]"))


def title_word_ratio(text: pd.Series) -> pd.Series:
    return _ratio(text.str.count(r"\b[A-Z]\w*"), text.str.count(r"\b[A-Za-z]\w*"))


def digit_ratio(text: pd.Series) -> pd.Series:
    return _ratio(text.str.count(r"\d"), text.str.len())


def punctuation_ratio(text: pd.Series) -> pd.Series:
    return _ratio(text.str.count(r"[^\w\s]"), text.str.len())


def sentence_count(text: pd.Series) -> pd.Series:
    return np.log1p(text.str.count(r"[.!?](?:\s|$)"))


def ends_with_stop(text: pd.Series) -> pd.Series:
    return text.str.contains(r"[.!?][\"'”’)]*$").astype(float)


def ends_with_colon(text: pd.Series) -> pd.Series:
    return text.str.contains(r":$").astype(float)


def ends_without_punctuation(text: pd.Series) -> pd.Series:
    return text.str.contains(r"\w[\"'”’)]*$").astype(float)


def starts_with_quote(text: pd.Series) -> pd.Series:
    return text.str.contains(r"^[\"“'‘«]").astype(float)


def has_agency_tag(text: pd.Series) -> pd.Series:
    return text.str.slice(0, 120).str.contains(_AGENCY_TAG).astype(float)


def has_caps_lead_in(text: pd.Series) -> pd.Series:
    return text.str.contains(_CAPS_LEAD_IN).astype(float)


def has_copyright(text: pd.Series) -> pd.Series:
    return text.str.contains(_COPYRIGHT, case=False).astype(float)


def has_year(text: pd.Series) -> pd.Series:
    return text.str.contains(_YEAR).astype(float)


def has_url(text: pd.Series) -> pd.Series:
    return text.str.contains(_URL).astype(float)


def pipe_count(text: pd.Series) -> pd.Series:
    return np.log1p(text.str.count(r"\|"))


def rights_word_ratio(text: pd.Series) -> pd.Series:
    return _ratio(text.str.count(_RIGHTS_WORDS, flags=re.IGNORECASE), text.str.count(r"\w+"))


TEXT_CUES = (
    log_chars,
    log_words,
    is_long,
    mean_word_length,
    upper_ratio,
    title_word_ratio,
    digit_ratio,
    punctuation_ratio,
    sentence_count,
    ends_with_stop,
    ends_with_colon,
    ends_without_punctuation,
    starts_with_quote,
    has_agency_tag,
    has_caps_lead_in,
    has_copyright,
    has_year,
    has_url,
    pipe_count,
    rights_word_ratio,
)

NEIGHBOUR_CUES = ("log_words", "is_long", "ends_with_stop", "has_copyright", "rights_word_ratio")
"""Text cues that are also given for the previous and the next paragraph."""


def _ratio(part: pd.Series, whole: pd.Series) -> pd.Series:
    return part.div(whole.where(whole > 0, 1)).astype(float)


# --------------------------------------------------------------------------- document cues


def text_cues(text: pd.Series) -> pd.DataFrame:
    """The text cues of each paragraph, one named column each."""
    capped = text.astype(str).str.slice(0, MAX_CHARS)
    return pd.DataFrame({cue.__name__: cue(capped).to_numpy(float) for cue in TEXT_CUES})


def position_cues(doc_ids: pd.Series) -> pd.DataFrame:
    """Where each paragraph stands in its document (rows of a document are consecutive)."""
    groups = pd.Series(doc_ids.to_numpy()).groupby(_runs(doc_ids), sort=False)
    from_start = groups.cumcount().to_numpy(float)
    size = groups.transform("size").to_numpy(float)
    from_end = size - 1 - from_start
    return pd.DataFrame(
        {
            "is_first": (from_start == 0).astype(float),
            "is_last": (from_end == 0).astype(float),
            "log_from_start": np.log1p(from_start),
            "log_from_end": np.log1p(from_end),
            "relative_position": from_start / np.maximum(size - 1, 1),
            "log_doc_paragraphs": np.log1p(size),
        }
    )


def neighbour_cues(cues: pd.DataFrame, doc_ids: pd.Series) -> pd.DataFrame:
    """Selected cues of the previous and next paragraph (zero past the document's ends)."""
    runs = _runs(doc_ids)
    selected = cues[list(NEIGHBOUR_CUES)].groupby(runs, sort=False)
    previous = selected.shift(1).fillna(0.0).add_prefix("prev_")
    following = selected.shift(-1).fillna(0.0).add_prefix("next_")
    return pd.concat([previous, following], axis=1)


def _runs(doc_ids: pd.Series) -> np.ndarray:
    """A number for each run of equal consecutive ``doc_id`` values."""
    values = pd.Series(doc_ids).to_numpy()
    if len(values) == 0:
        return np.zeros(0, dtype=int)
    changes = np.concatenate([[False], values[1:] != values[:-1]])
    return np.cumsum(changes)


def layout_frame(texts: pd.Series, doc_ids: pd.Series) -> pd.DataFrame:
    """All layout cues of a paragraph frame: text, position and neighbour cues."""
    texts = pd.Series(texts).reset_index(drop=True)
    doc_ids = pd.Series(doc_ids).reset_index(drop=True)
    cues = text_cues(texts)
    return pd.concat([cues, position_cues(doc_ids), neighbour_cues(cues, doc_ids)], axis=1)


class LayoutFeatures(TransformerMixin, BaseEstimator):
    """Layout cues of paragraphs, as a dense float matrix.

    ``X`` is a DataFrame with a ``text`` column and optionally ``doc_id`` (rows of one
    document consecutive, in page order), or a 2-D array whose first column is the text and
    whose rows form one document. Position and neighbour cues depend on row order by design.
    """

    def fit(self, X, y=None):
        self._validate(X, reset=True)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        texts, doc_ids = self._validate(X, reset=False)
        return layout_frame(texts, doc_ids).to_numpy(dtype=float)

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
        texts = texts.map(_as_text)
        if reset:
            self.feature_names_ = list(layout_frame(texts[:1], doc_ids[:1]).columns)
        return texts, doc_ids

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.requires_fit = True
        return tags


def _as_text(value: object) -> str:
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- TF-IDF


class CompactTfidfVectorizer(TfidfVectorizer):
    """A ``TfidfVectorizer`` whose saved state is small and quick to load: the vocabulary
    as one array of terms (not a dict of tens of thousands of entries) and no
    ``stop_words_``, which scikit-learn keeps for introspection only."""

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


# --------------------------------------------------------------------------- the union


def paragraph_features(
    word_max_features: int | None = WORD_MAX_FEATURES,
    char_max_features: int | None = CHAR_MAX_FEATURES,
    char_ngram_range: tuple[int, int] = CHAR_NGRAM_RANGE,
    use_words: bool = True,
    use_chars: bool = True,
    use_layout: bool = True,
) -> ColumnTransformer:
    """Words, characters and layout side by side, each a named step."""
    steps = []
    if use_words:
        words = CompactTfidfVectorizer(
            lowercase=True,
            ngram_range=(1, 2),
            min_df=2,
            max_features=word_max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        steps.append(("words", words, TEXT_COLUMN))
    if use_chars:
        chars = CompactTfidfVectorizer(
            analyzer="char_wb",
            ngram_range=char_ngram_range,
            min_df=2,
            max_features=char_max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        steps.append(("chars", chars, TEXT_COLUMN))
    if use_layout:
        layout = Pipeline([("cues", LayoutFeatures()), ("scale", StandardScaler())])
        steps.append(("layout", layout, [DOC_COLUMN, TEXT_COLUMN]))
    if not steps:
        raise ValueError("paragraph_features needs at least one of words, chars, layout")
    return ColumnTransformer(steps, sparse_threshold=1.0)
