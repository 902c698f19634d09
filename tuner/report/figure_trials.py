"""What the study figures draw from: completed trials, which way the first objective is better,
where a pruned trial stopped; and the colour map they share."""

from __future__ import annotations

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

CMAP = "Blues"


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def maximizes(study: optuna.Study) -> bool:
    return study.directions[0] == StudyDirection.MAXIMIZE


def final_value(trial: FrozenTrial) -> float | None:
    """A finished trial's value: the objective, or where a pruned trial stopped (its last
    report)."""
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return float(trial.values[0]) if trial.values else None
