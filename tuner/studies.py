"""Studies in a store: open one, and summaries of what it holds as plain dataclasses.

The CLI and the report only format what these return; they do not query Optuna themselves.
"""

from __future__ import annotations

import os
from dataclasses import astuple, dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.config.parse import load_config, resolve_study
from tuner.config.stored import SettingsChange, settings_changes, stored_metric
from tuner.errors import StudyNotFoundError
from tuner.keys import (
    EPOCHS_RUN,
    FOLD_EPOCHS,
    N_PARAMS,
    THRESHOLD,
    TRAIN_SECONDS,
    TRIAL_SEED,
    VAL_METRICS,
)
from tuner.ml.model import layer_widths
from tuner.storage import mask_url, open_existing_storage, resolve_storage_url
from tuner.storage.optuna_compat import (
    relational_storage,
    running_heartbeats,
    stale_trial_ids,
    study_storage,
    trial_id,
)

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
    metric: str = "value"  # the first objective's name (the study's metric names)

    @property
    def n_finished(self) -> int:
        return self.counts.get("COMPLETE", 0) + self.counts.get("PRUNED", 0)

    @property
    def top_rows(self) -> list[TrialRow]:
        """:attr:`top` as table rows."""
        return [trial_row(t) for t in self.top]


@dataclass(frozen=True)
class TrialRow:
    """One finished trial as a summary table shows it: value, architecture, training."""

    number: int
    value: float
    n_layers: int | None
    widths: str  # one width per hidden layer, e.g. "64-32"
    activation: str | None
    dropout: float | None
    learning_rate: float | None
    batch_size: int | None
    optimizer: str | None
    epochs_run: int | str | None  # k-fold: one per fold, "12/30/8"
    n_params: int | None

    def cells(self, rank: int) -> tuple[Any, ...]:
        """The row under :data:`LEADERBOARD_COLUMNS`: ``rank``, then the fields in their order."""
        return (rank, *astuple(self))


#: A leaderboard's columns as (command-line header, report header), in :meth:`TrialRow.cells`
#: order: the rank, then one column per :class:`TrialRow` field.
LEADERBOARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "rank"),
    ("trial", "trial"),
    ("value", "value"),
    ("layers", "layers"),
    ("widths", "widths"),
    ("activation", "activation"),
    ("dropout", "dropout"),
    ("lr", "learning rate"),
    ("batch", "batch"),
    ("optimizer", "optimizer"),
    ("epochs", "epochs"),
    ("params", "parameters"),
)


def trial_row(trial: FrozenTrial) -> TrialRow:
    """``trial``'s first objective value, the parameters the search space drew, and its size."""
    params, attrs = trial.params, trial.user_attrs
    return TrialRow(
        number=trial.number,
        value=trial.values[0],
        n_layers=params.get("n_layers"),
        widths="-".join(str(w) for w in layer_widths(params)) if "n_layers" in params else "",
        activation=params.get("activation"),
        dropout=params.get("dropout"),
        learning_rate=params.get("learning_rate"),
        batch_size=params.get("batch_size"),
        optimizer=params.get("optimizer"),
        epochs_run=epochs_run(attrs),
        n_params=attrs.get(N_PARAMS),
    )


def epochs_run(attrs: dict[str, Any]) -> int | str | None:
    """The epochs a trial trained: a number, or one per fold (``12/30/8``) for a k-fold trial."""
    folds = attrs.get(FOLD_EPOCHS)
    if folds:
        return "/".join(str(e) for e in folds)
    return attrs.get(EPOCHS_RUN)


def count_states(study: optuna.Study) -> dict[str, int]:
    counts = {state.name: 0 for state in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] += 1
    return counts


