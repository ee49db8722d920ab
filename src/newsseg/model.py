"""The paragraph labeler (a scikit-learn estimator) and its model files.

:class:`ParagraphLabeler` turns paragraph features into per-paragraph label probabilities
with a linear classifier, then decodes each document's label sequence with Viterbi over a
transition matrix learned from the training documents.

Model files are skops archives (loading runs no code carried in the file) with a metadata
entry beside the estimator: versions, label set, settings, training-data hash and scores.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from newsseg.config import (
    DEFAULT_MODEL_NAME,
    DEFAULT_MODEL_PACKAGE,
    MODEL_META_MEMBER,
)
from newsseg.dataset import PUBLIC_FILE_MODE, write_text
from newsseg.errors import ModelError, OutputError
from newsseg.features import (
    CHAR_MAX_FEATURES,
    DOC_COLUMN,
    MAX_CHARS,
    TEXT_COLUMN,
    WORD_MAX_FEATURES,
    paragraph_features,
)

SEQUENCE_MODES = ("viterbi", "none")
TRANSITION_PRIOR = 1.0
"""Add-one smoothing of label-transition counts: unseen transitions stay possible."""


def as_paragraph_frame(X: Any) -> pd.DataFrame:
    """``X`` as a frame with ``doc_id`` and ``text``: a DataFrame is taken as it is (without
    ``doc_id`` its rows are one document); a list of strings is one document."""
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


def document_slices(doc_ids: pd.Series) -> list[slice]:
    """One slice per run of consecutive rows of the same document."""
    values = pd.Series(doc_ids).to_numpy()
    if len(values) == 0:
        return []
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    ends = np.append(starts[1:], len(values))
    return [slice(int(start), int(end)) for start, end in zip(starts, ends, strict=True)]


# --------------------------------------------------------------------------- decoding


def transition_log_probs(
    label_index: Sequence[np.ndarray], n_labels: int, prior: float = TRANSITION_PRIOR
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log start, transition and end probabilities estimated from label-index sequences."""
    start = np.full(n_labels, prior)
    end = np.full(n_labels, prior)
    moves = np.full((n_labels, n_labels), prior)
    for sequence in label_index:
        if len(sequence) == 0:
            continue
        start[sequence[0]] += 1
        end[sequence[-1]] += 1
        np.add.at(moves, (sequence[:-1], sequence[1:]), 1)
    return (
        np.log(start / start.sum()),
        np.log(moves / moves.sum(axis=1, keepdims=True)),
        np.log(end / end.sum()),
    )


def viterbi(
    log_emission: np.ndarray, log_start: np.ndarray, log_moves: np.ndarray, log_end: np.ndarray
) -> np.ndarray:
    """The most probable label-index path for one document's emission scores."""
    n_steps, n_labels = log_emission.shape
    if n_steps == 0:
        return np.zeros(0, dtype=int)
    score = log_start + log_emission[0]
    back = np.zeros((n_steps, n_labels), dtype=int)
    for step in range(1, n_steps):
        candidates = score[:, None] + log_moves
        back[step] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_emission[step]
    path = np.zeros(n_steps, dtype=int)
    path[-1] = int(np.argmax(score + log_end))
    for step in range(n_steps - 1, 0, -1):
        path[step - 1] = back[step, path[step]]
    return path


# --------------------------------------------------------------------------- the estimator


