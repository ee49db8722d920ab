"""Word and character n-gram TF-IDF over whole batches of paragraphs, with numpy.

scikit-learn's ``TfidfVectorizer`` builds every n-gram of every paragraph as a Python string
and looks it up in a dict: for character n-grams that is most of newsseg's prediction time.
:class:`NgramVocabulary` does the same job over a batch at once. The batch is joined into one
string and read as an array of code points; every n-gram becomes a 64-bit polynomial hash
computed with a few array operations, and a fitted vocabulary is a sorted array of hashes
(capped by document frequency, as ``max_features`` caps scikit-learn's), looked up with
``searchsorted``. Feature names are kept for the vocabulary, so the model still explains
itself. Two analyzers:

- ``"char_wb"``: character n-grams inside whitespace-separated words padded with one space
  at each end (scikit-learn's ``char_wb``, except that a word shorter than ``n`` gives no
  n-gram of that length);
- ``"word"``: runs of at least two word characters (scikit-learn's default token pattern)
  and n-grams of consecutive tokens.

Text is lower-cased and its whitespace collapsed first.

Prediction imports this module: it needs neither scikit-learn nor scipy (TF-IDF rows are
:class:`SparseRows`). The estimator that fits a vocabulary in training is
:class:`newsseg.feature_steps.NgramTfidf`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

ANALYZERS = ("char_wb", "word")
BATCH_TEXTS = 8192
"""Texts analysed at once: bounds the memory of the hash arrays, whatever the input size."""

_TOKEN = re.compile(r"\w\w+")
_SEPARATOR = "\x00"
_SPACE = 32
_MULTIPLIER = np.uint64(0x100000001B3)
"""The polynomial's base (the 64-bit FNV prime: odd, so no information is shifted out)."""
_LENGTH_SALT = 0x9E3779B97F4A7C15
"""Added once per n-gram length, so n-grams of different lengths hash apart."""


def _salt(n: int) -> np.uint64:
    return np.uint64(_LENGTH_SALT * n % 2**64)  # in Python ints: numpy scalars warn on wrap


_BMP = 0x10000
_BUCKET_BITS = 18
_BUCKETS = 1 << _BUCKET_BITS
_BUCKET_MIX = np.uint64(0x9E3779B97F4A7C15)
"""Fibonacci hashing: multiplying spreads every bit of a hash into the top bits."""


def _bucket(hashes: np.ndarray) -> np.ndarray:
    return ((hashes * _BUCKET_MIX) >> np.uint64(64 - _BUCKET_BITS)).astype(np.intp)


def bucket_order_ok(hashes: np.ndarray) -> bool:
    """Whether a vocabulary's hashes are in the bucket order :class:`NgramVocabulary` looks
    them up in."""
    return bool((np.diff(_bucket(hashes)) >= 0).all())


@dataclass
class Ngrams:
    """The n-grams of a batch: their hashes, the text each stands in, and where each
    starts and ends in ``joined`` (the batch's normalised text), for naming them."""

    hashes: np.ndarray
    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    joined: str


