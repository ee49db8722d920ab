"""Quality gate: fail when scores fall below the floors of the baseline, by more than its noise
margin; raise the floors when scores improve, and never lower one silently.

    python benchmarks/quality_gate.py check SCORES.json [--case NAME] [--corpus DIR]
    python benchmarks/quality_gate.py update SCORES.json [--case NAME] [--allow-lower]

SCORES.json is what ``newsseg evaluate --json`` or ``newsseg cv --json`` writes, or a model's
``MODEL.meta.json`` (its recorded cross-validation, ``cv``). The floors are in
benchmarks/quality_baseline.json (``--baseline FILE`` for another), one set a case: what was
measured, on which data. A metric is named by its path in the scores file: ``macro_f1``,
``body_f1``, ``labels.teaser.f1`` (evaluate), ``pooled.macro_f1``, ``per_fold.body_f1.mean``,
``tiers.reviewed.labels.legal.f1`` (cv, each label tier apart).

The floors hold for one corpus: the baseline records its SHA-256 (the training-data hash of
:func:`newsseg.model_file.data_hash` over the corpus as newsseg reads it), and scores measured
on other data are refused, by ``check`` and ``update`` alike: write a new baseline for a new
corpus (``update --baseline NEW.json``). A case scored from a model's metadata is measured on
that model's training data, whose hash the metadata holds. The baseline also records the hash
of the model file the floors were last set with (``--model``), so a reader knows what they
describe; another model is gated against them all the same (that is what a gate is for).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from newsseg.errors import NewssegError

ROOT = Path(__file__).resolve().parents[1]
BASELINE_PATH = ROOT / "benchmarks" / "quality_baseline.json"
DEFAULT_CASE = "corpus-cv"
"""A ``newsseg cv`` (or ``train --cv 5``) of the default settings on the whole corpus."""
NOISE_MARGIN = 0.01
"""How far below its floor a score may fall before the gate fails: the spread a change of
random seed makes (README: macro-F1 0.900 to 0.910 over seeds)."""
DIGITS = 4
"""Floors are stored rounded down to this many decimals."""


class GateError(Exception):
    """The gate failed, or refused its input; ``str(error)`` says why, a line a problem."""


@dataclass
class Case:
    """The floors of one kind of measurement."""

    floors: dict[str, float]
    noise_margin: float | None = None
    """None: the baseline's."""
    corpus_sha256: str | None = None
    """The data this case is measured on, when it is not the baseline's corpus."""
    model_sha256: str | None = None
    """The model file the floors were last set with."""
    note: str = ""

    def as_json(self) -> dict:
        data: dict[str, Any] = {"floors": dict(sorted(self.floors.items()))}
        for name in ("noise_margin", "corpus_sha256", "model_sha256"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class Baseline:
    """Floors for the scores measured on one corpus."""

    corpus_sha256: str
    noise_margin: float = NOISE_MARGIN
    cases: dict[str, Case] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "corpus_sha256": self.corpus_sha256,
            "noise_margin": self.noise_margin,
            "cases": {name: case.as_json() for name, case in sorted(self.cases.items())},
        }


def load_baseline(path: str | Path = BASELINE_PATH) -> Baseline:
    """The baseline stored at ``path``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    cases = {name: Case(**fields) for name, fields in data["cases"].items()}
    return Baseline(data["corpus_sha256"], data.get("noise_margin", NOISE_MARGIN), cases)


def save_baseline(baseline: Baseline, path: str | Path = BASELINE_PATH) -> None:
    """Write ``baseline`` to ``path`` whole: to a temporary file beside it, then moved."""
    target = Path(path)
    text = json.dumps(baseline.as_json(), indent=2) + "\n"
    handle, staged = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(staged, target)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- scores


def metrics(scores: dict) -> dict[str, float]:
    """Every gated metric of ``scores`` (an evaluation or a cross-validation), by its path."""
    if "pooled" not in scores:
        return _score_metrics(scores, "")
    found = _score_metrics(scores["pooled"], "pooled.")
    for name, spread in scores.get("per_fold", {}).items():
        if name.endswith("_f1"):  # macro_f1, body_f1 and each label's F1 (not accuracy)
            found[f"per_fold.{name}.mean"] = spread["mean"]
    for tier, tier_scores in scores.get("tiers", {}).items():
        found.update(_score_metrics(tier_scores, f"tiers.{tier}."))
    return found


def _score_metrics(scores: dict, prefix: str) -> dict[str, float]:
    found = {f"{prefix}{name}": scores[name] for name in ("macro_f1", "body_f1") if name in scores}
    for label, row in scores.get("labels", {}).items():
        found[f"{prefix}labels.{label}.f1"] = row["f1"]
    return found


def read_scores(path: str | Path) -> tuple[dict, str | None]:
    """The scores in ``path`` and, for a model's metadata, the hash of its training data."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if "training_data" in data and "cv" in data:  # MODEL.meta.json
        if not data["cv"]:
            raise GateError(f"{path}: the model was trained without --cv; it holds no scores")
        return data["cv"], data["training_data"].get("sha256")
    return data, None


