"""Features of a paragraph as arrays: layout cues (position, length, casing, punctuation,
neighbours), topic cues (TF-IDF similarity to its own page) and the cross-document memory.

Every cue is a small named function over a column of paragraphs; thresholds are named
constants. Cues see at most :data:`MAX_CHARS` characters of a paragraph, so a megabyte line
costs no more than a long paragraph. Prediction imports this module: it needs numpy and
pandas, not scikit-learn (the estimators that fit the steps in training are in
:mod:`newsseg.feature_steps`).
"""

from __future__ import annotations

import functools
import re
import zlib
from typing import Any

import numpy as np
import pandas as pd

from newsseg.config import COMPOSED_MARK
from newsseg.ngrams import (
    DIGIT,
    SPACE,
    WORD,
    NgramVocabulary,
    Words,
    batch_words,
    character_classes,
    code_points,
)
from newsseg.runs import run_numbers, run_slices, run_starts

MAX_CHARS = 2000
"""Cues and n-grams read this many leading characters of a paragraph."""

LONG_PARAGRAPH_WORDS = 25
"""A paragraph of at least this many words counts as long (body-like)."""

WORD_MAX_FEATURES = 20000
CHAR_MAX_FEATURES = 30000
CHAR_NGRAM_RANGE = (2, 5)

TEXT_COLUMN = "text"
DOC_COLUMN = "doc_id"


def as_paragraph_frame(X: Any) -> pd.DataFrame:
    """``X`` as a frame with ``doc_id`` and ``text``: a DataFrame is taken as it is (without
    ``doc_id`` its rows are one document); a list of strings is one document. Texts are cut
    to :data:`MAX_CHARS`."""
    if isinstance(X, pd.DataFrame):
        if TEXT_COLUMN not in X.columns:
            raise ValueError(f"X needs a {TEXT_COLUMN!r} column")
        doc_ids = X[DOC_COLUMN].astype(str) if DOC_COLUMN in X.columns else "0"
        frame = pd.DataFrame({DOC_COLUMN: doc_ids, TEXT_COLUMN: X[TEXT_COLUMN]})
    else:
        texts = list(X)
        if texts and not all(isinstance(text, str) for text in texts):
            raise ValueError("X must be a DataFrame with doc_id and text, or a list of strings")
        frame = pd.DataFrame({DOC_COLUMN: "0", TEXT_COLUMN: pd.Series(texts, dtype=object)})
    frame[TEXT_COLUMN] = frame[TEXT_COLUMN].fillna("").astype(str).str.slice(0, MAX_CHARS)
    return frame.reset_index(drop=True)


