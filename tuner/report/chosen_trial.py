"""Which trial a report exports, the config it ran under, and where the report goes by default."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.config.schema import StudyConfig
from tuner.config.stored import config_at_trial
from tuner.errors import ConfigError, ReportError
from tuner.keys import CONFIG_ATTR

REPORTS_DIR = "reports"


def stored_config(study: optuna.Study, trial: int | None = None) -> StudyConfig:
    """The study's config as recorded in the store: the settings trial ``trial`` ran under
    (settings changed on resume undone for earlier trials), else those it was created with."""
    try:
        config = config_at_trial(study.user_attrs, study.study_name, 0 if trial is None else trial)
    except ConfigError as exc:
        raise ReportError(
            f"study '{study.study_name}' has a stored config this version cannot read: {exc}"
        ) from None
    if config is None:
        raise ReportError(
            f"study '{study.study_name}' was not created by tuner (it has no stored "
            f"'{CONFIG_ATTR}'), so its data split cannot be rebuilt"
        )
    return config


def select_trial(study: optuna.Study, number: int | None = None) -> FrozenTrial:
    """Trial ``number`` (which must be complete), else the best trial.

    For a multi-objective study, "best" is the Pareto-optimal trial best in the first objective.
    """
    name = study.study_name
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise ReportError(
            f"study '{name}' has no completed trial yet, so there is no model to report; run: "
            f"tuner run --study {name} --trials N"
        )
    if number is not None:
        match = [t for t in trials if t.number == number]
        if not match:
            raise ReportError(
                f"study '{name}' has no trial {number}; its trials are numbered 0 to "
                f"{len(trials) - 1}"
            )
        if match[0].state != TrialState.COMPLETE:
            listed = ", ".join(str(t.number) for t in complete)
            raise ReportError(
                f"trial {number} of study '{name}' is {match[0].state.name.lower()}, not "
                f"complete; choose a completed trial: {listed}"
            )
        return match[0]
    if len(study.directions) == 1:
        return study.best_trial
    first = study.directions[0]
    pareto = study.best_trials or complete
    return (max if first == optuna.study.StudyDirection.MAXIMIZE else min)(
        pareto, key=lambda t: t.values[0]
    )


def default_out(study_name: str) -> Path:
    return Path(REPORTS_DIR) / study_name.replace(os.sep, "_").replace("/", "_")
