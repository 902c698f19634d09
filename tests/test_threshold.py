"""The binary decision threshold, chosen on validation rows for the objective metric."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.ml.metrics import (
    THRESHOLD_METRICS,
    decision_threshold,
    score_at_threshold,
    threshold_scores,
)


@pytest.fixture
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(int)
    p = np.clip(0.35 * y + 0.65 * rng.random(400), 0, 1)
    p[:30] = 0.4  # ties
    return y, p


@pytest.mark.parametrize("metric", THRESHOLD_METRICS)
def test_every_cut_matches_scikit_learn(scores, metric: str) -> None:
    y, p = scores
    table = threshold_scores(y, p)
    for i in range(0, len(table["thresholds"]), 7):
        assert table[metric][i] == pytest.approx(
            score_at_threshold(metric, y, p, table["thresholds"][i])
        )


@pytest.mark.parametrize("metric", THRESHOLD_METRICS)
def test_the_chosen_threshold_beats_every_other_cut(scores, metric: str) -> None:
    y, p = scores
    chosen = decision_threshold(metric, y, p, "binary")
    best = score_at_threshold(metric, y, p, chosen)
    assert best >= max(score_at_threshold(metric, y, p, t) for t in np.linspace(0, 1, 501)) - 1e-12
    assert best > score_at_threshold(metric, y, p, 0.5)  # imbalanced: 0.5 is not the best cut here


def test_threshold_free_metrics_and_other_tasks_keep_their_defaults(scores) -> None:
    y, p = scores
    for metric in ("roc_auc", "pr_auc", "log_loss"):
        assert decision_threshold(metric, y, p, "binary") == 0.5
    assert decision_threshold("accuracy", y, np.stack([1 - p, p], axis=1), "multiclass") is None
    assert (
        decision_threshold("f1_macro", np.zeros(10, dtype=int), np.linspace(0, 1, 10), "binary")
        == 0.5
    )


def test_score_at_threshold_refuses_threshold_free_metrics(scores) -> None:
    y, p = scores
    with pytest.raises(ValueError, match="pr_auc does not depend on a threshold"):
        score_at_threshold("pr_auc", y, p, 0.5)
