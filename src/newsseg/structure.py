"""Page-structure cues: where a page's article starts and ends, and the rhythm of the runs
of lines around it.

The booster decides paragraph by paragraph; most of its errors are whole blocks at the
article's edges (a rail of title-and-lead teasers after the body, the body's last lines
after a notice inside it). These cues give each paragraph its place in the page's
structure:

- **the article span**: the run of lines with the most body evidence of the text model
  (the maximum-sum segment of its clipped body log-odds), and each line's place against it:
  inside, how far before or after, whether a notice or teasers stand between it and the
  span, and whether body-like lines follow a notice (a notice inside the article);
- **rhythm**: short lines without a full stop alternating with long ones (a title, then
  its lead: teaser rails), in a window around each line;
- **the page's own scale** (relative cues): each label's text-model log-odds against the
  page's median, the page's median body log-odds and each line's body rank in its page. A
  page whose language or style the text model knows badly is shifted as a whole (a whole
  article body scored teaser-like); its lines still stand apart from each other;
- **series** cues: whether a line starts with the same word shapes as the headline (digits
  read as 0: "Opening Bell 10.29.19" and "Opening Bell 10.30.19"), and how many lines of
  the page start alike: a rail of the same column's other issues.

Every cue is computed per document over all documents of a batch at once, from rows of the
same document only, so a paragraph's cues do not depend on the batch it is labeled in.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from newsseg.features import Documents

LOGIT_CLIP = 4.0
"""Body log-odds are clipped to +-this before the span is found: no single line decides."""
NEAR_LINES = 3
"""How many lines after (before) a line the forward (backward) body means look at."""
RHYTHM_WINDOW = 7
"""Lines in the centred window of the rhythm cues."""
SHORT_WORDS = 15
"""A line of at most this many words without a full stop is title-like."""

SPAN_CUES = (
    "in_span",
    "before_span",
    "after_span",
    "log_span_distance",
    "span_share",
    "legal_between_span",
    "teaser_between_span",
    "body_next_lines",
    "body_previous_lines",
    "span_score_share",
)
RHYTHM_CUES = ("title_like", "pair_head", "pair_tail", "window_alternation", "window_title_like")
SERIES_CUES = (
    "two_words_as_headline",
    "log_two_words_shared",
    "first_word_as_headline",
    "log_first_word_shared",
)
PROBA_CLIP = 1e-6
"""Probabilities are clipped to [this, 1 - this] before they become log-odds."""


def relative_cue_names(classes: list[str]) -> list[str]:
    """The names of :func:`relative_cues`' columns for a label set."""
    names = []
    for label in classes:
        names.append(f"{label}_vs_page")
        if label == "body":
            names += ["page_body_log_odds", "body_rank_in_page"]
    return names


def article_spans(score: np.ndarray, documents: Documents) -> tuple[np.ndarray, np.ndarray]:
    """Each document's maximum-sum segment of ``score``: its first and last row (absolute),
    one pair per document; ties go to the earliest end, then the earliest start. A
    document whose scores are all negative gets its best line."""
    runs = documents.runs
    inclusive = documents.cumsum(score)
    exclusive = inclusive - score
    lowest = pd.Series(exclusive).groupby(runs).cummin().to_numpy()
    gain = inclusive - lowest  # the best segment ending at each row
    last = pd.Series(gain).groupby(runs).idxmax().to_numpy()
    rows = np.arange(len(score))
    starts = (rows <= last[runs]) & (exclusive == lowest[last][runs])
    first = np.minimum.reduceat(np.where(starts, rows, len(score)), documents.first_row)
    return first, last


def span_cues(proba: np.ndarray, documents: Documents, classes: list[str]) -> np.ndarray:
    """The :data:`SPAN_CUES` of each row from the text model's probabilities (columns in
    ``classes``; the cues of a label set without ``body`` are zeros)."""
    n = len(proba)
    if "body" not in classes or n == 0:
        return np.zeros((n, len(SPAN_CUES)))
    body = proba[:, classes.index("body")]
    odds = np.log(np.clip(body, 1e-6, 1 - 1e-6) / np.clip(1 - body, 1e-6, 1))
    score = np.clip(odds, -LOGIT_CLIP, LOGIT_CLIP)
    first, last = article_spans(score, documents)
    row_first, row_last = first[documents.runs], last[documents.runs]
    rows = np.arange(n)
    size = np.maximum(documents.document_size, 1)
    before = np.maximum(row_first - rows, 0)
    after = np.maximum(rows - row_last, 0)
    positive = documents.total(np.maximum(score, 0))
    span_positive = _segment_sums(np.maximum(score, 0), row_first, row_last)
    columns = [
        ((before == 0) & (after == 0)).astype(float),
        before / size,
        after / size,
        np.log1p(np.maximum(before, after)),
        (row_last - row_first + 1) / size,
        _between_max(_column(proba, classes, "legal"), documents, row_first, row_last),
        _between_max(_column(proba, classes, "teaser"), documents, row_first, row_last),
        _near_mean(body, documents, forward=True),
        _near_mean(body, documents, forward=False),
        np.divide(span_positive, positive, out=np.zeros(n), where=positive > 0),
    ]
    return np.column_stack(columns)


def _column(proba: np.ndarray, classes: list[str], label: str) -> np.ndarray:
    return proba[:, classes.index(label)] if label in classes else np.zeros(len(proba))


