"""Optuna's private names that the tuner relies on, in one place.

Optuna has no public accessor for these; ``tests/test_optuna_compat.py`` fails when an Optuna
release renames or removes one of them, so that an upgrade breaks here, loudly, and not in a
worker at run time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import optuna
from optuna.trial import FrozenTrial, TrialState


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The store's id of ``trial`` (Optuna's ``_trial_id``)."""
    return trial._trial_id


def count_trials(
    storage: optuna.storages.RDBStorage, study_id: int, states: Iterable[TrialState]
) -> dict[TrialState, int]:
    """How many trials of the study are in each of ``states``: one ``GROUP BY`` query.

    Optuna's own ``get_n_trials`` loads every trial with its parameters and attributes.
    """
    from optuna.storages._rdb import models
    from sqlalchemy import func, select

    wanted = tuple(states)
    table = models.TrialModel.__table__
    query = (
        select(table.c.state, func.count())
        .where(table.c.study_id == study_id, table.c.state.in_(wanted))
        .group_by(table.c.state)
    )
    with storage.engine.connect() as conn:
        rows = conn.execute(query).all()
    found = {TrialState[s] if isinstance(s, str) else s: n for s, n in rows}
    return {state: int(found.get(state, 0)) for state in wanted}


def trials_after(
    storage: optuna.storages.RDBStorage, study_id: int, after_trial_id: int
) -> list[FrozenTrial]:
    """The trials of the study created after trial ``after_trial_id`` (not deep-copied)."""
    return storage._get_trials(study_id, None, set(), after_trial_id)


def stale_trial_ids(storage: optuna.storages.RDBStorage, study_id: int) -> list[int]:
    """The running trials of the study whose heartbeat is older than the grace period."""
    return storage._get_stale_trial_ids(study_id)


def running_heartbeats(
    storage: optuna.storages.RDBStorage, study_id: int
) -> tuple[dict[int, datetime], datetime | None]:
    """The last heartbeat of each running trial of the study that has one (trial id -> time),
    and the store's clock now (heartbeats are written in the store's time)."""
    from optuna.storages._rdb import models
    from sqlalchemy import func, select

    beats = models.TrialHeartbeatModel.__table__
    trials = models.TrialModel.__table__
    query = (
        select(beats.c.trial_id, beats.c.heartbeat)
        .join(trials, trials.c.trial_id == beats.c.trial_id)
        .where(trials.c.study_id == study_id, trials.c.state == TrialState.RUNNING)
    )
    with storage.engine.connect() as conn:
        found = {row[0]: row[1] for row in conn.execute(query)}
        now = conn.execute(select(func.now())).scalar()
    return found, now if isinstance(now, datetime) else None


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The store ``study`` was loaded from (Optuna's ``_storage``: usually its cache)."""
    return study._storage


def relational_storage(storage: object) -> optuna.storages.RDBStorage | None:
    """The relational store behind ``storage`` (itself, or the one Optuna's cache wraps)."""
    inner = getattr(storage, "_backend", storage)
    return inner if isinstance(inner, optuna.storages.RDBStorage) else None
