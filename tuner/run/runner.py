"""Create or resume a study and run it: the one entry point for the CLI and Python users.

``trials`` is the study's total budget of *finished* trials (complete + pruned), counting the
ones already in the store: running the same command again resumes, and stops at exactly
``trials``. Failed trials (diverged training) do not count towards the budget.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.artifacts import with_model_artifacts
from tuner.config.parse import config_from_dict, load_config, resolve_study, with_overrides
from tuner.config.schema import StudyConfig
from tuner.data.datasets import Splits, load_splits
from tuner.errors import ConfigError, StudyNotFoundError, TunerError
from tuner.keys import BUDGET_ATTR, CONFIG_ATTR, RUN_CONFIG_ATTR, SEED_ATTR
from tuner.run.local import SignalGuard, run_trials, sampler_seed, study_budget
from tuner.search.objective import AfterTrain, Objective
from tuner.storage import mask_url, open_storage, resolve_storage_url
from tuner.studies import RunResult, load_existing_study, study_name_for, summarize

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


# --------------------------------------------------------------------------- factories


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """Optuna sampler by name: ``tpe`` (default), ``random``, ``cmaes`` or ``gp``."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401  (GPSampler needs PyTorch)
        except ImportError:
            raise ConfigError("sampler 'gp' needs PyTorch; install it with: pip install 'tuner[gp]' (or choose tpe, random or cmaes)") from None
        return optuna.samplers.GPSampler(seed=seed, deterministic_objective=False)
    raise ConfigError(f"unknown sampler '{name}'; choose from: tpe, random, cmaes, gp")


def make_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """Optuna pruner by name: ``hyperband`` (default), ``median``, ``sha`` or ``none``."""
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner '{name}'; choose from: hyperband, median, sha, none")


# --------------------------------------------------------------------------- study helpers


def load_study_config(study: str | os.PathLike[str] | StudyConfig) -> StudyConfig:
    """A :class:`StudyConfig` from a config, a study name or a path to a study file."""
    if isinstance(study, StudyConfig):
        return study
    return load_config(resolve_study(study))


def _check_compatible(config: StudyConfig, stored: dict[str, Any], study_name: str) -> None:
    mine = config.to_dict()
    for part in ("data", "objective"):
        if stored.get(part) != mine[part]:
            raise ConfigError(
                f"study '{study_name}' in the store was created with a different [{part}] "
                f"({stored.get(part)}); resuming it with {mine[part]} would mix incomparable trials. "
                "Restore the original settings or give the study a new [study] name"
            )


def create_or_load_study(config: StudyConfig, storage: optuna.storages.BaseStorage, *, sampler: optuna.samplers.BaseSampler | None = None, pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """Create the study on first use (recording its config and seed), else load and check it."""
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if config.name in existing:
        study = optuna.load_study(study_name=config.name, storage=storage, sampler=sampler, pruner=pruner)
        stored = study.user_attrs.get(CONFIG_ATTR)
        if stored is not None:
            _check_compatible(config, stored, config.name)
        return study
    try:
        study = optuna.create_study(study_name=config.name, storage=storage, directions=list(config.objective.directions), sampler=sampler, pruner=pruner)
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it a moment ago
        return create_or_load_study(config, storage, sampler=sampler, pruner=pruner)
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    seed = config.search.seed if config.search.seed is not None else int.from_bytes(os.urandom(4), "little") % (2**31 - 1)
    study.set_user_attr(SEED_ATTR, seed)
    return study


# --------------------------------------------------------------------------- running


class _FailureGuard:
    """Counts this process's trials and stops the study after ``limit`` failures."""

    def __init__(self, limit: int):
        self.limit = limit
        self.seen = 0
        self.failures = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.seen += 1
        if trial.state == TrialState.FAIL:
            self.failures += 1
            if self.failures >= self.limit:
                study.stop()


def _configure_logging(verbose: bool) -> None:
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


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
) -> RunResult:
    """Run ``study`` until it holds exactly ``trials`` finished trials (or ``timeout`` passes).

    ``study`` is a study name (``studies/NAME.toml`` or a built-in), a path to a study file, or
    a :class:`StudyConfig`. Keyword arguments override the file, as the CLI flags do.
    The run stops with an error once ``max_failures`` trials of this run have failed
    (default: the larger of 10 and the budget).
    """
    config, splits, storage_url, rdb, study_obj = prepare_study(study, storage=storage, splits=splits, data_dir=data_dir, verbose=verbose, trials=trials, timeout=timeout, max_epochs=max_epochs, seed=seed, sampler=sampler, pruner=pruner)
    return _run_to_budget(study_obj, config, splits, storage_url, rdb, timeout=config.search.timeout, worker_index=0, verbose=verbose, callbacks=callbacks, after_train=after_train, max_failures=max_failures)


