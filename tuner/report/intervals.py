"""How sure a test score is, and the verdict against the baselines that follows from it.

A test split of 114 rows cannot tell 0.9917 from 0.9911 ROC-AUC apart. :func:`paired_intervals`
resamples the test rows (with replacement, seeded) and scores every model on the same
resamples, so that each score gets a percentile interval and each difference against the
reference model gets a *paired* one; a difference whose interval contains 0 is a tie
(:func:`verdict`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tuner.ml.metrics import THRESHOLD_METRICS, compute, score_at_threshold

#: Bootstrap resamples of the test rows, the interval's coverage and the resampling seed.
RESAMPLES = 1000
LEVEL = 0.95
SEED = 0

#: The most (resamples x rows) scored for a metric that is not a mean over rows; beyond, fewer
#: resamples (at least MIN_RESAMPLES). A mean over rows is resampled in full at any size.
MAX_CELLS = 2_000_000
MIN_RESAMPLES = 200
#: Resampled row indices held at once (resamples x rows), which bounds the memory on a large
#: test split: the resamples are drawn in batches of at most this many cells.
BATCH_CELLS = 4_000_000


@dataclass(frozen=True)
class Scorer:
    """A metric of (true values, outputs); for a mean over rows, also each row's term and how the
    mean becomes the metric (``finish``), so that every resample is scored at once."""

    score: Callable[[np.ndarray, np.ndarray], float]
    rows: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    finish: Callable[[np.ndarray], np.ndarray] = np.asarray
    binary_auc: bool = False  # ROC-AUC of one probability column: ranked per resample at once


def _row_terms(
    metric: str, task: str, threshold: float | None
) -> (
    tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]] | None
):
    if metric == "accuracy":
        cut = 0.5 if threshold is None else threshold
        if task == "binary":
            return (lambda y, out: (out.reshape(-1) >= cut) == y), np.asarray
        return (lambda y, out: out.argmax(axis=1) == y), np.asarray
    if metric == "mae":
        return (lambda y, out: np.abs(y - out.reshape(-1))), np.asarray
    if metric == "rmse":
        return (lambda y, out: (y - out.reshape(-1)) ** 2), np.sqrt
    return None


def scorer(metric: str, task: str, threshold: float | None = None) -> Scorer:
    """``metric`` of (true values, outputs); a binary model's label metrics at its
    ``threshold``."""
    if task == "binary" and threshold is not None and metric in THRESHOLD_METRICS:
        score = lambda y, out: score_at_threshold(metric, y, out, threshold)  # noqa: E731
    else:
        score = lambda y, out: compute(metric, y, out, task)  # noqa: E731
    terms = _row_terms(metric, task, threshold)
    if terms is not None:
        return Scorer(score, *terms)
    return Scorer(score, binary_auc=metric == "roc_auc" and task == "binary")


def _binary_auc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of ``y`` (labels) and ``p`` (probabilities) by the rank-sum formula
    (ties share their mean rank, as in scikit-learn); NaN where one class is missing."""
    from scipy.stats import rankdata

    ranks = rankdata(p, axis=1)
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def _samples(y: np.ndarray, out: np.ndarray, score: Scorer, rows: np.ndarray) -> np.ndarray:
    """The metric on each resample (one row of ``rows`` per resample)."""
    if score.rows is not None:
        terms = np.asarray(score.rows(y, out), dtype=np.float64)
        return score.finish(terms[rows].mean(axis=1))
    if score.binary_auc:
        return _binary_auc(y[rows], out.reshape(-1)[rows])
    return np.array([score.score(y[r], out[r]) for r in rows])


@dataclass(frozen=True)
class Interval:
    """A percentile interval of a bootstrapped value."""

    low: float
    high: float

    def contains_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def to_list(self) -> list[float]:
        return [self.low, self.high]


def _interval(samples: np.ndarray, level: float) -> Interval:
    finite = samples[np.isfinite(samples)]
    if not len(finite):  # undefined on every resample (one class only)
        return Interval(float("nan"), float("nan"))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class PairedIntervals:
    """Each model's score interval, and each other model's difference from the reference
    (reference minus other) as an interval over the same resamples."""

    scores: dict[str, Interval]
    differences: dict[str, Interval]
    resamples: int
    level: float
    seed: int


