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
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.config import StudyConfig, load_config, resolve_study
from tuner.datasets import Splits, load_splits
from tuner.errors import ConfigError, StudyNotFoundError, TunerError
from tuner.objective import AfterTrain, Objective
from tuner.storage import mask_url, open_storage, resolve_storage_url

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: Study user attributes written when a study is created.
CONFIG_ATTR = "tuner_config"
SEED_ATTR = "tuner_seed"

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


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

    @property
    def n_finished(self) -> int:
        return self.counts.get("COMPLETE", 0) + self.counts.get("PRUNED", 0)


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


def count_states(study: optuna.Study) -> dict[str, int]:
    counts = {state.name: 0 for state in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] += 1
    return counts


def n_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


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
    study = optuna.create_study(study_name=config.name, storage=storage, direction=config.objective.direction, sampler=sampler, pruner=pruner)
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    seed = config.search.seed if config.search.seed is not None else int.from_bytes(os.urandom(4), "little") % (2**31 - 1)
    study.set_user_attr(SEED_ATTR, seed)
    return study


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
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(complete, key=lambda t: t.value, reverse=reverse)
    best = ranked[0] if ranked else None
    return RunResult(
        study_name=study.study_name,
        storage=mask_url(storage_url),
        direction=study.direction.name.lower(),
        counts=counts,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
        best_trial=best.number if best else None,
        seconds=seconds,
        trials_run=trials_run,
        top=ranked[:top],
    )


# --------------------------------------------------------------------------- running


class _Budget:
    """Stops the study once it holds ``total`` finished trials, from any process."""

    def __init__(self, total: int):
        self.total = total

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if n_finished(study) >= self.total:
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
) -> RunResult:
    """Run ``study`` until it holds exactly ``trials`` finished trials (or ``timeout`` passes).

    ``study`` is a study name (``studies/NAME.toml`` or a built-in), a path to a study file, or
    a :class:`StudyConfig`. Keyword arguments override the file, as the CLI flags do.
    """
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be a positive number of finished trials, got {trials}")
    config = load_study_config(study).with_overrides(trials=trials, timeout=timeout, max_epochs=max_epochs, seed=seed, sampler=sampler, pruner=pruner)
    _configure_logging(verbose)
    # Validate everything that can fail before the store is touched.
    splits = splits if splits is not None else load_splits(config.data, data_dir)
    search = config.search
    make_sampler(search.sampler, 0)
    storage_url = resolve_storage_url(storage)
    rdb = open_storage(storage_url)

    study_obj = create_or_load_study(config, rdb)
    base_seed = search.seed if search.seed is not None else int(study_obj.user_attrs.get(SEED_ATTR, 0))
    already = len(study_obj.get_trials(deepcopy=False))
    # Mix in the trials already stored so a resumed run does not replay the first run's draws.
    study_obj.sampler = make_sampler(search.sampler, (base_seed + 7_919 * already) % (2**31 - 1))
    study_obj.pruner = make_pruner(search.pruner, config.training.max_epochs)

    objective = Objective(config, splits, base_seed=base_seed, verbose=verbose, after_train=after_train)
    started = time.monotonic()
    trials_run = 0
    budget = _Budget(search.trials)
    max_failures = max(10, search.trials)
    failures = 0
    while True:
        remaining = search.trials - n_finished(study_obj)
        left = None if search.timeout is None else search.timeout - (time.monotonic() - started)
        if remaining <= 0 or (left is not None and left <= 0):
            break
        before = len(study_obj.get_trials(deepcopy=False))
        study_obj.optimize(objective, n_trials=remaining, timeout=left, callbacks=[budget, *(callbacks or [])], gc_after_trial=False)
        after = study_obj.get_trials(deepcopy=False)
        mine = after[before:]
        trials_run += len(mine)
        failures += sum(t.state == TrialState.FAIL for t in mine)
        if failures >= max_failures:
            raise TunerError(f"{failures} trials failed in this run (training diverged); narrow the learning-rate range or check the data")
        if not mine:
            break
    return summarize(study_obj, storage_url=storage_url, seconds=time.monotonic() - started, trials_run=trials_run)