_WORD = re.compile(r"\w+")
_AGENCY_TAG = re.compile(r"\((?:[A-Z][A-Z0-9.&-]{1,15})\)")
_CAPS_LEAD_IN = re.compile(r"^[A-Z][A-Z0-9 .,'&/-]{2,40}:")
_COPYRIGHT = re.compile(r"©|\(c\)|\bcopyright\b|\bcopr\.", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_URL = re.compile(r"https?://|www\.|\.com\b|@\w")
_RIGHTS_WORD = re.compile(
    r"(?:rights?|reserved|permission|permitted|prohibited|reproduc\w*|redistribut\w*|"
    r"licen[cs]\w*|trademarks?|terms|privacy|cookies?|consent|disclaim\w*|liab\w*|"
    r"unauthori[sz]ed|written|prior|legal|law|policy|copyright\w*)"
)
"""Words of rights and use (a lower-case word matches it whole)."""


# --------------------------------------------------------------------------- text cues
# Each takes a batch of (capped) paragraphs, whose counts are made once for all cues, and
# returns one number a paragraph.


class ParagraphBatch:
    """The (capped) paragraphs of a batch and the counts the text cues share, computed
    with array operations over the whole batch: characters by class, words, sentence ends,
    and the batch's distinct words, which word-list cues test once each."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        codes, rows = code_points(texts)
        classes = character_classes(codes)
        word = (classes & WORD) > 0
        word_start = word & ~np.concatenate([[False], word[:-1]])
        upper = (codes >= ord("A")) & (codes <= ord("Z"))
        letter = upper | ((codes >= ord("a")) & (codes <= ord("z")))
        after = np.append(codes[1:], 0)  # 0: the text ends here

        def per_paragraph(mask: np.ndarray) -> np.ndarray:
            return np.bincount(rows[mask], minlength=len(texts)).astype(float)

        self.chars = np.array([len(text) for text in texts], dtype=float)
        self.words = per_paragraph(word_start)
        self.word_chars = per_paragraph(word)
        self.upper = per_paragraph(upper)
        self.letters = per_paragraph(letter)
        self.capitalised_words = per_paragraph(word_start & upper)
        self.letter_words = per_paragraph(word_start & letter)
        self.digits = per_paragraph((classes & DIGIT) > 0)
        self.punctuation = per_paragraph((codes != 0) & ((classes & (WORD | SPACE)) == 0))
        stop = (codes == ord(".")) | (codes == ord("!")) | (codes == ord("?"))
        before_space = ((character_classes(after) & SPACE) > 0) | (after == 0)
        self.sentence_ends = per_paragraph(stop & before_space)
        self.word_list = batch_words(texts)
        self.copyright = self.matches(_COPYRIGHT)
        """© or "copyright": a cue of its own and part of the strong legal cue."""

    def __len__(self) -> int:
        return len(self.texts)

    def matches(self, pattern: re.Pattern, last: int | None = None) -> np.ndarray:
        """Whether each paragraph (or its ``last`` characters) holds a match of ``pattern``."""
        texts = self.texts if last is None else [text[-last:] for text in self.texts]
        return np.fromiter((pattern.search(text) is not None for text in texts), float, len(texts))

    def count_words(self, test) -> np.ndarray:
        """How many words of each paragraph pass ``test`` (a function of a lower-case word)."""
        passes = np.fromiter(map(test, self.word_list.distinct), bool, len(self.word_list.distinct))
        hits = passes[self.word_list.kinds]
        return np.bincount(self.word_list.rows[hits], minlength=len(self)).astype(float)

    def count_distinct_words(self, test) -> np.ndarray:
        """How many different words of each paragraph pass ``test``."""
        distinct = self.word_list.distinct
        passes = np.fromiter(map(test, distinct), bool, len(distinct))
        hits = passes[self.word_list.kinds]
        pairs = distinct_sorted(
            self.word_list.rows[hits] * len(distinct) + self.word_list.kinds[hits]
        )
        return np.bincount(pairs // max(len(distinct), 1), minlength=len(self)).astype(float)


def distinct_sorted(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` of integer keys, by a sort and a comparison of neighbours (numpy's
    ``unique`` hashes first, then sorts what it found: several times slower here)."""
    keys = np.sort(keys)
    if len(keys) == 0:
        return keys
    new = np.empty(len(keys), dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    return keys[new]


_END_CHARS = 8
"""End and start cues read this many characters at a paragraph's end."""
_STOP_END = re.compile(r"[.!?][\"'”’)]*$")
_COLON_END = re.compile(r":$")
_WORD_END = re.compile(r"\w[\"'”’)]*$")
_QUOTE_START = re.compile(r"^[\"“'‘«]")
_ELLIPSIS_END = re.compile(r"(?:\.\.\.|…)\s*$")
_BULLET_START = re.compile(r"^\s*(?:[-•*·▪►]|\d+[.)])\s")


def log_chars(batch: ParagraphBatch) -> np.ndarray:
    return np.log1p(batch.chars)


def log_words(batch: ParagraphBatch) -> np.ndarray:
    return np.log1p(batch.words)


def is_long(batch: ParagraphBatch) -> np.ndarray:
    return (batch.words >= LONG_PARAGRAPH_WORDS).astype(float)


def mean_word_length(batch: ParagraphBatch) -> np.ndarray:
    return _ratio(batch.word_chars, batch.words)


def upper_ratio(batch: ParagraphBatch) -> np.ndarray:
    return _ratio(batch.upper, batch.letters)


def title_word_ratio(batch: ParagraphBatch) -> np.ndarray:
    return _ratio(batch.capitalised_words, batch.letter_words)


def digit_ratio(batch: ParagraphBatch) -> np.ndarray:
    return _ratio(batch.digits, batch.chars)


def punctuation_ratio(batch: ParagraphBatch) -> np.ndarray:
    return _ratio(batch.punctuation, batch.chars)


def sentence_count(batch: ParagraphBatch) -> np.ndarray:
    return np.log1p(batch.sentence_ends)


def ends_with_stop(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_STOP_END, last=_END_CHARS)


def ends_with_colon(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_COLON_END, last=_END_CHARS)


def ends_without_punctuation(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_WORD_END, last=_END_CHARS)


def starts_with_quote(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_QUOTE_START)


def has_agency_tag(batch: ParagraphBatch) -> np.ndarray:
    return np.fromiter(
        (_AGENCY_TAG.search(text, 0, 120) is not None for text in batch.texts), float, len(batch)
    )


def has_caps_lead_in(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_CAPS_LEAD_IN)


def has_copyright(batch: ParagraphBatch) -> np.ndarray:
    return batch.copyright


def has_year(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_YEAR)


def has_url(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_URL)


def pipe_count(batch: ParagraphBatch) -> np.ndarray:
    return np.log1p(np.array([text.count("|") for text in batch.texts], dtype=float))


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


def legal_word_count(batch: ParagraphBatch) -> np.ndarray:
    return batch.count_words(LEGAL_WORDS.__contains__)


def legal_word_ratio(batch: ParagraphBatch) -> np.ndarray:
    return _ratio(legal_word_count(batch), batch.words)


def strong_legal_cue(batch: ParagraphBatch) -> np.ndarray:
    """©, "copyright", or enough strong or different notice words."""
    strong = batch.count_words(STRONG_LEGAL_WORDS.__contains__)
    distinct = batch.count_distinct_words(LEGAL_WORDS.__contains__)
    notice_words = (strong >= STRONG_LEGAL_MIN) | (distinct >= DISTINCT_LEGAL_MIN)
    return ((batch.copyright > 0) | notice_words).astype(float)


def ends_with_ellipsis(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_ELLIPSIS_END, last=_END_CHARS)


def starts_with_bullet(batch: ParagraphBatch) -> np.ndarray:
    return batch.matches(_BULLET_START)


def rights_word_ratio(batch: ParagraphBatch) -> np.ndarray:
    return _ratio(batch.count_words(_RIGHTS_WORD.fullmatch), batch.words)


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


def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return part / np.where(whole > 0, whole, 1)


# --------------------------------------------------------------------------- document cues


def text_cues(text: pd.Series) -> pd.DataFrame:
    """The text cues of each paragraph, one named column each."""
    batch = ParagraphBatch([str(value)[:MAX_CHARS] for value in text.tolist()])
    return pd.DataFrame({cue.__name__: cue(batch) for cue in TEXT_CUES})


def position_cues(doc_ids: pd.Series) -> pd.DataFrame:
    """Where each paragraph stands in its document (rows of a document are consecutive)."""
    documents = Documents(doc_ids)
    from_start = documents.position.astype(float)
    size = documents.document_size.astype(float)
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
    runs = run_numbers(doc_ids)
    selected = cues[list(NEIGHBOUR_CUES)].groupby(runs, sort=False)
    previous = selected.shift(1).fillna(0.0).add_prefix("prev_")
    following = selected.shift(-1).fillna(0.0).add_prefix("next_")
    return pd.concat([previous, following], axis=1)


FOOTER_AFTER_LONG = 3
"""A strong legal cue after at least this many long paragraphs starts the page's footer."""
WINDOW = 5
"""Paragraphs in the rolling window of window cues (centred)."""


class Documents:
    """Where each row stands in its document, for cues computed over all documents at
    once (rows of a document consecutive)."""

    def __init__(self, doc_ids: pd.Series) -> None:
        self.runs = run_numbers(doc_ids)
        n = len(self.runs)
        self.first_row = run_starts(self.runs)
        self.size = np.diff(np.append(self.first_row, n))
        self.start = np.repeat(self.first_row, self.size)
        """The first row of each row's document."""
        self.document_size = np.repeat(self.size, self.size)
        """The number of rows of each row's document."""
        self.stop = self.start + self.document_size
        self.position = np.arange(n) - self.start

    def cumsum(self, values: np.ndarray) -> np.ndarray:
        """Running sums within each document (including the row itself)."""
        total = np.cumsum(values, dtype=float)
        before_document = np.concatenate([[0.0], total])[self.start]
        return total - before_document

    def total(self, values: np.ndarray) -> np.ndarray:
        """Each row's document's sum."""
        if len(self.runs) == 0:
            return np.zeros(0)
        return np.add.reduceat(np.asarray(values, dtype=float), self.first_row)[self.runs]

    def window_mean(self, values: np.ndarray, width: int) -> np.ndarray:
        """Centred moving average over ``width`` rows, cut at the document's ends. (Summed
        window by window, not from running sums: the same rows give the same values in
        any batch.)"""
        values = np.asarray(values, dtype=float)
        total, count = np.zeros(len(values)), np.zeros(len(values))
        last = self.document_size - 1
        for offset in range(-(width // 2), width // 2 + 1):
            inside = (self.position + offset >= 0) & (self.position + offset <= last)
            total += np.where(inside, np.roll(values, -offset), 0.0)
            count += inside
        return total / count

    def running_max_before(self, values: np.ndarray) -> np.ndarray:
        """The largest of the values of the rows before each row in its document; 0 for a
        document's first row. (Exact: the same rows give the same values in any batch.)"""
        running = pd.Series(values).groupby(self.runs).cummax().to_numpy(float)
        return np.where(self.position > 0, np.roll(running, 1), 0.0)

    def neighbours_max(self, values: np.ndarray) -> np.ndarray:
        """The largest of a row and its two neighbours in the same document."""
        previous = np.where(self.position > 0, np.roll(values, 1), values)
        following = np.where(self.position < self.document_size - 1, np.roll(values, -1), values)
        return np.maximum(values, np.maximum(previous, following))


def longest_runs(flags: np.ndarray, documents: Documents) -> tuple[np.ndarray, np.ndarray]:
    """Each document's longest run of true flags (the first of equal ones): its start
    position and length (0 and 0 when there is none), one value per document."""
    n_docs = len(documents.first_row)
    same_as_previous = documents.position > 0
    flag_starts = np.flatnonzero(flags & ~(np.roll(flags, 1) & same_as_previous))
    run_ends = np.flatnonzero(flags & ~(np.roll(flags, -1) & np.roll(same_as_previous, -1)))
    lengths = run_ends - flag_starts + 1
    run_documents = documents.runs[flag_starts]
    order = np.lexsort((flag_starts, -lengths, run_documents))
    best = order[run_starts(run_documents[order])]
    start, length = np.zeros(n_docs, dtype=int), np.zeros(n_docs, dtype=int)
    start[run_documents[best]] = documents.position[flag_starts[best]]
    length[run_documents[best]] = lengths[best]
    return start, length


def block_cues(texts: pd.Series, doc_ids: pd.Series, cues: pd.DataFrame) -> pd.DataFrame:
    """Cues of each document's shape: the body block (the longest run of long paragraphs
    after the first line), the footer (what follows a notice that follows the body),
    repeated paragraphs and the lengths around each paragraph."""
    documents = Documents(doc_ids)
    position, runs = documents.position, documents.runs
    size = documents.document_size.astype(float)
    long = (cues["is_long"].to_numpy() > 0) & (position >= 1)
    block_start, block_length = longest_runs(long, documents)
    start, length = block_start[runs], block_length[runs]
    end = start + length - 1
    strong = cues["strong_legal_cue"].to_numpy()
    footer_rows = np.flatnonzero((strong > 0) & (documents.cumsum(long) >= FOOTER_AFTER_LONG))
    footer_start = np.full(len(documents.size), np.iinfo(np.int64).max)
    np.minimum.at(footer_start, runs[footer_rows], position[footer_rows])
    after_footer = position > footer_start[runs]
    since_footer = np.where(after_footer, position - footer_start[runs].clip(max=len(runs)) - 1, 0)
    repeats = _repeats_in_document(texts, runs)
    log_words = cues["log_words"].to_numpy()
    body = pd.Series(log_words).where(position >= 1).groupby(runs).transform("median")
    strong_seen = documents.cumsum(strong)
    return pd.DataFrame(
        {
            "in_body_block": ((position >= start) & (position <= end) & (length > 0)).astype(float),
            "before_body_block": (position < start).astype(float),
            "after_body_block": ((position > end) & (length > 0)).astype(float),
            "distance_to_body_block": np.where(
                position < start, start - position, np.where(position > end, position - end, 0)
            )
            / size,
            "body_block_share": length / size,
            "strong_legal_before": strong_seen - strong,
            "strong_legal_after": documents.total(strong) - strong_seen,
            "in_footer": after_footer.astype(float),
            "log_since_footer": np.log1p(since_footer),
            "repeats_in_document": repeats - 1,
            "log_words_vs_median": log_words - body.fillna(0.0).to_numpy(),
            "window_log_words": documents.window_mean(log_words, WINDOW),
            "window_ends_with_stop": documents.window_mean(
                cues["ends_with_stop"].to_numpy(), WINDOW
            ),
            "window_strong_legal": documents.neighbours_max(strong),
        }
    )


def _repeats_in_document(texts: pd.Series, runs: np.ndarray) -> np.ndarray:
    """How many rows of its document have each row's words (lower case, in order)."""
    normalised = pd.Series(
        [" ".join(_WORD.findall(text.lower())) for text in texts.tolist()], dtype=object
    )
    # A Series, not a list, as the key: pandas turns a list of strings into a fixed-width
    # array first (rows x the longest paragraph: gigabytes for one long line).
    return normalised.groupby([runs, normalised], sort=False).transform("size").to_numpy(float)


def document_slices(doc_ids: pd.Series) -> list[slice]:
    """One slice per run of consecutive rows of the same document."""
    return run_slices(pd.Series(doc_ids).to_numpy())


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


def layout_matrix(texts: pd.Series, doc_ids: pd.Series) -> np.ndarray:
    """The layout cues of paragraphs as a float matrix, columns :func:`layout_feature_names`."""
    return layout_frame(texts, doc_ids).to_numpy(dtype=float)


@functools.cache
def layout_feature_names() -> tuple[str, ...]:
    """The names of the layout cues, in the columns of :func:`layout_matrix`."""
    return tuple(layout_frame(pd.Series(["x"]), pd.Series(["0"])).columns)


def as_text(value: object) -> str:
    return "" if value is None else str(value)


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


class _Terms:
    """The nonzero TF-IDF values of one document's rows, in two orders: by row (as stored)
    and by term, then row. Every cue is a sum over these values, so memory and time are
    linear in the document's length (no ``rows @ rows.T``, which grows with its square)."""

    def __init__(self, rows) -> None:
        # Rows in compressed-row form: SparseRows, or a canonical scipy CSR matrix.
        self.n_rows = len(rows.indptr) - 1
        self.indptr = rows.indptr
        self.values = rows.data.astype(float)
        self.row = np.repeat(np.arange(self.n_rows), np.diff(rows.indptr))
        _, self.term = np.unique(rows.indices, return_inverse=True)
        self.term = self.term.ravel()
        self.n_terms = int(self.term.max()) + 1 if len(self.term) else 0
        # By term, then row: a stable sort of the row order.
        self.order = np.argsort(self.term, kind="stable")

    def per_row(self, weights: np.ndarray) -> np.ndarray:
        """Sums of ``weights`` (one per value, in row order) for each row."""
        return _sums(self.row, weights, self.n_rows)

    def summed(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The sum of the given rows (default: all) as a dense vector over the terms."""
        if rows is None:
            keep = slice(None)
        else:  # a few rows (the anchor): their values, where each row is stored
            keep = np.concatenate(
                [np.arange(self.indptr[r], self.indptr[r + 1]) for r in rows] or [np.zeros(0, int)]
            )
        return _sums(self.term[keep], self.values[keep], self.n_terms)

    def dot(self, vector: np.ndarray) -> np.ndarray:
        """Each row's dot product with a dense vector over the terms."""
        return self.per_row(self.values * vector[self.term])

    def before_after(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's dot product with the sum of the rows before it, and of the rows after
        it (exactly 0 where no other row shares a term with it)."""
        term, row, value = self.term[self.order], self.row[self.order], self.values[self.order]
        running = np.cumsum(value)
        first = run_starts(term)
        size = np.diff(np.append(first, len(term)))
        group_start = np.repeat(first, size)
        group_last = np.repeat(first + size - 1, size)
        before = (running - value) - (running - value)[group_start]
        after = running[group_last] - running
        dot_before = _sums(row, value * before, self.n_rows)
        dot_after = _sums(row, value * after, self.n_rows)
        return dot_before, dot_after

    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's dot product with the row before it and with the row after it."""
        term, row, value = self.term[self.order], self.row[self.order], self.values[self.order]
        adjacent = (term[1:] == term[:-1]) & (row[1:] == row[:-1] + 1)
        products = (value[1:] * value[:-1])[adjacent]
        previous = _sums(row[1:][adjacent], products, self.n_rows)
        following = _sums(row[:-1][adjacent], products, self.n_rows)
        return previous, following


def _sums(groups: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """The sum of ``weights`` in each of ``size`` groups (floats, even when there are none)."""
    return np.bincount(groups, weights, minlength=size).astype(float)


def document_topic_cues(rows) -> np.ndarray:
    """The similarity cues of one document, from its TF-IDF rows (sparse, one per paragraph
    in page order): how close each paragraph is to the headline, to the story's anchor, to
    the rest of the document, to its neighbours, and to what stands before and after it.
    Columns: :data:`GRAM_CUES`. Linear in the document's length (see :class:`_Terms`)."""
    terms = _Terms(rows)
    self_sim = terms.per_row(terms.values**2)
    norms = np.sqrt(np.maximum(self_sim, 0))
    whole = terms.summed()
    row_sums = terms.dot(whole)
    total = float(whole @ whole)
    before_dot, after_dot = terms.before_after()
    # The rest of the document: the sum of all rows but this one.
    rest_dot = before_dot + after_dot
    rest_norm = np.sqrt(np.maximum(total - 2 * row_sums + self_sim, 0))
    sim_headline = terms.dot(terms.summed(np.array([0]))) if terms.n_rows else np.zeros(0)
    previous, following = terms.neighbours()
    # |sum of rows up to i|^2 grows by 2 * (row i . rows before it) + |row i|^2 at each row.
    up_to = np.cumsum(2 * before_dot + self_sim)
    before_norm = np.sqrt(np.maximum(np.concatenate([[0.0], up_to[:-1]]), 0))
    from_on = np.cumsum((2 * after_dot + self_sim)[::-1])[::-1]
    after_norm = np.sqrt(np.maximum(np.concatenate([from_on[1:], [0.0]]), 0))
    return np.column_stack(
        [
            sim_headline,
            _cosine(rest_dot, norms, rest_norm),
            _anchor_similarity(terms, sim_headline, norms),
            previous,
            following,
            _cosine(before_dot, norms, before_norm),
            _cosine(after_dot, norms, after_norm),
        ]
    ).reshape(terms.n_rows, len(GRAM_CUES))


GRAM_CUES = (
    "sim_headline",
    "sim_rest",
    "sim_anchor",
    "sim_previous",
    "sim_next",
    "sim_before",
    "sim_after",
)


def _anchor_similarity(terms: _Terms, sim_headline: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Each paragraph's cosine to the anchor: the headline and the :data:`ANCHOR_SIZE`
    paragraphs most similar to it, the paragraph itself left out (then the next one in)."""
    if not terms.n_rows:
        return np.zeros(0)
    order = np.argsort(-sim_headline[1:], kind="stable")[: ANCHOR_SIZE + 1] + 1
    members = np.concatenate([[0], order[:ANCHOR_SIZE]])
    anchor = terms.summed(members)
    out = _cosine(terms.dot(anchor), norms, np.sqrt(max(float(anchor @ anchor), 0)))
    for k, row in enumerate(order[:ANCHOR_SIZE]):
        own = terms.summed(np.concatenate([[0], np.delete(order, k)[:ANCHOR_SIZE]]))
        mine = terms.summed(np.array([row]))
        own_norm = np.sqrt(max(float(own @ own), 0))
        out[row] = _cosine(np.array([float(mine @ own)]), norms[row : row + 1], own_norm)[0]
    return out


def headline_word_overlap(words: Words, documents: Documents) -> np.ndarray:
    """The share of the headline's words (of three letters or more) a paragraph holds."""
    n_rows, n_kinds = len(documents.runs), max(len(words.distinct), 1)
    long_kind = np.fromiter((len(w) > 2 for w in words.distinct), bool, len(words.distinct))
    keep = long_kind[words.kinds]
    rows, kinds = words.rows[keep], words.kinds[keep]
    pairs = distinct_sorted(rows * n_kinds + kinds)  # each word once a paragraph
    rows, kinds = pairs // n_kinds, pairs % n_kinds
    document = documents.runs[rows]
    is_headline = documents.position[rows] == 0
    keys = document * n_kinds + kinds
    # Sorted, as the pairs are by row and a document's rows are consecutive: a binary search
    # finds each pair's word among its document's headline words.
    headline_keys = keys[is_headline]
    where = np.minimum(np.searchsorted(headline_keys, keys), max(len(headline_keys) - 1, 0))
    shared = headline_keys[where] == keys if len(headline_keys) else np.zeros(len(keys), bool)
    headline_size = np.bincount(document[is_headline], minlength=len(documents.size))
    counts = np.bincount(rows[shared], minlength=n_rows)
    return counts / np.maximum(headline_size[documents.runs], 1)


def topic_cues(vocabulary: NgramVocabulary, texts: list[str], doc_ids: pd.Series) -> np.ndarray:
    """The :data:`TOPIC_CUES` of paragraphs (rows of a document consecutive, in page order)
    over the word TF-IDF of ``vocabulary``: each paragraph's topic distance to its own
    document (see :func:`document_topic_cues`)."""
    doc_ids = pd.Series(pd.Series(doc_ids).to_numpy())
    documents = Documents(doc_ids)
    matrix = vocabulary.transform(texts)
    terms = np.diff(matrix.indptr)
    gram_cues = np.zeros((len(texts), len(GRAM_CUES)))
    for part in document_slices(doc_ids):
        gram_cues[part] = document_topic_cues(matrix.rows(part))
    cue = dict(zip(GRAM_CUES, gram_cues.T, strict=True))
    cue["sim_neighbours"] = np.maximum(cue["sim_previous"], cue["sim_next"])
    cue["headline_word_overlap"] = headline_word_overlap(batch_words(texts), documents)
    body = documents.position >= 1
    for name in ("sim_rest", "sim_anchor"):
        median = pd.Series(cue[name]).where(body).groupby(documents.runs).transform("median")
        cue[f"{name}_vs_median"] = cue[name] - median.fillna(0.0).to_numpy()
    ranks = pd.Series(cue["sim_anchor"]).groupby(documents.runs).rank(pct=True)
    cue["sim_anchor_rank"] = ranks.to_numpy()
    cue["window_sim_anchor"] = documents.window_mean(cue["sim_anchor"], 3)
    cue["window_sim_rest"] = documents.window_mean(cue["sim_rest"], 3)
    cue["log_terms"] = np.log1p(terms)
    cue["no_terms"] = (terms == 0).astype(float)
    cue["sim_before_minus_after"] = cue["sim_before"] - cue["sim_after"]
    if not len(texts):
        return np.zeros((0, len(TOPIC_CUES)))
    return np.column_stack([cue[name] for name in TOPIC_CUES])


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


def documents_per_hash(hashes: np.ndarray, doc_ids: np.ndarray) -> pd.Series:
    pairs = pd.DataFrame({"hash": hashes, "doc": doc_ids}).query("hash >= 0").drop_duplicates()
    return pairs.groupby("hash").size()


def memory_hashes(texts: pd.Series, doc_ids: pd.Series) -> np.ndarray:
    """:func:`paragraph_hashes`, with -1 for the rows of composed training pages."""
    doc_ids = pd.Series(doc_ids).astype(str).to_numpy()
    hashes = paragraph_hashes(texts)
    hashes[np.char.find(doc_ids.astype(str), COMPOSED_MARK) >= 0] = -1
    return hashes


def remembered(hashes: np.ndarray, counts: np.ndarray, found: np.ndarray) -> np.ndarray:
    """In how many training documents the memory (sorted ``hashes`` and their ``counts``)
    saw each of the ``found`` hashes (0 for those it never saw)."""
    if len(hashes) == 0:
        return np.zeros(len(found))
    where = np.clip(np.searchsorted(hashes, found), 0, len(hashes) - 1)
    return np.where(hashes[where] == found, counts[where], 0).astype(float)


def memory_cues(
    texts: pd.Series, doc_ids: pd.Series, hashes: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """How often each paragraph recurs: in the memory's training documents and in the other
    documents of this batch (columns: log of the count, and whether it recurs at all)."""
    found = memory_hashes(texts, doc_ids)
    in_batch = documents_per_hash(found, pd.Series(doc_ids).astype(str).to_numpy())
    batch = pd.Series(found).map(in_batch).fillna(1).to_numpy(float) - 1
    return recurrence_cues((remembered(hashes, counts, found) + batch) * (found >= 0))


def recurrence_cues(others: np.ndarray) -> np.ndarray:
    return np.column_stack([np.log1p(others), (others > 0).astype(float)])