def _run_to_budget(
    study: optuna.Study,
    config: StudyConfig,
    splits: Splits,
    storage_url: str,
    rdb: optuna.storages.RDBStorage,
    *,
    timeout: float | None,
    worker_index: int | None,
    verbose: bool,
    callbacks: list[TrialCallback] | None,
    after_train: list[AfterTrain] | None,
    max_failures: int | None,
) -> RunResult:
    """This process's share of the study: trials until the stored budget is met (see workers)."""
    search = config.search
    base_seed = search.seed if search.seed is not None else int(study.user_attrs.get(SEED_ATTR, 0))
    already = len(study.get_trials(deepcopy=False))
    # Mix in the trials already stored so a resumed run does not replay the first run's draws.
    study.sampler = make_sampler(search.sampler, sampler_seed(base_seed, already, worker_index))
    study.pruner = make_pruner(search.pruner, config.training.max_epochs)
    objective = Objective(config, splits, base_seed=base_seed, verbose=verbose, after_train=with_model_artifacts(after_train, storage_url, splits, config))
    started = time.monotonic()
    guard = _FailureGuard(max_failures or max(10, study_budget(study, search.trials)))
    with SignalGuard() as signals:
        run_trials(study, objective, storage=rdb, default_budget=search.trials, guard=signals, timeout=timeout, callbacks=[guard, *(callbacks or [])], stop=lambda: guard.failures >= guard.limit)
    if guard.failures >= guard.limit:
        raise TunerError(f"{guard.failures} trials failed in this run (training diverged); narrow the learning-rate range or check the data")
    return summarize(study, storage_url=storage_url, seconds=time.monotonic() - started, trials_run=guard.seen)


def prepare_study(
    study: str | os.PathLike[str] | StudyConfig,
    *,
    storage: str | None = None,
    splits: Splits | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    **overrides: Any,
) -> tuple[StudyConfig, Splits, str, optuna.storages.RDBStorage, optuna.Study]:
    """Validate the study file, flags and data, then create or load the study in the store.

    Records on the study its budget (``trials``, the total of finished trials) and the run's
    settings, which workers joining the study read. Returns the config, the splits, the
    storage URL, the storage and the study.
    """
    trials = overrides.get("trials")
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be a positive number of finished trials, got {trials}")
    config = with_overrides(load_study_config(study), **overrides)
    _configure_logging(verbose)
    # Validate everything that can fail before the store is touched.
    splits = splits if splits is not None else load_splits(config.data, data_dir)
    make_sampler(config.search.sampler, 0)
    storage_url = resolve_storage_url(storage)
    rdb = open_storage(storage_url)
    study_obj = create_or_load_study(config, rdb)
    study_obj.set_user_attr(RUN_CONFIG_ATTR, config.to_dict())
    study_obj.set_user_attr(BUDGET_ATTR, config.search.trials)
    return config, splits, storage_url, rdb, study_obj


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
) -> RunResult:
    """Join a study that is already in the store and run trials until its budget is met.

    What ``tuner worker`` does, on any machine that reaches the store: the settings (data,
    space, training, sampler) and the budget come from the study, as the latest ``tuner run``
    recorded them; ``trials`` sets a new budget for every worker. ``worker_index`` picks the
    sampler's seed (``None``: a random one).
    """
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be a positive number of finished trials, got {trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {timeout}")
    _configure_logging(verbose)
    storage_url = resolve_storage_url(storage)
    rdb = open_storage(storage_url)
    name = study_name_for(study)
    study_obj = load_existing_study(name, rdb)
    stored = study_obj.user_attrs.get(RUN_CONFIG_ATTR) or study_obj.user_attrs.get(CONFIG_ATTR)
    if stored is None:
        raise StudyNotFoundError(f"study '{name}' in {mask_url(storage_url)} has no tuner settings (it was not started by tuner run); start it with: tuner run --study {name}")
    config = config_from_dict(stored)
    splits = load_splits(config.data, data_dir)
    if trials is not None:
        study_obj.set_user_attr(BUDGET_ATTR, trials)
    return _run_to_budget(study_obj, config, splits, storage_url, rdb, timeout=timeout, worker_index=worker_index, verbose=verbose, callbacks=callbacks, after_train=after_train, max_failures=max_failures)
