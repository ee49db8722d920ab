"""Features of a paragraph: layout cues (position, length, casing, punctuation, neighbours)
and TF-IDF over words and characters, side by side in one named ``ColumnTransformer``.

Every cue is a small named function over a column of paragraphs; thresholds are named
constants. Cues see at most :data:`MAX_CHARS` characters of a paragraph, so a megabyte line
costs no more than a long paragraph.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted, validate_data

from newsseg.config import COMPOSED_MARK

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


LEGAL_WORDS = frozenset(
    [
        "copyright",
        "rights",
        "reserved",
        "reserve",
        "trademark",
        "trademarks",
        "registered",
        "license",
        "licence",
        "licensed",
        "licensing",
        "permission",
        "permitted",
        "prohibited",
        "prohibit",
        "forbidden",
        "unauthorized",
        "unauthorised",
        "reproduce",
        "reproduced",
        "reproduction",
        "redistribute",
        "redistributed",
        "redistribution",
        "republish",
        "republished",
        "rewritten",
        "broadcast",
        "distributed",
        "distribution",
        "copied",
        "written",
        "prior",
        "consent",
        "terms",
        "conditions",
        "privacy",
        "policy",
        "cookie",
        "cookies",
        "disclaimer",
        "liability",
        "liable",
        "legal",
        "law",
        "laws",
        "lawful",
        "notice",
        "affiliate",
        "commission",
        "advertising",
        "sponsored",
        "protected",
        "agreement",
        "accept",
        "agree",
        "policies",
        "gdpr",
        "personal",
        "tracking",
        "warranty",
        "endorse",
        "endorsement",
        "responsible",
        "responsibility",
        "material",
        "materials",
        "without",
        "derechos",
        "reservados",
        "direitos",
        "droits",
        "réservés",
        "rechte",
        "vorbehalten",
        "diritti",
        "riservati",
    ]
)
"""General vocabulary of notices (rights, use, permission, privacy), in several languages."""

STRONG_LEGAL_WORDS = frozenset(
    [
        "copyright",
        "reserved",
        "trademark",
        "trademarks",
        "unauthorized",
        "unauthorised",
        "reproduced",
        "reproduction",
        "redistributed",
        "republish",
        "cookies",
        "cookie",
        "privacy",
        "disclaimer",
        "liability",
        "licence",
        "license",
        "permission",
        "prohibited",
        "gdpr",
        "consent",
    ]
)
"""Words that seldom stand in an article but in notices: two of them make a strong cue."""

STRONG_LEGAL_MIN = 2
DISTINCT_LEGAL_MIN = 4
"""A paragraph with this many different notice words is a strong legal cue too."""


def _word_lists(text: pd.Series) -> pd.Series:
    return text.str.lower().str.findall(r"\w+")


def legal_word_count(text: pd.Series) -> pd.Series:
    return _word_lists(text).map(lambda words: sum(w in LEGAL_WORDS for w in words)).astype(float)


def legal_word_ratio(text: pd.Series) -> pd.Series:
    return _ratio(legal_word_count(text), text.str.count(r"\w+"))


def strong_legal_cue(text: pd.Series) -> pd.Series:
    """©, "copyright", or enough strong or different notice words."""
    words = _word_lists(text)
    strong = words.map(lambda ws: sum(w in STRONG_LEGAL_WORDS for w in ws))
    distinct = words.map(lambda ws: len(LEGAL_WORDS.intersection(ws)))
    cue = (
        text.str.contains(_COPYRIGHT, case=False)
        | (strong >= STRONG_LEGAL_MIN)
        | (distinct >= DISTINCT_LEGAL_MIN)
    )
    return cue.astype(float)


def ends_with_ellipsis(text: pd.Series) -> pd.Series:
    return text.str.contains(r"(?:\.\.\.|…)\s*$").astype(float)


def starts_with_bullet(text: pd.Series) -> pd.Series:
    return text.str.contains(r"^\s*(?:[-•*·▪►]|\d+[.)])\s").astype(float)


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
    legal_word_count,
    legal_word_ratio,
    strong_legal_cue,
    ends_with_ellipsis,
    starts_with_bullet,
)

NEIGHBOUR_CUES = (
    "log_words",
    "is_long",
    "ends_with_stop",
    "has_copyright",
    "rights_word_ratio",
    "strong_legal_cue",
)
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


FOOTER_AFTER_LONG = 3
"""A strong legal cue after at least this many long paragraphs starts the page's footer."""
WINDOW = 5
"""Paragraphs in the rolling window of window cues (centred)."""


