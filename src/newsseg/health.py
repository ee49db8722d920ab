"""Checks of a freshly trained model: did training go well?

Cross-validation trains one model per fold, so it cannot see a final model that went wrong
(a booster whose leaf values exploded labels a © line as body, yet CV looked fine). These
checks look at the final model itself: its booster's leaf values and scores, its labels of
its own training documents, and the scores of its calibration holdout (a booster of the same
settings trained without a fifth of the sites, scored on them). Each failed check is one
warning in plain words; :func:`training_health` returns them with the measurements.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from newsseg.evaluate import score
from newsseg.model import ParagraphLabeler


class TrainingHealthWarning(UserWarning):
    """A trained model failed a health check (see :func:`training_health`)."""


LEAF_LIMIT = 50.0
"""Largest healthy absolute leaf value of the booster. A healthy model's trees stay near 15
on the corpus (learning rate included); a diverging one reached 126, then 3.9e3 and 1e6."""
TRAINING_MARGIN = 0.05
"""The model's macro-F1 on its own training documents may fall at most this far below its
cross-validated macro-F1 (a model fits what it has seen at least as well as what it has not)."""
HOLDOUT_MARGIN = 0.10
"""The calibration holdout's macro-F1 may fall at most this far below the cross-validated one
(both are scores on sites the booster did not see; folds differ, so the margin is wider)."""
MIN_DOCUMENTS = 10
MIN_SITES = 3
"""Fewer training documents or sites than this cannot teach where a page's article starts,
ends and what its boilerplate looks like: the labels will be poor."""
CHECK_ROWS = 20_000
"""At most about this many training paragraphs (whole documents, drawn evenly) are labeled
again for the training-data check."""


def training_health(model: ParagraphLabeler, frame: pd.DataFrame, cv: dict | None = None) -> dict:
    """Check a model fitted on ``frame`` (with ``cv``, its cross-validation, when run):
    returns ``{"ok", "warnings", "measured"}``, plain data for the model's metadata."""
    warnings: list[str] = []
    measured: dict = {}
    documents = int(frame["doc_id"].nunique())
    sites = int(frame["site"].nunique()) if "site" in frame.columns else documents
    if documents < MIN_DOCUMENTS or sites < MIN_SITES:
        warnings.append(
            f"trained on only {documents} document(s) of {sites} site(s): a model needs at "
            f"least {MIN_DOCUMENTS} documents of {MIN_SITES} sites to learn where an article "
            "starts and ends; expect poor labels"
        )
    leaf = model.booster_leaf_max()
    measured["booster_leaf_max"] = leaf
    measured["booster_iterations"] = int(model.boost_iterations_)
    if not np.isfinite(leaf) or leaf > LEAF_LIMIT:
        warnings.append(
            f"the booster diverged: its largest leaf value is {leaf:.3g} (healthy models stay "
            f"below {LEAF_LIMIT:g}); its labels cannot be trusted"
        )
    sample = _document_sample(frame, CHECK_ROWS)
    predicted, proba = model.predict_with_proba(sample[["doc_id", "text"]])
    if not np.isfinite(proba).all():
        warnings.append("the model's probabilities of its own training data are not finite")
    training = score(sample, predicted, labels=list(model.classes_))
    measured["training_macro_f1"] = training["macro_f1"]
    present, predicted_labels = set(sample["label"]), set(predicted)
    never = [str(label) for label in model.classes_ if label in present - predicted_labels]
    if never:
        warnings.append(
            f"the model never predicts {', '.join(never)} on its own training documents"
        )
    holdout = getattr(model, "holdout_scores_", None)
    if holdout:
        measured["holdout_macro_f1"] = holdout["macro_f1"]
    if cv:
        expected = cv["pooled"]["macro_f1"]
        measured["cv_macro_f1"] = expected
        if training["macro_f1"] < expected - TRAINING_MARGIN:
            warnings.append(
                f"the model scores macro-F1 {training['macro_f1']:.3f} on its own training "
                f"documents, far below its cross-validated {expected:.3f}: training went wrong"
            )
        if holdout and holdout["macro_f1"] < expected - HOLDOUT_MARGIN:
            warnings.append(
                f"the calibration holdout scores macro-F1 {holdout['macro_f1']:.3f}, far below "
                f"the cross-validated {expected:.3f}"
            )
    return {"ok": not warnings, "warnings": warnings, "measured": measured}


def _document_sample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Whole documents of ``frame``, every k-th one, about ``rows`` paragraphs in all."""
    doc_ids = frame["doc_id"].drop_duplicates().to_numpy()
    step = max(1, int(np.ceil(len(frame) / rows)))
    chosen = set(doc_ids[::step])
    return frame[frame["doc_id"].isin(chosen)].reset_index(drop=True)
