import pickle
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from newsseg import ngrams
from newsseg.feature_steps import NgramTfidf
from newsseg.ngrams import char_ngrams, word_ngrams


def reference_char_ngrams(text: str, n_min: int, n_max: int) -> list[str]:
    """char_wb n-grams the slow way: each word padded by spaces, every n-gram inside it."""
    out = []
    for word in text.lower().split():
        padded = f" {word} "
        for n in range(n_min, n_max + 1):
            out += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return out


def reference_word_ngrams(text: str, n_min: int, n_max: int) -> list[str]:
    tokens = re.findall(r"\w\w+", text.lower())
    return [
        " ".join(tokens[i : i + n])
        for n in range(n_min, n_max + 1)
        for i in range(len(tokens) - n + 1)
    ]


def spans_by_row(found, n_rows: int, words: bool) -> list[Counter]:
    rows = [Counter() for _ in range(n_rows)]
    for start, end, row in zip(found.starts, found.ends, found.rows, strict=True):
        text = found.joined[start:end]
        rows[row][" ".join(re.findall(r"\w\w+", text)) if words else text] += 1
    return rows


texts_strategy = st.lists(
    st.text(alphabet=st.sampled_from("ab cé_Z.\t,1\x00😀"), max_size=30), min_size=1, max_size=6
)


@settings(max_examples=200, deadline=None)
@given(texts_strategy)
def test_char_ngrams_are_those_of_the_padded_words(texts):
    found = char_ngrams(texts, 2, 4, spans=True)
    expected = [Counter(reference_char_ngrams(t.replace("\x00", " "), 2, 4)) for t in texts]
    assert spans_by_row(found, len(texts), words=False) == expected
    # Equal n-grams hash equal; different ones (almost surely) apart.
    names = [found.joined[a:b] for a, b in zip(found.starts, found.ends, strict=True)]
    by_hash = {}
    for name, value in zip(names, found.hashes.tolist(), strict=True):
        assert by_hash.setdefault(value, name) == name


@settings(max_examples=200, deadline=None)
@given(texts_strategy)
def test_word_ngrams_are_runs_of_two_or_more_word_characters(texts):
    found = word_ngrams(texts, 1, 2, spans=True)
    expected = [Counter(reference_word_ngrams(t, 1, 2)) for t in texts]
    assert spans_by_row(found, len(texts), words=True) == expected


def test_word_tfidf_matches_scikit_learn_on_plain_words():
    texts = ["the cat sat on the mat", "the dog sat", "a cat and a dog", "dog dog dog cat"]
    ours = NgramTfidf("word", (1, 2)).fit(texts)
    theirs = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    order = [theirs.vocabulary_[name] for name in ours.get_feature_names_out()]
    assert sorted(order) == list(range(len(theirs.vocabulary_)))
    expected = theirs.transform(texts).toarray()[:, order]
    np.testing.assert_allclose(ours.transform(texts).toarray(), expected, rtol=1e-6)


def test_the_vocabulary_keeps_the_most_frequent_ngrams():
    texts = ["alpha beta", "alpha gamma", "alpha beta", "delta"]
    fitted = NgramTfidf("word", min_df=2, max_features=1).fit(texts)
    assert list(fitted.get_feature_names_out()) == ["alpha"]
    kept = NgramTfidf("word", min_df=2).fit(texts).get_feature_names_out()
    assert sorted(kept) == ["alpha", "beta"]


def test_frequencies_count_texts_and_occurrences_of_each_ngram():
    texts = ["news news today", "today", "news", "", "old news"]
    counted = ngrams.ngram_frequencies(texts, "word", (1, 1))
    hashes, documents, occurrences = counted.hashes, counted.documents, counted.occurrences
    found = word_ngrams(texts, 1, 1, spans=True)
    names = {
        value: found.joined[a:b]
        for value, a, b in zip(found.hashes.tolist(), found.starts, found.ends, strict=True)
    }
    counted = {
        names[value]: (int(d), int(o))
        for value, d, o in zip(hashes, documents, occurrences, strict=True)
    }
    assert counted == {"news": (3, 4), "today": (2, 2), "old": (1, 1)}
    assert list(hashes) == sorted(hashes)


def test_batches_give_the_same_matrix_as_one_batch(monkeypatch):
    texts = ["Copyright 2024 all rights reserved", "", "Read more", "Rights reserved © 2024"] * 3
    whole = NgramTfidf("char_wb", (2, 5)).fit(texts)
    expected = whole.transform(texts).toarray()
    monkeypatch.setattr(ngrams, "BATCH_TEXTS", 2)
    batched = NgramTfidf("char_wb", (2, 5)).fit(texts)
    assert list(batched.get_feature_names_out()) == list(whole.get_feature_names_out())
    np.testing.assert_array_equal(batched.transform(texts).toarray(), expected)