def normalised_codes(texts: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """The batch as one string (texts lower-cased, whitespace collapsed, each padded by a
    space and separated by NUL), its code points, and the text of each code point."""
    parts = [" ".join(text.lower().replace(_SEPARATOR, " ").split()) for text in texts]
    joined = " " + f" {_SEPARATOR} ".join(parts) + " "
    return joined, *_codes(joined)


def _codes(joined: str) -> tuple[np.ndarray, np.ndarray]:
    """The code points of a NUL-joined batch, and the text of each (a separator counts
    for the text after it)."""
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return codes, np.cumsum(codes == 0)


def char_ngrams(texts: list[str], n_min: int, n_max: int, spans: bool = False) -> Ngrams:
    """Character n-grams of the words of each text, each word padded by spaces (with
    ``spans``, where each starts and ends: only naming needs them)."""
    joined, codes, rows = normalised_codes(texts)
    values = codes.astype(np.uint64)
    space = codes == _SPACE
    separator = codes == 0
    hashes, starts, lengths = [], [], []
    running = values.copy()
    crosses = separator.copy()  # the n-gram holds a separator
    interior = np.zeros(len(codes), dtype=bool)  # a space inside the n-gram
    for n in range(1, n_max + 1):
        size = len(codes) - n + 1
        if size <= 0:
            break
        if n > 1:
            running = running[:size] * _MULTIPLIER + values[n - 1 : n - 1 + size]
            crosses = crosses[:size] | separator[n - 1 : n - 1 + size]
            interior = interior[:size]
            if n > 2:
                interior |= space[n - 2 : n - 2 + size]
        if n < n_min:
            continue
        invalid = crosses | interior
        if n == 1:
            invalid = invalid | space[:size]
        elif n == 2:
            invalid = invalid | (space[:size] & space[1 : 1 + size])
        keep = np.flatnonzero(~invalid)
        hashes.append(running[keep] + _salt(n))
        starts.append(keep)
        lengths.append(n)
    return _collect(hashes, starts, lengths, rows, joined, spans)


def _collect(hashes, starts, lengths, rows, joined, spans: bool) -> Ngrams:
    empty = np.zeros(0, dtype=np.int64)
    if not hashes:
        return Ngrams(np.zeros(0, dtype=np.uint64), empty, empty, empty, joined)
    start = np.concatenate(starts)
    if spans:
        ends = np.concatenate([s + n for s, n in zip(starts, lengths, strict=True)])
        return Ngrams(np.concatenate(hashes), rows[start], start, ends, joined)
    return Ngrams(np.concatenate(hashes), rows[start], empty, empty, joined)


WORD, DIGIT, SPACE = 1, 2, 4
"""Bits of :func:`character_classes`: ``\\w``, ``\\d`` and ``\\s`` as Python's ``re`` has them."""

_class_table: np.ndarray | None = None


def _classes_of(code: int) -> int:
    character = chr(code)
    word = character.isalnum() or character == "_"
    return WORD * word | DIGIT * character.isdecimal() | SPACE * character.isspace()


def character_classes(codes: np.ndarray) -> np.ndarray:
    """The class bits of each code point (a table for the Basic Multilingual Plane, built
    once; code points beyond it are looked up one by one: they are rare)."""
    global _class_table
    if _class_table is None:
        _class_table = np.array([_classes_of(code) for code in range(_BMP)], dtype=np.uint8)
    out = _class_table[np.minimum(codes, _BMP - 1)]
    beyond = np.flatnonzero(codes >= _BMP)
    if len(beyond):
        out[beyond] = [_classes_of(code) for code in codes[beyond].tolist()]
    return out


def is_word_character(codes: np.ndarray) -> np.ndarray:
    return (character_classes(codes) & WORD).astype(bool)


def code_points(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The texts' code points joined by NUL (a NUL inside a text becomes a space) and the
    text of each code point (a separator counts for the text after it)."""
    return _codes(_SEPARATOR.join(text.replace(_SEPARATOR, " ") for text in texts))


def word_spans(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of word characters starts and ends (exclusive)."""
    edges = np.diff(is_word_character(codes).astype(np.int8), prepend=0, append=0)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


@dataclass
class Words:
    """The words (runs of word characters) of a batch of texts, lower-cased."""

    rows: np.ndarray
    """The text of each word."""
    kinds: np.ndarray
    """Which of ``distinct`` each word is."""
    distinct: list[str]
    """The batch's different words."""


def batch_words(texts: list[str]) -> Words:
    """Every word of every text (``re.findall(r"\\w+", text.lower())``), with the
    batch's distinct words listed once, so that a test of a word runs once a batch."""
    lowered = [text.lower() for text in texts]
    codes, rows = code_points(lowered)
    starts, ends = word_spans(codes)
    kinds, n_kinds = _first_seen_codes(_span_hashes(codes, starts, ends))
    # Codes count up in order of first appearance: a kind's first word is where the running
    # maximum of the codes first reaches it.
    first = np.searchsorted(np.maximum.accumulate(kinds), np.arange(n_kinds))
    joined = _SEPARATOR.join(lowered)
    spans = zip(starts[first].tolist(), ends[first].tolist(), strict=True)
    distinct = [joined[a:b] for a, b in spans]
    return Words(rows[starts], kinds, distinct)


def _first_seen_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """A code for each value, 0, 1, 2, ... in order of first appearance (a hash table, not
    a sort), and how many different values there are."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.intp, copy=False), len(uniques)


def word_ngrams(
    texts: list[str], n_min: int, n_max: int, min_token_chars: int = 2, spans: bool = False
) -> Ngrams:
    """Tokens (runs of at least ``min_token_chars`` word characters) and n-grams of
    consecutive tokens of one text."""
    joined, codes, rows = normalised_codes(texts)
    starts, ends = word_spans(codes)
    keep = (ends - starts) >= min_token_chars
    starts, ends = starts[keep], ends[keep]
    token_hashes = _span_hashes(codes, starts, ends)
    token_rows = rows[starts]
    hashes, spans_start, spans_end = [], [], []
    for n in range(n_min, n_max + 1):
        size = len(starts) - n + 1
        if size <= 0:
            break
        running = token_hashes[:size].copy()
        same_text = np.ones(size, dtype=bool)
        for k in range(1, n):
            running = running * _MULTIPLIER + token_hashes[k : k + size]
            same_text &= token_rows[k : k + size] == token_rows[:size]
        keep = np.flatnonzero(same_text)
        hashes.append(running[keep] + _salt(n))
        spans_start.append(starts[keep])
        spans_end.append(ends[keep + n - 1])
    if not hashes:
        return _collect([], [], [], rows, joined, spans)
    start = np.concatenate(spans_start)
    ends = np.concatenate(spans_end) if spans else np.zeros(0, dtype=np.int64)
    return Ngrams(np.concatenate(hashes), rows[start], start, ends, joined)


def _span_hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The polynomial hash ``sum(codes[i] * M**(end - 1 - i))`` of each span
    ``codes[start:end]`` (spans non-empty, disjoint, in order), modulo 2**64.

    From running sums: ``M`` is odd, so it has an inverse ``W`` modulo 2**64, and a span's
    hash is ``M**(end - 1) * (P[end] - P[start])`` with ``P[j] = sum(codes[i] * W**i, i < j)``,
    positions counted from a chunk's first span: the same integers as summing each span's
    terms, in a few passes over at most :data:`_CHUNK_CODES` codes at a time."""
    out = np.empty(len(starts), dtype=np.uint64)
    first = 0
    while first < len(starts):
        base = int(starts[first])
        stop = max(int(np.searchsorted(ends, base + _CHUNK_CODES, side="right")), first + 1)
        size = int(ends[stop - 1]) - base
        inverse_powers, powers = _power_tables(size)
        running = np.zeros(size + 1, dtype=np.uint64)
        terms = codes[base : base + size].astype(np.uint64) * inverse_powers[:size]
        np.cumsum(terms, out=running[1:])
        span_starts, span_ends = starts[first:stop] - base, ends[first:stop] - base
        out[first:stop] = (running[span_ends] - running[span_starts]) * powers[span_ends - 1]
        first = stop
    return out


_CHUNK_CODES = 1 << 20
"""Span hashes are computed over this many codes at a time (bounds their memory)."""
_INVERSE = np.uint64(pow(int(_MULTIPLIER), -1, 2**64))
"""The inverse of :data:`_MULTIPLIER` modulo 2**64."""
_power_cache: tuple[np.ndarray, np.ndarray] | None = None


def _power_tables(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``W**i`` and ``M**i`` modulo 2**64 for ``i`` below at least ``count``: built once for
    a chunk, and for one span longer than a chunk each time (not kept)."""
    global _power_cache
    if count > _CHUNK_CODES:
        return _powers(_INVERSE, count), _powers(_MULTIPLIER, count)
    if _power_cache is None or len(_power_cache[0]) < _CHUNK_CODES:
        _power_cache = (_powers(_INVERSE, _CHUNK_CODES), _powers(_MULTIPLIER, _CHUNK_CODES))
    return _power_cache


def _powers(base: np.uint64, count: int) -> np.ndarray:
    """``base**0 .. base**(count - 1)`` modulo 2**64 (uint64 arithmetic wraps)."""
    out = np.full(count, base, dtype=np.uint64)
    out[:1] = 1
    return np.cumprod(out, out=out)


def analyse(
    texts: list[str], analyzer: str, ngram_range: tuple[int, int], spans: bool = False
) -> Ngrams:
    n_min, n_max = ngram_range
    if analyzer == "char_wb":
        return char_ngrams(texts, n_min, n_max, spans)
    return word_ngrams(texts, n_min, n_max, spans=spans)


@dataclass
class Counted:
    """The n-grams of some texts: each distinct hash (sorted), the number of texts it
    stands in, its number of occurrences, and where it first occurs (its ``batch``, and
    ``start:end`` in that batch's ``joined`` text), to name it."""

    hashes: np.ndarray
    documents: np.ndarray
    occurrences: np.ndarray
    batch: np.ndarray
    start: np.ndarray
    end: np.ndarray
    joined: list[str]


def _batch_frequencies(found: Ngrams, batch: int = 0) -> Counted:
    """The batch's distinct n-gram hashes (sorted), the number of texts each stands in,
    its number of occurrences and its first occurrence, from one stable sort: an n-gram's
    occurrences come in text order (each length's n-grams are listed along the batch, and
    lengths hash apart), so a text is new to its n-gram where the row changes within the
    n-gram's run, and the run's first entry is the first occurrence (``found`` with spans)."""
    if len(found.hashes) == 0:
        empty = np.zeros(0, np.int64)
        return Counted(np.zeros(0, np.uint64), empty, empty, empty, empty, empty, [found.joined])
    order = np.argsort(found.hashes, kind="stable")
    hashes, rows = found.hashes[order], found.rows[order]
    new_hash = np.ones(len(hashes), dtype=bool)
    np.not_equal(hashes[1:], hashes[:-1], out=new_hash[1:])
    new_text = new_hash.copy()
    new_text[1:] |= rows[1:] != rows[:-1]
    starts = np.flatnonzero(new_hash)
    occurrences = np.diff(np.append(starts, len(hashes)))
    documents = np.add.reduceat(new_text.astype(np.int64), starts)
    first = order[starts]
    return Counted(
        hashes[starts],
        documents,
        occurrences,
        np.full(len(starts), batch, dtype=np.int64),
        found.starts[first],
        found.ends[first],
        [found.joined],
    )


def _batches(texts: list[str]) -> Iterable[tuple[int, list[str]]]:
    for offset in range(0, len(texts), BATCH_TEXTS):
        yield offset, texts[offset : offset + BATCH_TEXTS]


def ngram_frequencies(texts: list[str], analyzer: str, ngram_range: tuple[int, int]) -> Counted:
    """Every n-gram's hash (sorted), the number of texts it stands in, its number of
    occurrences (``max_features`` keeps the most frequent, as scikit-learn does) and its
    first occurrence in the texts."""
    parts = [
        _batch_frequencies(analyse(batch, analyzer, ngram_range, spans=True), k)
        for k, (_, batch) in enumerate(_batches(texts))
    ]
    if not parts:
        return _batch_frequencies(_collect([], [], [], None, "", spans=False))
    if len(parts) == 1:
        return parts[0]
    every = np.concatenate([p.hashes for p in parts])
    # Stable: a hash's first entry is that of the first batch it stands in.
    hashes, first, inverse = np.unique(every, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    documents, occurrences = (
        np.bincount(inverse, weights=np.concatenate([getattr(p, k) for p in parts])).astype(
            np.int64
        )
        for k in ("documents", "occurrences")
    )
    batch, start, end = (
        np.concatenate([getattr(p, k) for p in parts])[first] for k in ("batch", "start", "end")
    )
    joined = [text for p in parts for text in p.joined]
    return Counted(hashes, documents, occurrences, batch, start, end, joined)


def ngram_names(counted: Counted, keep: np.ndarray, analyzer: str) -> np.ndarray:
    """A name for each kept n-gram: the (normalised) text of its first occurrence."""
    bounds = zip(counted.batch[keep], counted.start[keep], counted.end[keep], strict=True)
    names = [counted.joined[k][a:b] for k, a, b in bounds]
    if analyzer == "word":  # the tokens, without what stands between them
        names = [" ".join(_TOKEN.findall(text)) for text in names]
    return np.array(names, dtype=str)


@dataclass(frozen=True)
class FittedVocabulary:
    """What fitting a TF-IDF vocabulary learns: the kept n-grams' hashes (in bucket order,
    see :class:`NgramVocabulary`), their IDF and their names."""

    hashes: np.ndarray
    idf: np.ndarray
    terms: np.ndarray


def fit_vocabulary(
    texts: list[str],
    analyzer: str,
    ngram_range: tuple[int, int],
    min_df: int = 1,
    max_features: int | None = None,
) -> FittedVocabulary:
    """The n-grams found in at least ``min_df`` texts, at most ``max_features`` of them (the
    most frequent), with their smoothed IDF, ``log((1 + n) / (1 + df)) + 1``."""
    if analyzer not in ANALYZERS:
        raise ValueError(f"analyzer must be one of {ANALYZERS}, not {analyzer!r}")
    n_min, n_max = ngram_range
    if not 1 <= n_min <= n_max:
        raise ValueError(f"ngram_range must be 1 <= min <= max, not {ngram_range}")
    counted = ngram_frequencies(texts, analyzer, ngram_range)
    documents = counted.documents
    keep = np.flatnonzero(documents >= min_df)
    if max_features is not None and len(keep) > max_features:
        order = np.argsort(-counted.occurrences[keep], kind="stable")[:max_features]
        keep = keep[order]
    if len(keep) == 0:
        raise ValueError("no n-grams left: the texts are empty or min_df is too high")
    keep = keep[np.argsort(_bucket(counted.hashes[keep]), kind="stable")]
    idf = (np.log((1 + len(texts)) / (1 + documents[keep])) + 1).astype(np.float32)
    return FittedVocabulary(counted.hashes[keep], idf, ngram_names(counted, keep, analyzer))


# --------------------------------------------------------------------------- transforming


@dataclass(frozen=True)
class SparseRows:
    """A sparse matrix in compressed-row form (scipy's CSR, without scipy): row ``i``'s
    values are ``data[indptr[i]:indptr[i + 1]]``, in the columns ``indices[...]`` of the same
    range, ascending within a row."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_columns: int

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def row_of_value(self) -> np.ndarray:
        """The row of each stored value."""
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    def rows(self, part: slice) -> SparseRows:
        """The rows ``part`` (a slice of consecutive rows, step 1)."""
        start, stop, _ = part.indices(len(self))
        stop = max(start, stop)
        a, b = self.indptr[start], self.indptr[stop]
        indptr = self.indptr[start : stop + 1] - a
        return SparseRows(indptr, self.indices[a:b], self.data[a:b], self.n_columns)

    @staticmethod
    def stacked(parts: list[SparseRows], n_columns: int, dtype=np.float32) -> SparseRows:
        """The rows of ``parts``, one after the other."""
        if not parts:
            empty = np.zeros(0, dtype=np.int32)
            return SparseRows(np.zeros(1, np.int32), empty, np.zeros(0, dtype), n_columns)
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0] + [int(p.indptr[-1]) for p in parts[:-1]])
        indptr = np.concatenate(
            [parts[0].indptr[:1]] + [p.indptr[1:] + o for p, o in zip(parts, offsets, strict=True)]
        )
        return SparseRows(
            _index_array(indptr),
            np.concatenate([p.indices for p in parts]),
            np.concatenate([p.data for p in parts]),
            n_columns,
        )


def _index_array(values: np.ndarray) -> np.ndarray:
    """Indices as scipy stores them: 32-bit where they fit."""
    fits = len(values) == 0 or int(values.max()) < np.iinfo(np.int32).max
    return values.astype(np.int32 if fits else np.int64, copy=False)


def l2_normalised_rows(rows: SparseRows) -> SparseRows:
    """Each row divided by its Euclidean length (empty rows stay empty), computed as
    scikit-learn's ``normalize`` does for float32 rows, to the bit: squares in float32,
    summed one after the other in float64, each value divided in float64 and rounded."""
    data = rows.data
    squares = (data * data).astype(np.float64)
    norms = np.sqrt(np.bincount(rows.row_of_value, weights=squares, minlength=len(rows)))
    divisor = norms[rows.row_of_value]
    quotient = np.divide(
        data.astype(np.float64), divisor, out=data.astype(np.float64), where=divisor != 0.0
    )
    return SparseRows(rows.indptr, rows.indices, quotient.astype(data.dtype), rows.n_columns)


class NgramVocabulary:
    """A fitted TF-IDF vocabulary that turns texts into rows of TF-IDF values (see the module
    docstring): sublinear term frequency, smoothed IDF and L2-normalised rows, as
    ``TfidfVectorizer(sublinear_tf=True)`` with the vocabulary it was fitted with.

    ``hashes`` are the kept n-grams' hashes, sorted by bucket: a binary search per n-gram
    is slow, so the vocabulary is indexed by the top bits of a mixed hash, and most buckets
    hold at most one term."""

    def __init__(
        self, analyzer: str, ngram_range: tuple[int, int], hashes: np.ndarray, idf: np.ndarray
    ) -> None:
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.hashes = hashes
        self.idf = idf
        counts = np.bincount(_bucket(hashes), minlength=_BUCKETS)
        self.bucket_starts = np.concatenate([[0], np.cumsum(counts)])

    def __len__(self) -> int:
        return len(self.hashes)

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary column of each hash, and whether it is in the vocabulary at all
        (each round looks only at n-grams whose bucket holds more terms)."""
        buckets = _bucket(hashes)
        where = self.bucket_starts[buckets]
        stop = self.bucket_starts[buckets + 1]
        hit = np.zeros(len(hashes), dtype=bool)
        open_ = np.flatnonzero(where < stop)
        while len(open_):
            found = self.hashes[where[open_]] == hashes[open_]
            hit[open_[found]] = True
            open_ = open_[~found]
            where[open_] += 1
            open_ = open_[where[open_] < stop[open_]]
        return np.minimum(where, len(self.hashes) - 1), hit

    def transform(self, texts: list[str]) -> SparseRows:
        """The TF-IDF rows of ``texts`` (batch by batch: the memory of the hash arrays is
        bounded whatever the number of texts)."""
        parts = [self._transform_batch(batch) for _, batch in _batches(texts)]
        return SparseRows.stacked(parts, len(self))

    def _transform_batch(self, texts: list[str]) -> SparseRows:
        found = analyse(texts, self.analyzer, self.ngram_range)
        where, hit = self.lookup(found.hashes)
        # Each (text, column) pair once, in row-then-column order, with its count.
        keys = found.rows[hit].astype(np.int64) * len(self) + where[hit]
        pairs, counts = np.unique(keys, return_counts=True)
        rows, columns = np.divmod(pairs, len(self))
        indptr = np.searchsorted(rows, np.arange(len(texts) + 1))
        tf = np.log(counts.astype(np.float32)) + 1
        rows_tfidf = SparseRows(
            _index_array(indptr), _index_array(columns), tf * self.idf[columns], len(self)
        )
        return l2_normalised_rows(rows_tfidf)


def as_texts(X) -> list[str]:
    """A batch of texts as a list of strings (None as an empty text)."""
    if isinstance(X, str):
        raise ValueError("expected an iterable of texts, not one string")
    return ["" if text is None else str(text) for text in X]
