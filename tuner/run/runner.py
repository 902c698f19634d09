"""Create or resume a study and run it: the one entry point for the CLI and Python users.

:func:`run_study` runs in this process, :func:`join_study` joins a study already in the store
(``tuner worker``), and :func:`run_workers` runs several local worker processes.

``trials`` is the study's total budget of *finished* trials (complete + pruned), counting the
ones already in the store: running the same command again resumes, and stops at exactly
``trials``. Failed trials (diverged training) do not count towards the budget.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence

import optuna

from tuner.artifacts import with_model_artifacts
from tuner.config.parse import with_overrides
from tuner.config.schema import StudyConfig
from tuner.config.stored import data_record, stored_config
from tuner.data.datasets import Splits, load_splits
from tuner.errors import ConfigError, StudyNotFoundError
from tuner.keys import BUDGET_ATTR, SEED_ATTR
from tuner.ml.backend import DEFAULT_BACKEND, resolve_backend, use_backend
from tuner.run.budget import TrialCallback, sampler_seed, study_budget
from tuner.run.local import run_local_workers
from tuner.run.prepare import (
    OnStart,
    PreparedStudy,
    _announce,
    create_or_load_study,
    load_study_config,
    prepare_study,
    resolve_pack,
    with_backend,
)
from tuner.run.signals import SignalGuard
from tuner.run.trial_loop import run_trials
from tuner.search.cv import is_kfold, pruner_resource
from tuner.search.objective import AfterTrain, Objective, OnEpoch, OneTrial, OnFold, TrialPack
from tuner.search.packed import PackedSearch
from tuner.search.samplers import make_pruner, make_sampler
from tuner.storage import mask_url, open_existing_storage, resolve_storage_url
from tuner.studies import RunResult, load_existing_study, n_finished, study_name_for, summarize

__all__ = [
    "OnStart",
    "PreparedStudy",
    "create_or_load_study",
    "join_study",
    "load_study_config",
    "prepare_study",
    "run_study",
    "run_workers",
    "with_backend",
]

# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def _run_logging(verbose: bool) -> Iterator[None]:
    """Log levels for one run, restored after it; Optuna's ExperimentalWarning (multivariate
    TPE, heartbeats) is silenced within it only."""
    absl = logging.getLogger("absl")
    saved = optuna.logging.get_verbosity(), absl.level
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.ERROR)
    absl.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(saved[0])
        absl.setLevel(saved[1])


def run_study(
    study: str | os.PathLike[str] | StudyConfig,
    *,
    storage: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    max_epochs: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    callbacks: list[TrialCallback] | None = None,
    after_train: list[AfterTrain] | None = None,
    splits: Splits | None = None,
    max_failures: int | None = None,
    backend: str | None = None,
    pack: int | str | None = None,
    on_start: OnStart | None = None,
    on_epoch: OnEpoch | None = None,
    accept_changes: bool = False,
    on_fold: OnFold | None = None,
) -> RunResult:
    """Run ``study`` until it holds exactly ``trials`` finished trials (or ``timeout`` passes).

    ``study`` is a study name (``studies/NAME.toml`` or a built-in), a path to a study file, or
    a :class:`StudyConfig`. Keyword arguments override the file, as the CLI flags do.
    The run stops with an error once ``max_failures`` trials of this run have failed
    (default: the larger of 10 and the budget).
    ``on_start`` is told what the study holds before any training; ``on_epoch`` is called
    after each epoch of each trial (see :data:`tuner.search.objective.OnEpoch`), ``on_fold``
    after each fold of a k-fold trial (:data:`~tuner.search.objective.OnFold`).
    Resuming a study with other settings (other than ``trials``, ``timeout`` and ``backend``)
    is refused unless ``accept_changes``, which records the change on the study.
    """
    with _run_logging(verbose):
        prepared = prepare_study(
            study,
            storage=storage,
            splits=splits,
            data_dir=data_dir,
            accept_changes=accept_changes,
            trials=trials,
            timeout=timeout,
            max_epochs=max_epochs,
            seed=seed,
            sampler=sampler,
            pruner=pruner,
            backend=backend,
            pack=pack,
        )
        _announce(prepared, on_start, workers=1)
        return _run_to_budget(
            prepared,
            timeout=prepared.config.search.timeout,
            worker_index=0,
            verbose=verbose,
            callbacks=callbacks,
            after_train=after_train,
            max_failures=max_failures,
            on_epoch=on_epoch,
            on_fold=on_fold,
        )


def _run_to_budget(
    prepared: PreparedStudy,
    *,
    timeout: float | None,
    worker_index: int | None,
    verbose: bool,
    callbacks: list[TrialCallback] | None,
    after_train: list[AfterTrain] | None,
    max_failures: int | None,
    on_epoch: OnEpoch | None = None,
    on_fold: OnFold | None = None,
) -> RunResult:
    """This process's share of the study: trials until the stored budget is met."""
    study, config, splits = prepared.study, prepared.config, prepared.splits
    search = config.search
    base_seed = search.seed if search.seed is not None else int(study.user_attrs.get(SEED_ATTR, 0))
    already = len(study.get_trials(deepcopy=False))
    # Mix in the trials already stored so a resumed run does not replay the first run's draws.
    study.sampler = make_sampler(search.sampler, sampler_seed(base_seed, already, worker_index))
    study.pruner = make_pruner(search.pruner, pruner_resource(config))
    objective = Objective(
        config,
        splits,
        base_seed=base_seed,
        verbose=verbose,
        after_train=with_model_artifacts(after_train, prepared.storage_url, splits, config),
        on_epoch=on_epoch,
        on_fold=on_fold,
    )
    started = time.monotonic()
    limit = max_failures or max(10, study_budget(study, search.trials))
    pack: TrialPack = OneTrial(objective)
    if prepared.slots > 1:  # the same loop, several trials at once
        pack = PackedSearch(
            config,
            splits,
            slots=prepared.slots,
            base_seed=base_seed,
            after_train=objective.after_train,
            on_epoch=on_epoch,
        )
    with SignalGuard() as signals:
        tally = run_trials(
            study,
            pack,
            storage=prepared.storage,
            default_budget=search.trials,
            guard=signals,
            timeout=timeout,
            callbacks=callbacks or (),
            max_failures=limit,
        )
    return summarize(
        study,
        storage_url=prepared.storage_url,
        seconds=time.monotonic() - started,
        trials_run=tally.run,
    )


