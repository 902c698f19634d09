"""Studies in a store: open one, and summaries of what it holds as plain dataclasses.

The CLI and the report only format what these return; they do not query Optuna themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.config.parse import load_config, resolve_study
from tuner.errors import StudyNotFoundError
from tuner.storage import mask_url, open_storage, resolve_storage_url

#: Trial states that count towards a study's budget.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class RunResult:
    """What a run left in the store."""

    study_name: str
    storage: str  # masked URL
    direction: str
    counts: dict[str, int]
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    seconds: float
    trials_run: int = 0
    top: list[FrozenTrial] = field(default_factory=list)
    pareto: bool = False  # two objectives (metric, n_params): ``top`` is the whole Pareto front

    @property
    def n_finished(self) -> int:
        return self.counts.get("COMPLETE", 0) + self.counts.get("PRUNED", 0)


def count_states(study: optuna.Study) -> dict[str, int]:
    counts = {state.name: 0 for state in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] += 1
    return counts


def n_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def load_existing_study(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Load a study that must already exist; the error lists the stored studies."""
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if name not in names:
        listed = ", ".join(sorted(names)) or "none yet"
        raise StudyNotFoundError(f"no study '{name}' in the store; stored studies: {listed}")
    return optuna.load_study(study_name=name, storage=storage)


def study_name_for(study: str | os.PathLike[str]) -> str:
    """The stored study name for ``--study``: a study file's [study] name, or the name as given."""
    try:
        return load_config(resolve_study(study)).name
    except StudyNotFoundError:
        text = str(study)
        if text.endswith(".toml"):
            raise
        return text


def summarize(study: optuna.Study, *, storage_url: str, seconds: float = 0.0, trials_run: int = 0, top: int = 5) -> RunResult:
    counts = count_states(study)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pareto = len(study.directions) > 1  # [objective] size_objective: rank the front by the metric
    direction = study.directions[0]
    reverse = direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(study.best_trials if pareto else complete, key=lambda t: t.values[0], reverse=reverse)
    best = ranked[0] if ranked else None
    return RunResult(
        study_name=study.study_name,
        storage=mask_url(storage_url),
        direction=direction.name.lower(),
        counts=counts,
        best_value=best.values[0] if best else None,
        best_params=dict(best.params) if best else {},
        best_trial=best.number if best else None,
        seconds=seconds,
        trials_run=trials_run,
        top=ranked if pareto else ranked[:top],
        pareto=pareto,
    )


@dataclass
class OpenedStudy:
    """A study loaded from a store, with the store it came from."""

    study: optuna.Study
    storage: optuna.storages.BaseStorage
    url: str  # unmasked: pass it on, never print it (use :func:`tuner.storage.mask_url`)


def open_study(study: str | os.PathLike[str], storage: str | None = None) -> OpenedStudy:
    """Resolve the store's URL, open the store and load ``study`` (a name or a study file)."""
    url = resolve_storage_url(storage)
    rdb = open_storage(url)
    return OpenedStudy(load_existing_study(study_name_for(study), rdb), rdb, url)