class ParagraphLabeler(ClassifierMixin, BaseEstimator):
    """Labels paragraphs of news-page dumps; ``X`` is a frame with ``doc_id`` and ``text``.

    Parameters
    ----------
    C : inverse regularisation strength of the logistic regression.
    sequence : ``"viterbi"`` decodes each document's labels jointly; ``"none"`` takes each
        paragraph's most probable label.
    use_words, use_chars, use_layout : which feature groups to use.
    word_max_features, char_max_features : vocabulary caps of the TF-IDF steps.
    class_weight : passed to the logistic regression.
    """

    def __init__(
        self,
        C: float = 4.0,
        sequence: str = "viterbi",
        use_words: bool = True,
        use_chars: bool = True,
        use_layout: bool = True,
        word_max_features: int | None = WORD_MAX_FEATURES,
        char_max_features: int | None = CHAR_MAX_FEATURES,
        class_weight: str | None = "balanced",
    ) -> None:
        self.C = C
        self.sequence = sequence
        self.use_words = use_words
        self.use_chars = use_chars
        self.use_layout = use_layout
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.class_weight = class_weight

    def fit(self, X, y):
        if self.sequence not in SEQUENCE_MODES:
            raise ValueError(f"sequence must be one of {SEQUENCE_MODES}, not {self.sequence!r}")
        frame = as_paragraph_frame(X)
        labels = np.asarray(y, dtype=object)
        if len(labels) != len(frame):
            raise ValueError(f"X has {len(frame)} paragraphs but y has {len(labels)} labels")
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError("training needs at least two different labels")
        self.features_ = paragraph_features(
            word_max_features=self.word_max_features,
            char_max_features=self.char_max_features,
            use_words=self.use_words,
            use_chars=self.use_chars,
            use_layout=self.use_layout,
        )
        matrix = self.features_.fit_transform(frame)
        # Multi-threaded OpenBLAS makes scipy's L-BFGS-B several times slower on wide
        # problems (scipy issue #26137); one thread is fastest here.
        with threadpool_limits(limits=1, user_api="blas"):
            self.classifier_ = LogisticRegression(
                C=self.C, class_weight=self.class_weight, max_iter=2000
            ).fit(matrix, labels)
        index = np.searchsorted(self.classes_, labels)
        sequences = [index[part] for part in document_slices(frame[DOC_COLUMN])]
        self.log_start_, self.log_transitions_, self.log_end_ = transition_log_probs(
            sequences, len(self.classes_)
        )
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Per-paragraph label probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "classifier_")
        frame = as_paragraph_frame(X)
        if frame.empty:
            return np.zeros((0, len(self.classes_)))
        return self.classifier_.predict_proba(self.features_.transform(frame))

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "classifier_")
        frame = as_paragraph_frame(X)
        proba = self.predict_proba(frame)
        return self.classes_[self._decode(proba, frame[DOC_COLUMN])]

    def top_features(self, n: int = 15) -> dict[str, list[tuple[str, float]]]:
        """The ``n`` features with the largest weight towards each label, strongest first:
        why a label fires. Names are prefixed by their step (``words__``, ``layout__``...)."""
        check_is_fitted(self, "classifier_")
        names = self.features_.get_feature_names_out()
        coef = self.classifier_.coef_
        if coef.shape[0] == 1:  # two labels: one row, positive for the second
            coef = np.vstack([-coef[0], coef[0]])
        return {
            str(label): [(str(names[i]), float(coef[row, i])) for i in np.argsort(-coef[row])[:n]]
            for row, label in enumerate(self.classes_)
        }

    def _decode(self, proba: np.ndarray, doc_ids: pd.Series) -> np.ndarray:
        if self.sequence == "none":
            return proba.argmax(axis=1)
        log_proba = np.log(np.clip(proba, 1e-12, 1.0))
        path = np.zeros(len(proba), dtype=int)
        for part in document_slices(doc_ids):
            path[part] = viterbi(
                log_proba[part], self.log_start_, self.log_transitions_, self.log_end_
            )
        return path


# --------------------------------------------------------------------------- model files

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")

TRUSTED_TYPES = [
    "newsseg.features.CompactTfidfVectorizer",
    "newsseg.features.LayoutFeatures",
    "newsseg.model.ParagraphLabeler",
]
"""Types a newsseg model file may hold beyond those skops trusts by default."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model file depends on."""
    import joblib
    import numpy
    import scipy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "skops": skops.__version__,
    }


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def default_model_path() -> Path:
    """Where the shipped default model is installed."""
    try:
        return Path(str(resources.files(DEFAULT_MODEL_PACKAGE).joinpath(DEFAULT_MODEL_NAME)))
    except ModuleNotFoundError:
        # An editable install maps only src/; the checkout keeps the model in models/.
        return Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME


def save_model(model: ParagraphLabeler, path: str | Path, metadata: dict, force: bool = True):
    """Write ``model`` and ``metadata`` to a skops file at ``path``, atomically."""
    import skops.io as sio

    target = Path(path)
    if target.exists() and not force:
        raise OutputError(target, "exists; use --force to overwrite")
    if target.is_dir():
        raise OutputError(target, "is a folder")
    metadata = {**metadata, "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(handle)
        os.chmod(temporary, PUBLIC_FILE_MODE)
    except OSError as error:
        raise OutputError(target, f"cannot write: {error.strerror}") from None
    try:
        sio.dump(model, temporary, compression=zipfile.ZIP_DEFLATED)
        with zipfile.ZipFile(temporary, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MODEL_META_MEMBER, json.dumps(metadata, indent=2, sort_keys=True))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    write_text(metadata_path(target), json.dumps(metadata, indent=2, sort_keys=True) + "\n")


def metadata_path(model_path: str | Path) -> Path:
    """The human-readable copy of a model's metadata, beside the model file."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.meta.json")


def read_metadata(path: str | Path) -> dict:
    """The metadata stored in a newsseg model file, without loading the model."""
    source = Path(path)
    if not source.is_file():
        raise ModelError(source, "no such model file")
    if not zipfile.is_zipfile(source):
        raise ModelError(source, "not a newsseg model file (not a skops archive)")
    try:
        with zipfile.ZipFile(source) as archive:
            metadata = json.loads(archive.read(MODEL_META_MEMBER))
    except KeyError:
        raise ModelError(source, "not a newsseg model file (no newsseg metadata)") from None
    # ValueError covers bad JSON and bad UTF-8; NotImplementedError an unknown zip method.
    except (zipfile.BadZipFile, ValueError, RecursionError, NotImplementedError, OSError) as error:
        raise ModelError(source, f"corrupt model file ({error})") from None
    versions = metadata.get("versions", {}) if isinstance(metadata, dict) else None
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise ModelError(source, "corrupt model file (malformed newsseg metadata)")
    return metadata


def check_versions(path: str | Path, metadata: dict) -> None:
    """Refuse a model written by another minor version of scikit-learn."""
    saved = metadata.get("versions", {}).get("scikit-learn", "")
    current = library_versions()["scikit-learn"]
    if _minor(saved) != _minor(current):
        raise ModelError(
            path,
            f"trained with scikit-learn {saved or 'unknown'}, this is {current}; retrain it "
            f"with 'newsseg train DATA -o MODEL' or install scikit-learn=={_minor(saved)}.*",
        )


def load_model(
    path: str | Path | None = None, trust_pickle: bool = False
) -> tuple[ParagraphLabeler, dict]:
    """Load a model file (default: the shipped model) and its metadata.

    skops files are loaded with an explicit list of trusted types, so loading runs no code
    from the file. Pickle-based files (``.joblib``) run code when loaded and are refused
    unless ``trust_pickle`` is true.
    """
    source = default_model_path() if path is None else Path(path)
    if source.suffix.lower() in PICKLE_SUFFIXES:
        return _load_pickle(source, trust_pickle)
    metadata = read_metadata(source)
    check_versions(source, metadata)
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=source)
        unknown = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if unknown:
            raise ModelError(source, f"holds types newsseg does not trust: {', '.join(unknown)}")
        model = sio.load(source, trusted=TRUSTED_TYPES)
    except ModelError:
        raise
    except Exception as error:  # skops raises many kinds on a damaged archive
        raise ModelError(source, f"corrupt model file ({type(error).__name__}: {error})") from None
    if not isinstance(model, ParagraphLabeler):
        raise ModelError(source, "not a newsseg model file (holds no ParagraphLabeler)")
    return model, metadata


def _load_pickle(source: Path, trust_pickle: bool) -> tuple[ParagraphLabeler, dict]:
    if not trust_pickle:
        raise ModelError(
            source,
            "is a pickle-based file and loading it runs any code it carries; "
            "pass --trust-pickle only if you trust where it came from",
        )
    if not source.is_file():
        raise ModelError(source, "no such model file")
    import joblib

    try:
        loaded = joblib.load(source)
    except Exception as error:  # unpickling raises anything
        raise ModelError(source, f"corrupt model file ({type(error).__name__}: {error})") from None
    model, metadata = loaded if isinstance(loaded, tuple) else (loaded, {})
    if not isinstance(model, ParagraphLabeler):
        raise ModelError(source, "not a newsseg model file (holds no ParagraphLabeler)")
    return model, metadata