def longest_run(flags: np.ndarray) -> tuple[int, int]:
    """Start and length of the longest run of true values (0, 0 when there is none)."""
    best_start, best_length, start, length = 0, 0, 0, 0
    for i, flag in enumerate(flags):
        if flag:
            start, length = (i, 1) if length == 0 else (start, length + 1)
            if length > best_length:
                best_start, best_length = start, length
        else:
            length = 0
    return best_start, best_length


def document_block_cues(texts: list[str], cues: pd.DataFrame) -> dict[str, np.ndarray]:
    """Cues of one document's shape: the body block (the longest run of long paragraphs
    after the first line), the footer (what follows a notice that follows the body), repeated
    paragraphs and the lengths around each paragraph."""
    n = len(texts)
    position = np.arange(n)
    long = (cues["is_long"].to_numpy() > 0) & (position >= 1)
    start, length = longest_run(long)
    end = start + length - 1
    strong = cues["strong_legal_cue"].to_numpy()
    long_seen = np.cumsum(long)
    footer_starts = np.flatnonzero((strong > 0) & (long_seen >= FOOTER_AFTER_LONG))
    footer = np.zeros(n)
    since_footer = np.zeros(n)
    if len(footer_starts):
        after = position > footer_starts[0]
        footer[after] = 1.0
        since_footer[after] = np.log1p(position[after] - footer_starts[0] - 1)
    normalised = pd.Series([" ".join(_WORD.findall(text.lower())) for text in texts])
    strong_before = np.concatenate([[0.0], np.cumsum(strong)[:-1]])
    log_words = cues["log_words"].to_numpy()
    window = {"center": True, "min_periods": 1}
    return {
        "in_body_block": ((position >= start) & (position <= end) & (length > 0)).astype(float),
        "before_body_block": (position < start).astype(float),
        "after_body_block": ((position > end) & (length > 0)).astype(float),
        "distance_to_body_block": np.where(
            position < start, start - position, np.where(position > end, position - end, 0)
        )
        / max(n, 1),
        "body_block_share": np.full(n, length / max(n, 1)),
        "strong_legal_before": strong_before,
        "strong_legal_after": strong.sum() - np.cumsum(strong),
        "in_footer": footer,
        "log_since_footer": since_footer,
        "repeats_in_document": normalised.map(normalised.value_counts()).to_numpy(float) - 1,
        "log_words_vs_median": log_words - (np.median(log_words[1:]) if n > 1 else 0.0),
        "window_log_words": pd.Series(log_words).rolling(WINDOW, **window).mean().to_numpy(),
        "window_ends_with_stop": pd.Series(cues["ends_with_stop"].to_numpy())
        .rolling(WINDOW, **window)
        .mean()
        .to_numpy(),
        "window_strong_legal": pd.Series(strong).rolling(3, **window).max().to_numpy(),
    }


def block_cues(texts: pd.Series, doc_ids: pd.Series, cues: pd.DataFrame) -> pd.DataFrame:
    """:func:`document_block_cues` for every document of a frame."""
    parts = []
    text_list = texts.tolist()
    for part in document_slices(doc_ids):
        block = document_block_cues(text_list[part], cues.iloc[part].reset_index(drop=True))
        parts.append(pd.DataFrame(block))
    if not parts:
        return pd.DataFrame(columns=list(document_block_cues(["x"], cues.iloc[:0]).keys()))
    return pd.concat(parts, ignore_index=True)


def document_slices(doc_ids: pd.Series) -> list[slice]:
    """One slice per run of consecutive rows of the same document."""
    runs = _runs(doc_ids)
    if len(runs) == 0:
        return []
    starts = np.flatnonzero(np.concatenate([[True], runs[1:] != runs[:-1]]))
    ends = np.append(starts[1:], len(runs))
    return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


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
    return pd.concat(
        [
            cues,
            position_cues(doc_ids),
            neighbour_cues(cues, doc_ids),
            block_cues(texts, doc_ids, cues),
        ],
        axis=1,
    )


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
            # tolist() gives Python strings at once: faster than str() on each numpy string.
            state["vocabulary_"] = dict(zip(terms.tolist(), range(len(terms)), strict=True))
        super().__setstate__(state)


# --------------------------------------------------------------------------- topic cues

TOPIC_MAX_FEATURES = 30000
ANCHOR_SIZE = 3
"""The story's anchor: the headline and the paragraphs this many most similar to it."""