@cache
def corpus_sha256(corpus: Path) -> str:
    """The SHA-256 of a labeled corpus as newsseg reads it (the training-data hash)."""
    from newsseg.dataset import read_documents
    from newsseg.model_file import data_hash

    return data_hash(read_documents([corpus], labeled=True))


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (a model file's)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the gate


def _same_data(baseline: Baseline, case_name: str, data_sha256: str) -> None:
    case = baseline.cases.get(case_name)
    expected = (case.corpus_sha256 if case else None) or baseline.corpus_sha256
    if data_sha256 != expected:
        raise GateError(
            f"case {case_name!r}: the floors were measured on data with SHA-256 "
            f"{expected[:12]}..., these scores on data with SHA-256 {data_sha256[:12]}...: "
            "they cannot be compared; write a baseline for that corpus "
            "(update SCORES.json --baseline NEW.json)"
        )


def check(
    scores: dict,
    case: str = DEFAULT_CASE,
    *,
    data_sha256: str,
    baseline: Baseline | str | Path = BASELINE_PATH,
) -> list[str]:
    """Check ``scores`` (measured on data of SHA-256 ``data_sha256``) against the floors of
    ``case``: a :class:`GateError` names each metric below its floor minus the noise margin,
    and each the scores lack; else the lines that say what passed."""
    if not isinstance(baseline, Baseline):
        baseline = load_baseline(baseline)
    if case not in baseline.cases:
        raise GateError(f"no case {case!r} in the baseline (it has {', '.join(baseline.cases)})")
    _same_data(baseline, case, data_sha256)
    floors = baseline.cases[case]
    margin = baseline.noise_margin if floors.noise_margin is None else floors.noise_margin
    found = metrics(scores)
    lines, failures = [], []
    for name, floor in sorted(floors.floors.items()):
        if name not in found:
            failures.append(f"{name}: missing from the scores (floor {floor:.4f})")
        elif found[name] < floor - margin:
            failures.append(
                f"{name}: {found[name]:.4f} is below its floor {floor:.4f} - {margin} margin"
            )
        else:
            lines.append(f"{name}: {found[name]:.4f} (floor {floor:.4f})")
    if failures:
        raise GateError(f"case {case!r} fails the quality gate:\n" + "\n".join(failures))
    return lines


def update(
    scores: dict,
    case: str = DEFAULT_CASE,
    *,
    data_sha256: str,
    baseline_path: str | Path = BASELINE_PATH,
    allow_lower: bool = False,
    model_sha256: str | None = None,
) -> list[str]:
    """Set the floors of ``case`` to ``scores`` (rounded down) and save the baseline: floors
    rise freely; one that would fall is refused (a :class:`GateError` naming each) unless
    ``allow_lower``. A new case takes a floor for every metric of the scores, an existing one
    keeps its metrics. A missing baseline file is started for ``data_sha256``. Returns a line
    for each floor that moved."""
    path = Path(baseline_path)
    baseline = load_baseline(path) if path.is_file() else Baseline(data_sha256)
    _same_data(baseline, case, data_sha256)
    found = metrics(scores)
    entry = baseline.cases.get(case) or Case(floors=dict.fromkeys(found, 0.0))
    if missing := sorted(set(entry.floors) - set(found)):
        raise GateError(f"case {case!r}: the scores lack {', '.join(missing)}")
    new = {name: math.floor(found[name] * 10**DIGITS) / 10**DIGITS for name in entry.floors}
    lowered = [name for name, floor in new.items() if floor < entry.floors[name]]
    if lowered and not allow_lower:
        raise GateError(
            f"case {case!r}: refusing to lower "
            + ", ".join(f"{name} ({entry.floors[name]:.4f} -> {new[name]:.4f})" for name in lowered)
            + "; pass --allow-lower (allow_lower=True) if that is meant"
        )
    lines = [
        f"{'lowered' if floor < entry.floors[name] else 'raised'} {name}: "
        f"{entry.floors[name]:.4f} -> {floor:.4f}"
        for name, floor in sorted(new.items())
        if floor != entry.floors[name]
    ]
    entry.floors = new
    if model_sha256 is not None:
        entry.model_sha256 = model_sha256
    baseline.cases[case] = entry
    save_baseline(baseline, path)
    return lines


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("check", "update"))
    parser.add_argument("scores", type=Path, help="scores JSON (evaluate, cv or MODEL.meta.json)")
    parser.add_argument("--case", default=DEFAULT_CASE)
    parser.add_argument("--baseline", type=Path, default=BASELINE_PATH)
    parser.add_argument("--corpus", type=Path, help="the corpus scored (default: newsseg's)")
    parser.add_argument("--model", type=Path, help="the model file scored (recorded by update)")
    parser.add_argument("--allow-lower", action="store_true", help="update may lower floors")
    args = parser.parse_args(argv)
    try:
        scores, data_sha256 = read_scores(args.scores)
        if data_sha256 is None:
            from newsseg.config import corpus_path

            data_sha256 = corpus_sha256(corpus_path(args.corpus))
        model_sha256 = file_sha256(args.model) if args.model else None
        if args.action == "check":
            lines = check(scores, args.case, data_sha256=data_sha256, baseline=args.baseline)
            known = load_baseline(args.baseline).cases[args.case].model_sha256
            if model_sha256 and known and model_sha256 != known:
                lines.append(f"(floors set with model {known[:12]}..., checked {args.model})")
            lines.append(f"case {args.case!r} passes the quality gate")
        else:
            lines = update(
                scores,
                args.case,
                data_sha256=data_sha256,
                baseline_path=args.baseline,
                allow_lower=args.allow_lower,
                model_sha256=model_sha256,
            ) or [f"case {args.case!r}: no floor moved"]
    except (GateError, NewssegError) as error:
        print(f"quality_gate: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
