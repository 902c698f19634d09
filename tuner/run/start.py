"""What a run finds as it begins: the study, its store, its budget and what it already holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from tuner.studies import summarize

if TYPE_CHECKING:
    from tuner.config.schema import StudyConfig


@dataclass(frozen=True)
class RunStart:
    """A run about to start: the study, its store, its budget and what it already holds."""

    study_name: str
    storage: str  # masked URL
    new: bool  # no trial had started in the study before this run
    finished: int  # complete + pruned, before this run
    budget: int
    metric: str
    direction: str
    best_value: float | None
    best_trial: int | None
    sampler: str
    pruner: str
    workers: int
    max_epochs: int

    @property
    def to_run(self) -> int:
        """Finished trials this run adds to meet the budget (0: already met)."""
        return max(0, self.budget - self.finished)


def run_start(
    study: optuna.Study, config: StudyConfig, *, storage_url: str, budget: int, workers: int
) -> RunStart:
    """What ``study`` holds as a run of ``config`` towards ``budget`` begins."""
    result = summarize(study, storage_url=storage_url)
    started = sum(n for state, n in result.counts.items() if state != TrialState.WAITING.name)
    search = config.search
    return RunStart(
        study_name=result.study_name,
        storage=result.storage,
        new=started == 0,
        finished=result.n_finished,
        budget=budget,
        metric=config.objective.metric,
        direction=result.direction,
        best_value=result.best_value,
        best_trial=result.best_trial,
        sampler=search.sampler,
        pruner=search.pruner,
        workers=workers,
        max_epochs=config.training.max_epochs,
    )


__all__ = ["RunStart", "run_start"]