TOPIC_CUES = (
    "sim_headline",
    "sim_rest",
    "sim_anchor",
    "sim_previous",
    "sim_next",
    "sim_neighbours",
    "headline_word_overlap",
    "sim_rest_vs_median",
    "sim_anchor_vs_median",
    "sim_anchor_rank",
    "window_sim_anchor",
    "window_sim_rest",
    "log_terms",
    "no_terms",
    "sim_before",
    "sim_after",
    "sim_before_minus_after",
)


def _cosine(dot: np.ndarray, norm_a: np.ndarray, norm_b: np.ndarray) -> np.ndarray:
    denominator = norm_a * norm_b
    return np.divide(dot, denominator, out=np.zeros_like(dot), where=denominator > 0)


def document_topic_cues(gram: np.ndarray, texts: list[str], terms: np.ndarray) -> np.ndarray:
    """Topic cues of one document from the Gram matrix of its TF-IDF rows: how close each
    paragraph is to the headline, to the story's anchor, to the rest of the document, to its
    neighbours, and to what stands before and after it. A teaser is about another story."""
    n = len(texts)
    self_sim = np.diag(gram)
    norms = np.sqrt(np.maximum(self_sim, 0))
    row_sums = gram.sum(axis=1)
    total = gram.sum()
    # The rest of the document: the sum of all rows but this one.
    rest_dot = row_sums - self_sim
    rest_norm = np.sqrt(np.maximum(total - 2 * row_sums + self_sim, 0))
    sim_rest = _cosine(rest_dot, norms, rest_norm)
    sim_headline = gram[:, 0]
    order = np.argsort(-sim_headline[1:], kind="stable")[: ANCHOR_SIZE + 1] + 1
    sim_anchor = np.zeros(n)
    for i in range(n):
        members = [0, *[j for j in order if j != i][:ANCHOR_SIZE]]
        dot = gram[i, members].sum()
        norm = np.sqrt(max(gram[np.ix_(members, members)].sum(), 0))
        sim_anchor[i] = dot / (norms[i] * norm) if norms[i] * norm > 0 else 0.0
    previous = np.concatenate([[0.0], np.diag(gram, -1)])
    following = np.concatenate([np.diag(gram, 1), [0.0]])
    lower = np.tril(gram, -1)
    before_dot = lower.sum(axis=1)
    before_norm = np.sqrt(np.maximum(np.cumsum(np.cumsum(gram, 0), 1).diagonal(), 0))
    before_norm = np.concatenate([[0.0], before_norm[:-1]])
    upper = np.triu(gram, 1)
    after_dot = upper.sum(axis=1)
    flipped = gram[::-1, ::-1]
    after_norm = np.sqrt(np.maximum(np.cumsum(np.cumsum(flipped, 0), 1).diagonal(), 0))[::-1]
    after_norm = np.concatenate([after_norm[1:], [0.0]])
    sim_before = _cosine(before_dot, norms, before_norm)
    sim_after = _cosine(after_dot, norms, after_norm)
    headline_words = {w for w in _WORD.findall(texts[0].lower()) if len(w) > 2}
    overlap = np.array(
        [
            len(headline_words.intersection(w for w in _WORD.findall(t.lower()) if len(w) > 2))
            / max(len(headline_words), 1)
            for t in texts
        ]
    )
    window = {"center": True, "min_periods": 1}
    median_rest = np.median(sim_rest[1:]) if n > 1 else 0.0
    median_anchor = np.median(sim_anchor[1:]) if n > 1 else 0.0
    return np.column_stack(
        [
            sim_headline,
            sim_rest,
            sim_anchor,
            previous,
            following,
            np.maximum(previous, following),
            overlap,
            sim_rest - median_rest,
            sim_anchor - median_anchor,
            pd.Series(sim_anchor).rank(pct=True).to_numpy(),
            pd.Series(sim_anchor).rolling(3, **window).mean().to_numpy(),
            pd.Series(sim_rest).rolling(3, **window).mean().to_numpy(),
            np.log1p(terms),
            (terms == 0).astype(float),
            sim_before,
            sim_after,
            sim_before - sim_after,
        ]
    )