def paired_intervals(
    y_true: np.ndarray,
    outputs: Mapping[str, tuple[np.ndarray, Scorer]],
    reference: str,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> PairedIntervals:
    """Bootstrap every model in ``outputs`` (name -> (test outputs, scorer)) on the same
    resamples of the test rows; differences are taken against ``reference``.

    The resampled rows are the same for every model (a paired comparison) and come from
    ``seed``, so a report's intervals do not change when it is built again.
    """
    y = np.asarray(y_true)
    if any(score.rows is None for _, score in outputs.values()):
        resamples = min(resamples, max(MIN_RESAMPLES, MAX_CELLS // max(len(y), 1)))
    rng = np.random.default_rng(seed)
    batch = max(1, BATCH_CELLS // max(len(y), 1))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    for start in range(0, resamples, batch):
        rows = rng.integers(0, len(y), size=(min(batch, resamples - start), len(y)))
        for name, (out, score) in outputs.items():
            parts[name].append(_samples(y, np.asarray(out), score, rows))
    samples = {name: np.concatenate(p) for name, p in parts.items()}
    ref = samples[reference]
    return PairedIntervals(
        scores={name: _interval(s, level) for name, s in samples.items()},
        differences={
            name: _interval(ref - s, level) for name, s in samples.items() if name != reference
        },
        resamples=resamples,
        level=level,
        seed=seed,
    )


class Scored(Protocol):
    """A model scored on the test rows (a :class:`~tuner.report.baselines.Baseline`)."""

    name: str
    value: float
    test_rows: int
    outputs: np.ndarray


# --------------------------------------------------------------------------- verdict

#: The tuned model's name among the bootstrapped ones.
MLP = "MLP"
#: Metrics between 0 and 1 (r2: at most 1): their differences read as points (x 100).
POINT_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "pr_auc", "r2")


def _gap(metric: str, difference: float) -> str:
    """A difference of ``metric`` values as words: "1.2 points" or "0.034"."""
    if metric in POINT_METRICS:
        return f"{100 * difference:.1f} points"
    return f"{difference:.3g}"


def _span(metric: str, interval: Interval) -> str:
    """An interval of differences as words: "-0.4 to +0.6 points" or "-0.012 to +0.031"."""
    if metric in POINT_METRICS:
        return f"{100 * interval.low:+.1f} to {100 * interval.high:+.1f} points"
    return f"{interval.low:+.3g} to {interval.high:+.3g}"


def _tie(metric: str, leader: str, best: Scored, lead: float, interval: Interval) -> str:
    return (
        f"the MLP and {best.name} are tied on test {metric}: {leader} lead of "
        f"{_gap(metric, lead)} is within the noise of {best.test_rows:,} test rows (paired "
        f"bootstrap interval of the MLP's difference: {_span(metric, interval)})"
    )


def verdict(
    baselines: Sequence[Scored],
    metric: str,
    direction: str,
    mlp_value: float,
    intervals: PairedIntervals | None = None,
) -> str:
    """One line comparing the MLP's test ``metric`` with the baselines' (``direction``: the
    metric's).

    With ``intervals`` (the MLP's paired differences from each baseline, by name), a lead whose
    interval contains 0 is called a tie rather than a win or a loss.
    """
    sign = 1.0 if direction == "maximize" else -1.0
    scored = [b for b in baselines if np.isfinite(b.value)]
    if not scored or not np.isfinite(mlp_value):
        return (
            f"test {metric} is undefined for the MLP or the baselines, so they cannot be compared"
        )
    best = max(scored, key=lambda b: sign * b.value)
    lead = sign * (mlp_value - best.value)
    interval = intervals.differences.get(best.name) if intervals else None
    if interval is not None and lead != 0 and interval.contains_zero():
        return _tie(
            metric, "the MLP's" if lead > 0 else f"{best.name}'s", best, abs(lead), interval
        )
    if lead > 0:
        if len(scored) == 1:
            return f"the MLP beats {best.name} by {_gap(metric, lead)} of test {metric}"
        return (
            f"the MLP beats both baselines on test {metric}, the stronger ({best.name}) by "
            f"{_gap(metric, lead)}"
        )
    if lead == 0:
        return f"the MLP and {best.name} tie on test {metric}"
    return (
        f"{best.name} is better than the MLP by {_gap(metric, -lead)} of test {metric}: consider it"
    )


def baseline_intervals(
    baselines: Sequence[Scored],
    y_test: np.ndarray,
    mlp_outputs: np.ndarray,
    metric: str,
    task: str,
    threshold: float | None,
    *,
    seed: int = SEED,
) -> PairedIntervals:
    """Bootstrap intervals of the MLP's and each baseline's test ``metric``, and of the MLP's
    difference from each baseline on the same resampled rows (a baseline labels at 0.5)."""
    outputs = {MLP: (mlp_outputs, scorer(metric, task, threshold))}
    outputs.update({b.name: (b.outputs, scorer(metric, task)) for b in baselines})
    return paired_intervals(y_test, outputs, MLP, seed=seed)


__all__ = [
    "LEVEL",
    "MLP",
    "POINT_METRICS",
    "RESAMPLES",
    "SEED",
    "Interval",
    "PairedIntervals",
    "Scorer",
    "baseline_intervals",
    "paired_intervals",
    "scorer",
    "verdict",
]