def test_rows_are_unit_length_and_unknown_text_is_a_zero_row():
    fitted = NgramTfidf("char_wb", (2, 3)).fit(["news of the day", "more news"])
    matrix = fitted.transform(["news", "zzzz", "", None])
    norms = np.sqrt(matrix.multiply(matrix).sum(axis=1)).A.ravel()
    np.testing.assert_allclose(norms, [1.0, 0.0, 0.0, 0.0], atol=1e-6)


def test_a_pickled_vectorizer_transforms_alike_without_its_lookup_index():
    texts = ["Breaking news today", "More news tomorrow", "News archive"]
    fitted = NgramTfidf("char_wb", (2, 4)).fit(texts)
    expected = fitted.transform(texts).toarray()
    assert "_vocabulary" not in fitted.__getstate__()
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(texts).toarray(), expected)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"analyzer": "bytes"}, "analyzer"), ({"ngram_range": (3, 2)}, "ngram_range")],
)
def test_bad_parameters_are_refused_in_fit(params, message):
    with pytest.raises(ValueError, match=message):
        NgramTfidf(**params).fit(["some text"])


def test_one_string_is_not_a_batch():
    with pytest.raises(ValueError, match="iterable of texts"):
        NgramTfidf().fit("some text")


# --------------------------------------------------------------------------- exact rewrites

UNICODE_TEXTS = [
    "",
    "İstanbul ŞEHİR",
    "café  naïve",
    "東京 ﬁnance 𝔘𝔫𝔦",
    "Σίσυφος ΟΔΟΣ",
    "a_b 12 x\x00y",
]


def reference_span_hash(codes: list[int]) -> int:
    value = 0
    for code in codes:
        value = (value * int(ngrams._MULTIPLIER) + code) % 2**64
    return value


def test_span_hashes_are_the_polynomial_of_each_span():
    codes = np.array([0, 104, 105, 0x1D518, 32, 0xFFFF, 7, 65, 0, 66], dtype=np.uint32)
    starts, ends = np.array([1, 3, 4, 9]), np.array([3, 4, 8, 10])
    found = ngrams._span_hashes(codes, starts, ends)
    expected = [reference_span_hash(codes[a:b].tolist()) for a, b in zip(starts, ends, strict=True)]
    assert found.tolist() == expected
    assert ngrams._span_hashes(codes, starts[:0], ends[:0]).tolist() == []


@pytest.mark.parametrize("texts", [[], [""], ["", " "], UNICODE_TEXTS, ["Word"] * 3])
def test_batch_words_are_the_words_of_each_lower_cased_text(texts):
    found = ngrams.batch_words(texts)
    words = [found.distinct[kind] for kind in found.kinds]
    expected = [
        (row, w) for row, text in enumerate(texts) for w in re.findall(r"\w+", text.lower())
    ]
    assert list(zip(found.rows.tolist(), words, strict=True)) == expected
    assert len(set(found.distinct)) == len(found.distinct)


@pytest.mark.parametrize("chunk", [1, 3, 4, 1 << 20])
def test_span_hashes_are_the_same_in_chunks(monkeypatch, chunk):
    monkeypatch.setattr(ngrams, "_CHUNK_CODES", chunk)
    monkeypatch.setattr(ngrams, "_power_cache", None)
    codes = np.array([0, 104, 105, 0x1D518, 32, 0xFFFF, 7, 65, 0, 66, 67, 68, 69], dtype=np.uint32)
    starts, ends = np.array([1, 3, 4, 9, 12]), np.array([3, 4, 8, 12, 13])
    found = ngrams._span_hashes(codes, starts, ends)
    expected = [reference_span_hash(codes[a:b].tolist()) for a, b in zip(starts, ends, strict=True)]
    assert found.tolist() == expected


@pytest.mark.parametrize("batch_texts", [1, 2, 8192])
@pytest.mark.parametrize(
    ("analyzer", "ngram_range", "reference"),
    [("word", (1, 2), reference_word_ngrams), ("char_wb", (2, 4), reference_char_ngrams)],
)
def test_names_come_from_the_frequency_pass(
    monkeypatch, batch_texts, analyzer, ngram_range, reference
):
    monkeypatch.setattr(ngrams, "BATCH_TEXTS", batch_texts)
    texts = ["", "All, RIGHTS reserved!", "İstanbul café", "all rights", "", "Café İstanbul 東京"]
    fitted = NgramTfidf(analyzer, ngram_range, min_df=2).fit(texts)
    documents = Counter(g for text in texts for g in set(reference(text, *ngram_range)))
    assert sorted(fitted.get_feature_names_out()) == sorted(
        g for g, n in documents.items() if n >= 2
    )
    assert fitted.transform(["all rights"]).nnz > 0