class TopicFeatures(TransformerMixin, BaseEstimator):
    """Topic distance of each paragraph to its own document (see
    :func:`document_topic_cues`), over a word TF-IDF learned in ``fit``. ``X`` is a frame
    with ``doc_id`` and ``text``, a document's rows consecutive and in page order."""

    def __init__(self, max_features: int | None = TOPIC_MAX_FEATURES) -> None:
        self.max_features = max_features

    def fit(self, X, y=None):
        self.vectorizer_ = CompactTfidfVectorizer(
            token_pattern=r"(?u)\b\w\w+\b",
            sublinear_tf=True,
            min_df=2,
            max_features=self.max_features,
            dtype=np.float32,
        ).fit(X[TEXT_COLUMN].astype(str))
        return self

    def transform(self, X):
        check_is_fitted(self, "vectorizer_")
        texts = X[TEXT_COLUMN].astype(str).tolist()
        matrix = self.vectorizer_.transform(texts).tocsr()
        terms = np.diff(matrix.indptr)
        out = np.zeros((len(texts), len(TOPIC_CUES)))
        for part in document_slices(pd.Series(X[DOC_COLUMN].to_numpy())):
            rows = matrix[part]
            gram = (rows @ rows.T).toarray().astype(float)
            out[part] = document_topic_cues(gram, texts[part], terms[part])
        return out

    def get_feature_names_out(self, input_features=None):
        return np.asarray(TOPIC_CUES, dtype=object)


# --------------------------------------------------------------------------- cross-document

MEMORY_MAX_ITEMS = 100_000
"""The memory keeps at most this many paragraphs (the most frequent): its size is bounded."""
MEMORY_MIN_CHARS = 10


def paragraph_hashes(texts: pd.Series) -> np.ndarray:
    """A 32-bit hash of each normalised paragraph (lower case, digits as 0, words only);
    -1 for paragraphs too short to count."""
    normalised = (
        texts.astype(str)
        .str.lower()
        .str.replace(r"\d", "0", regex=True)
        .str.replace(r"\W+", " ", regex=True)
        .str.strip()
    )
    hashes = normalised.map(lambda text: zlib.crc32(text.encode("utf-8"))).to_numpy(np.int64)
    return np.where(texts.astype(str).str.len().to_numpy() >= MEMORY_MIN_CHARS, hashes, -1)


def _documents_per_hash(hashes: np.ndarray, doc_ids: np.ndarray) -> pd.Series:
    pairs = pd.DataFrame({"hash": hashes, "doc": doc_ids}).query("hash >= 0").drop_duplicates()
    return pairs.groupby("hash").size()


class ParagraphMemory(TransformerMixin, BaseEstimator):
    """In how many other documents a paragraph recurs: boilerplate (notices, teasers)
    recurs across the pages of a site. ``fit`` keeps a bounded, hashed count of the
    normalised paragraphs seen in at least two training documents; ``transform`` adds the
    recurrence within the batch being labeled. Composed training pages are left out."""

    def __init__(self, max_items: int = MEMORY_MAX_ITEMS) -> None:
        self.max_items = max_items

    def fit(self, X, y=None):
        hashes, doc_ids = self._hashes(X)
        counts = _documents_per_hash(hashes, doc_ids)
        counts = counts[counts >= 2].sort_values(ascending=False, kind="stable")
        counts = counts.iloc[: self.max_items].sort_index()
        self.hashes_ = counts.index.to_numpy(np.int64)
        self.counts_ = counts.to_numpy(np.int64)
        return self

    def _hashes(self, X) -> tuple[np.ndarray, np.ndarray]:
        doc_ids = X[DOC_COLUMN].astype(str).to_numpy()
        hashes = paragraph_hashes(X[TEXT_COLUMN])
        hashes[np.char.find(doc_ids.astype(str), COMPOSED_MARK) >= 0] = -1
        return hashes, doc_ids

    def _remembered(self, hashes: np.ndarray) -> np.ndarray:
        where = np.clip(np.searchsorted(self.hashes_, hashes), 0, max(len(self.hashes_) - 1, 0))
        if len(self.hashes_) == 0:
            return np.zeros(len(hashes))
        return np.where(self.hashes_[where] == hashes, self.counts_[where], 0).astype(float)

    def transform_training(self, X) -> np.ndarray:
        """The training rows' recurrence, not counting their own document."""
        check_is_fitted(self, "hashes_")
        hashes, _ = self._hashes(X)
        return self._cues(np.maximum(self._remembered(hashes) - 1, 0) * (hashes >= 0))

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "hashes_")
        hashes, doc_ids = self._hashes(X)
        in_batch = _documents_per_hash(hashes, doc_ids)
        batch = pd.Series(hashes).map(in_batch).fillna(1).to_numpy(float) - 1
        return self._cues((self._remembered(hashes) + batch) * (hashes >= 0))

    @staticmethod
    def _cues(others: np.ndarray) -> np.ndarray:
        return np.column_stack([np.log1p(others), (others > 0).astype(float)])


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
    if not steps:
        raise ValueError("paragraph_features needs words, characters or both")
    return ColumnTransformer(steps, sparse_threshold=1.0)