def join_study(
    study: str | os.PathLike[str],
    *,
    storage: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    callbacks: list[TrialCallback] | None = None,
    after_train: list[AfterTrain] | None = None,
    worker_index: int | None = None,
    max_failures: int | None = None,
    backend: str | None = None,
    pack: str | int | None = None,
) -> RunResult:
    """Join a study that is already in the store and run trials until its budget is met.

    What ``tuner worker`` does, on any machine that reaches the store: the settings (data,
    space, training, sampler) and the budget come from the study, as the latest ``tuner run``
    recorded them; ``trials`` sets a new budget for every worker. ``worker_index`` picks the
    sampler's seed (``None``: a random one). ``backend`` overrides the study's Keras backend,
    ``pack`` its trials trained at once ("auto" or a number).
    """
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be a positive number of finished trials, got {trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {timeout}")
    with _run_logging(verbose):
        storage_url = resolve_storage_url(storage)
        rdb = open_existing_storage(storage_url)
        name = study_name_for(study)
        study_obj = load_existing_study(name, rdb)
        config = stored_config(study_obj.user_attrs, name)
        if config is None:
            raise StudyNotFoundError(
                f"study '{name}' in {mask_url(storage_url)} has no tuner settings (it was not "
                f"started by tuner run); start it with: tuner run --study {name}"
            )
        data_record(study_obj.user_attrs, config, name=name)  # refuses a CSV that changed
        if backend is not None or pack is not None:
            config = with_overrides(config, backend=backend, pack=pack)
        use_backend(resolve_backend(None, config.training.backend or DEFAULT_BACKEND))
        splits = load_splits(config.data, data_dir)
        if trials is not None:
            study_obj.set_user_attr(BUDGET_ATTR, trials)
        slots = resolve_pack(config, splits, storage_url)
        prepared = PreparedStudy(config, splits, storage_url, rdb, study_obj, slots)
        return _run_to_budget(
            prepared,
            timeout=timeout,
            worker_index=worker_index,
            verbose=verbose,
            callbacks=callbacks,
            after_train=after_train,
            max_failures=max_failures,
        )


def run_workers(
    study: str | os.PathLike[str] | StudyConfig,
    *,
    workers: int,
    storage: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    max_epochs: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    callbacks: Sequence[TrialCallback] = (),
    threads_per_worker: int | None = None,
    poll: float = 1.0,
    backend: str | None = None,
    pack: int | str | None = None,
    on_start: OnStart | None = None,
    on_epoch: OnEpoch | None = None,
    accept_changes: bool = False,
    on_fold: OnFold | None = None,
) -> RunResult:
    """Run ``study`` with ``workers`` local processes on one store until its budget is met.

    Arguments are those of :func:`run_study`. ``callbacks`` run in this process for every
    trial that ends in the study (whichever worker ran it). ``threads_per_worker`` defaults to
    the machine's cores divided among the workers. ``workers=1`` runs in this process, unless
    ``threads_per_worker`` is given (TensorFlow's threads are fixed once it has started, so
    capping them needs a fresh process). ``on_start`` and ``on_epoch`` are those of
    :func:`run_study`; with several workers this process reads each running trial's latest
    epoch from the store every ``poll`` seconds.
    """
    _check_workers(workers, threads_per_worker)
    overrides = dict(
        trials=trials,
        timeout=timeout,
        max_epochs=max_epochs,
        seed=seed,
        sampler=sampler,
        pruner=pruner,
        backend=backend,
        pack=pack,
    )
    if workers == 1 and threads_per_worker is None:
        return run_study(
            study,
            storage=storage,
            data_dir=data_dir,
            verbose=verbose,
            callbacks=list(callbacks),
            on_start=on_start,
            on_epoch=on_epoch,
            on_fold=on_fold,
            accept_changes=accept_changes,
            **overrides,
        )
    with _run_logging(verbose):
        prepared = prepare_study(
            study,
            storage=storage,
            data_dir=data_dir,
            in_process=False,
            accept_changes=accept_changes,
            **overrides,
        )
        _announce(prepared, on_start, workers=workers)
        return _run_in_processes(
            prepared,
            workers=workers,
            data_dir=data_dir,
            verbose=verbose,
            threads_per_worker=threads_per_worker,
            callbacks=callbacks,
            poll=poll,
            on_epoch=on_epoch,
        )


def _check_workers(workers: int, threads_per_worker: int | None) -> None:
    """Refuse a worker count or a thread count that is not a positive whole number."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(
            f"--workers must be a whole number of processes, at least 1; got {workers!r}"
        )
    if threads_per_worker is not None and threads_per_worker < 1:
        raise ConfigError(f"threads_per_worker must be at least 1, got {threads_per_worker}")


def _run_in_processes(
    prepared: PreparedStudy,
    *,
    workers: int,
    data_dir: str | os.PathLike[str] | None,
    verbose: bool,
    threads_per_worker: int | None,
    callbacks: Sequence[TrialCallback],
    poll: float,
    on_epoch: OnEpoch | None,
) -> RunResult:
    """``workers`` local processes on the prepared study until its budget is met."""
    study_obj = prepared.study
    started = time.monotonic()
    n_before = len(study_obj.get_trials(deepcopy=False))
    if n_finished(study_obj) < prepared.config.search.trials:
        local_data = None if data_dir is None else str(data_dir)
        run_local_workers(
            study_obj,
            join=join_study,
            workers=workers,
            storage_url=prepared.storage_url,
            data_dir=local_data,
            timeout=prepared.config.search.timeout,
            verbose=verbose,
            threads_per_worker=threads_per_worker,
            callbacks=callbacks,
            poll=poll,
            backend=prepared.config.training.backend or DEFAULT_BACKEND,
            on_epoch=None if is_kfold(prepared.config) else on_epoch,
            max_epochs=prepared.config.training.max_epochs,
        )
    trials_run = len(study_obj.get_trials(deepcopy=False)) - n_before
    return summarize(
        study_obj,
        storage_url=prepared.storage_url,
        seconds=time.monotonic() - started,
        trials_run=trials_run,
    )