def n_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def load_existing_study(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Load a study that must already exist; the error lists the stored studies."""
    names = [
        s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    ]
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


def summarize(
    study: optuna.Study,
    *,
    storage_url: str,
    seconds: float = 0.0,
    trials_run: int = 0,
    top: int = 5,
) -> RunResult:
    counts = count_states(study)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pareto = len(study.directions) > 1  # [objective] size_objective: rank the front by the metric
    direction = study.directions[0]
    reverse = direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(
        study.best_trials if pareto else complete, key=lambda t: t.values[0], reverse=reverse
    )
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
        metric=metric_name(study),
    )


def metric_name(study: optuna.Study) -> str:
    """The first objective's name: the study's metric names, else its stored settings'."""
    names = study.metric_names
    return names[0] if names else stored_metric(study.user_attrs) or "value"


@dataclass
class OpenedStudy:
    """A study loaded from a store, with the store it came from."""

    study: optuna.Study
    storage: optuna.storages.BaseStorage
    url: str  # unmasked: pass it on, never print it (use :func:`tuner.storage.mask_url`)


def open_study(
    study: str | os.PathLike[str] | optuna.Study, storage: str | None = None
) -> OpenedStudy:
    """Resolve the store's URL, open the store and load ``study`` (a name or a study file).

    An ``optuna.Study`` is taken as it is, with the store it was loaded from (``storage``, if
    given, names that store's URL).
    """
    if isinstance(study, optuna.Study):
        rdb = study_storage(study)
        url = storage or getattr(relational_storage(rdb), "url", None)
        return OpenedStudy(study, rdb, resolve_storage_url(url))
    url = resolve_storage_url(storage)
    rdb = open_existing_storage(url)
    return OpenedStudy(load_existing_study(study_name_for(study), rdb), rdb, url)


# --------------------------------------------------------------------------- overviews


@dataclass(frozen=True)
class StudyOverview:
    """One study of a store: trial counts by state and its best value."""

    name: str
    direction: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None
    best_trial: int | None
    #: RUNNING trials without a fresh heartbeat: their worker may be gone (``tuner recover``).
    stale: int = 0
    #: Trials queued to run (re-queued after a lost worker, or [search] start entries).
    waiting: int = 0


def study_overviews(storage: str | None = None) -> list[StudyOverview]:
    """Every study in the store, by name."""
    url = resolve_storage_url(storage)
    rdb = open_existing_storage(url)
    rows = []
    for summary in sorted(
        optuna.get_all_study_summaries(rdb, include_best_trial=False), key=lambda s: s.study_name
    ):
        loaded = optuna.load_study(study_name=summary.study_name, storage=rdb)
        res = summarize(loaded, storage_url=url)
        c = res.counts
        stale = len(running_trials(loaded, rdb).silent) if c["RUNNING"] else 0
        rows.append(
            StudyOverview(
                res.study_name,
                res.direction,
                c["COMPLETE"],
                c["PRUNED"],
                c["FAIL"],
                c["RUNNING"],
                res.best_value,
                res.best_trial,
                stale,
                c["WAITING"],
            )
        )
    return rows


@dataclass(frozen=True)
class BestTrial:
    """The best completed trial of a study: its value, parameters, size and seed."""

    number: int
    value: float
    epochs_run: int | str | None  # k-fold: one per fold, "12/30/8"
    n_params: int | None
    seed: int | None
    train_seconds: float | None
    threshold: float | None  # binary: chosen on the validation split
    params: dict[str, Any]
    val_metrics: dict[str, float]


@dataclass(frozen=True)
class BestTrialDetail:
    """A study's summary and its best trial (None before any trial completes)."""

    summary: RunResult
    best: BestTrial | None
    changes: list[SettingsChange] = field(default_factory=list)  # settings changed on resume


def best_trial_detail(study: str | os.PathLike[str], storage: str | None = None) -> BestTrialDetail:
    """The summary and best trial of ``study`` (a name or a study file) in the store."""
    opened = open_study(study, storage)
    result = summarize(opened.study, storage_url=opened.url)
    changes = settings_changes(opened.study.user_attrs)
    if result.best_trial is None:
        return BestTrialDetail(result, None, changes)
    trial = opened.study.trials[result.best_trial]
    attrs = trial.user_attrs
    best = BestTrial(
        number=trial.number,
        value=trial.values[0],
        epochs_run=epochs_run(attrs),
        n_params=attrs.get(N_PARAMS),
        seed=attrs.get(TRIAL_SEED),
        train_seconds=attrs.get(TRAIN_SECONDS),
        threshold=attrs.get(THRESHOLD),
        params=dict(trial.params),
        val_metrics=dict(attrs.get(VAL_METRICS) or {}),
    )
    return BestTrialDetail(result, best, changes)


# --------------------------------------------------------------------------- leaderboard


def leaderboard(study: optuna.Study, n: int = 10) -> list[TrialRow]:
    """The ``n`` best completed trials, best first (by the first objective); rank = position + 1."""
    reverse = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [
        trial_row(t)
        for t in sorted(
            complete,
            key=lambda t: (t.values[0], t.number) if not reverse else (-t.values[0], t.number),
        )[:n]
    ]


def top_trials(
    study: str | os.PathLike[str], storage: str | None = None, n: int = 10
) -> list[TrialRow]:
    """:func:`leaderboard` of ``study`` (a name or a study file) in the store."""
    return leaderboard(open_study(study, storage).study, n)


# --------------------------------------------------------------------------- running trials


@dataclass(frozen=True)
class RunningTrials:
    """A study's RUNNING trials: ``alive`` have a heartbeat within the grace period; ``silent``
    have none (a run without heartbeats) or a stale one, so their worker may be gone."""

    alive: list[FrozenTrial]
    silent: list[FrozenTrial]
    #: ``alive`` trial number -> seconds until it counts as stale, if no heartbeat comes
    stale_in: dict[int, float] = field(default_factory=dict)


def running_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> RunningTrials:
    """``study``'s RUNNING trials split by their heartbeat (see :class:`RunningTrials`)."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if (
        not running
        or not isinstance(storage, optuna.storages.RDBStorage)
        or storage.get_heartbeat_interval() is None
    ):
        return RunningTrials([], list(running))
    study_id = storage.get_study_id_from_name(study.study_name)
    beats, now = running_heartbeats(storage, study_id)
    alive = set(beats) - set(stale_trial_ids(storage, study_id))
    grace = storage.grace_period or 2 * storage.get_heartbeat_interval()
    stale_in = {}
    for t in running:
        beat = beats.get(trial_id(t))
        if trial_id(t) in alive and isinstance(beat, datetime) and now is not None:
            since = (now.replace(tzinfo=None) - beat.replace(tzinfo=None)).total_seconds()
            stale_in[t.number] = max(0.0, grace - since)
    return RunningTrials(
        [t for t in running if trial_id(t) in alive],
        [t for t in running if trial_id(t) not in alive],
        stale_in,
    )