def _segment_sums(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Each row's sum of ``values`` over rows ``first..last`` (absolute, same document)."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    return total[last + 1] - total[first]


def _between_max(
    values: np.ndarray, documents: Documents, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """For a row after the span, the largest value strictly between the span's end and it;
    before the span, between it and the span's start; inside, 0. (Running maxima within the
    document, so only the document's rows count.)"""
    n = len(values)
    out = np.zeros(n)
    rows = np.arange(n)
    after = rows > last
    before = rows < first
    # After the span: running max from the span's end, reset at each document's span end.
    forward = np.where(rows > last, values, -np.inf)
    forward_max = _grouped_running_max(forward, documents.runs)
    out[after] = np.where(rows[after] - 1 > last[after], np.roll(forward_max, 1)[after], 0.0).clip(
        min=0.0
    )
    backward = np.where(rows < first, values, -np.inf)[::-1]
    backward_max = _grouped_running_max(backward, documents.runs[::-1])[::-1]
    out[before] = np.where(
        rows[before] + 1 < first[before], np.roll(backward_max, -1)[before], 0.0
    ).clip(min=0.0)
    return out


def _grouped_running_max(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` within each group (rows of a group consecutive)."""
    return pd.Series(values).groupby(groups, sort=False).cummax().to_numpy(float)


def _near_mean(values: np.ndarray, documents: Documents, forward: bool) -> np.ndarray:
    """Mean of ``values`` over the next (or previous) :data:`NEAR_LINES` rows of the same
    document; 0 where there are none."""
    total, count = np.zeros(len(values)), np.zeros(len(values))
    last = documents.document_size - 1
    for step in range(1, NEAR_LINES + 1):
        offset = step if forward else -step
        inside = (documents.position + offset >= 0) & (documents.position + offset <= last)
        total += np.where(inside, np.roll(values, -offset), 0.0)
        count += inside
    return np.divide(total, count, out=np.zeros(len(values)), where=count > 0)


def rhythm_cues(log_words: np.ndarray, ends_with_stop: np.ndarray, documents: Documents):
    """The :data:`RHYTHM_CUES` of each row: whether it is title-like (short, no full stop),
    opens or closes a title-then-long-line pair, and in a window around it how often
    neighbouring lines switch between title-like and not, and how many are title-like."""
    title_like = ((np.expm1(log_words) <= SHORT_WORDS) & (ends_with_stop < 0.5)).astype(float)
    has_next = documents.position < documents.document_size - 1
    has_previous = documents.position > 0
    following = np.where(has_next, np.roll(title_like, -1), 1.0)
    previous = np.where(has_previous, np.roll(title_like, 1), 0.0)
    switch = np.where(has_next, np.abs(title_like - following), 0.0)
    return np.column_stack(
        [
            title_like,
            title_like * (1.0 - following),
            previous * (1.0 - title_like),
            documents.window_mean(switch, RHYTHM_WINDOW),
            documents.window_mean(title_like, RHYTHM_WINDOW),
        ]
    )


def _log_odds(proba: np.ndarray) -> np.ndarray:
    clipped = np.clip(proba, PROBA_CLIP, 1 - PROBA_CLIP)
    return np.log(clipped / (1 - clipped))


def relative_cues(proba: np.ndarray, documents: Documents, classes: list[str]) -> np.ndarray:
    """Each label's log-odds minus its median over the page's lines after the first (the
    headline), and for ``body`` also that median and the line's body rank in its page
    (0-1, ties averaged); columns named by :func:`relative_cue_names`."""
    columns = []
    after_first = documents.position > 0
    for index, label in enumerate(classes):
        odds = _log_odds(proba[:, index])
        median = (
            pd.Series(np.where(after_first, odds, np.nan))
            .groupby(documents.runs)
            .transform("median")
            .to_numpy(float)
        )
        median = np.nan_to_num(median, nan=0.0)  # a one-line page
        columns.append(odds - median)
        if label == "body":
            rank = pd.Series(odds).groupby(documents.runs).rank(pct=True).to_numpy(float)
            columns += [median, rank]
    if not columns or len(proba) == 0:
        return np.zeros((len(proba), len(relative_cue_names(classes))))
    return np.column_stack(columns)


_LEADING_WORDS = re.compile(r"\W*(\w+)(?:\W+(\w+))?")
_DIGIT = re.compile(r"\d")


def leading_shapes(texts) -> tuple[np.ndarray, np.ndarray]:
    """Each text's first word and first two words, lower-cased with every digit as 0
    ("" where the text has fewer words)."""
    first, two = [], []
    for text in texts:
        found = _LEADING_WORDS.match(str(text).lower())
        if found is None:
            first.append("")
            two.append("")
            continue
        word = _DIGIT.sub("0", found.group(1))
        first.append(word)
        second = found.group(2)
        two.append(f"{word} {_DIGIT.sub('0', second)}" if second is not None else "")
    return np.array(first, dtype=object), np.array(two, dtype=object)


def series_cues(texts, documents: Documents) -> np.ndarray:
    """The :data:`SERIES_CUES` of each row: whether its first two word shapes (then its
    first one) equal its page's headline's, and the log of how many other lines of the
    page share them."""
    n = len(documents.runs)
    if n == 0:
        return np.zeros((0, len(SERIES_CUES)))
    columns = []
    for shapes in reversed(leading_shapes(texts)):  # two words, then one
        valid = shapes != ""
        keys = pd.DataFrame({"page": documents.runs, "shape": shapes})
        shared = keys.groupby(["page", "shape"], sort=False)["page"].transform("size")
        others = shared.to_numpy(float) - 1
        as_headline = valid & (shapes == shapes[documents.start]) & (documents.position > 0)
        columns += [as_headline.astype(float), np.where(valid, np.log1p(others), 0.0)]
    return np.column_stack(columns)
