"""A study made ready to run: its settings checked, its data loaded, the study created or resumed.

Creating a study records its settings, seed and start points; resuming checks the settings
against those stored (see :mod:`tuner.config.stored`).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from tuner.artifacts import ARTIFACTS_ENV, resolve_artifacts_dir, writable_artifacts_dir
from tuner.config.parse import load_config, resolve_study, with_overrides
from tuner.config.schema import StudyConfig
from tuner.config.start import start_params
from tuner.config.stored import (
    data_record,
    metric_names,
    resume_changes,
    settings_attrs,
    stored_config,
)
from tuner.data.datasets import Splits, load_splits
from tuner.errors import ConfigError
from tuner.keys import BUDGET_ATTR, DATA_ATTR, SEED_ATTR
from tuner.ml.backend import DEFAULT_BACKEND, check_installed, resolve_backend, use_backend
from tuner.run.start import RunStart, run_start
from tuner.search.packed import check_packable, pack_slots
from tuner.search.samplers import make_sampler
from tuner.storage import mask_url, open_storage, resolve_storage_url

#: Called once a run has opened its study, before any training: what the study holds.
OnStart = Callable[[RunStart], None]


def load_study_config(study: str | os.PathLike[str] | StudyConfig) -> StudyConfig:
    """A :class:`StudyConfig` from a config, a study name or a path to a study file."""
    if isinstance(study, StudyConfig):
        return study
    return load_config(resolve_study(study))


def _record_settings(
    study: optuna.Study, config: StudyConfig, *, accept_changes: bool = False
) -> None:
    """Check ``config`` against the study's stored settings, then record it (and its metric names).

    A changed setting is refused (nothing written) unless ``accept_changes``, which records the
    change with the trial it applies from; see :mod:`tuner.config.stored`.
    """
    attrs = study.user_attrs
    stored = stored_config(attrs, study.study_name)
    n_trials = len(study.get_trials(deepcopy=False))
    data = data_record(attrs, config, name=study.study_name)
    changes = (
        []
        if stored is None
        else resume_changes(
            stored,
            config,
            name=study.study_name,
            n_trials=n_trials,
            accept=accept_changes,
            data_recorded=bool((attrs.get(DATA_ATTR) or {}).get("sha256")),
        )
    )
    written = settings_attrs(config, attrs, changes=changes, from_trial=n_trials, data=data)
    for key, value in written.items():
        study.set_user_attr(key, value)
    if not study.metric_names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names(config))


def create_or_load_study(
    config: StudyConfig,
    storage: optuna.storages.BaseStorage,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    accept_changes: bool = False,
) -> optuna.Study:
    """Create the study on first use (recording its config and seed), else load and check it.

    Resuming with other settings is refused unless ``accept_changes`` (see
    :func:`_record_settings`).
    """
    existing = {
        s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    }
    if config.name in existing:
        study = optuna.load_study(
            study_name=config.name, storage=storage, sampler=sampler, pruner=pruner
        )
        _record_settings(study, config, accept_changes=accept_changes)
        return study
    try:
        study = optuna.create_study(
            study_name=config.name,
            storage=storage,
            directions=list(config.objective.directions),
            sampler=sampler,
            pruner=pruner,
        )
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it a moment ago
        return create_or_load_study(
            config, storage, sampler=sampler, pruner=pruner, accept_changes=accept_changes
        )
    _record_settings(study, config)
    seed = (
        config.search.seed
        if config.search.seed is not None
        else int.from_bytes(os.urandom(4), "little") % (2**31 - 1)
    )
    study.set_user_attr(SEED_ATTR, seed)
    for entry in config.search.start:  # [search] start: tried first, queued once (not on resume)
        study.enqueue_trial(start_params(entry, config.space), skip_if_exists=True)
    return study


@dataclass
class PreparedStudy:
    """A study ready to run: its settings, its data, and the store that holds it."""

    config: StudyConfig
    splits: Splits
    storage_url: str  # unmasked: pass it on, never print it (use :func:`tuner.storage.mask_url`)
    storage: optuna.storages.RDBStorage
    study: optuna.Study
    slots: int = 1  # trials trained at once in this process (see resolve_pack)


def with_backend(config: StudyConfig, *, in_process: bool = True) -> StudyConfig:
    """``config`` with its Keras backend resolved: the flag or study file's, else
    ``$KERAS_BACKEND``, else TensorFlow (recorded as None, the stored default); set up here when
    ``in_process``."""
    backend = resolve_backend(None, config.training.backend)
    if config.training.fused == "on" and backend != "jax":
        raise ConfigError(
            f'[training] fused = "on" runs only on the JAX backend, and this study runs on '
            f'\'{backend}\'; set backend = "jax" (or --backend jax), or fused = "auto"'
        )
    if (config.training.pack or 1) > 1:
        if backend != "jax":
            raise ConfigError(
                f"[training] pack = {config.training.pack} (packed trials) runs only on the JAX "
                f"backend, and this study runs on '{backend}'; set backend = \"jax\" (or "
                "--backend jax), or pack = 1"
            )
        check_packable(config)
    if in_process:
        use_backend(backend)
    else:
        check_installed(backend)
    return dataclasses.replace(
        config,
        training=dataclasses.replace(
            config.training, backend=None if backend == DEFAULT_BACKEND else backend
        ),
    )


def prepare_study(
    study: str | os.PathLike[str] | StudyConfig,
    *,
    storage: str | None = None,
    splits: Splits | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    in_process: bool = True,
    accept_changes: bool = False,
    **overrides: Any,
) -> PreparedStudy:
    """Validate the study file, flags and data, then create or load the study in the store.

    Records on the study its budget (``trials``, the total of finished trials) and the run's
    settings, which workers joining the study read. ``in_process``: trials run in this process
    (so its Keras backend is set here), not in worker processes. ``accept_changes``: resume
    even if settings changed, recording the change on the study.
    """
    trials = overrides.get("trials")
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be a positive number of finished trials, got {trials}")
    config = with_backend(
        with_overrides(load_study_config(study), **overrides), in_process=in_process
    )
    # Validate everything that can fail before the store is touched.
    splits = splits if splits is not None else load_splits(config.data, data_dir)
    make_sampler(config.search.sampler, 0)
    storage_url = resolve_storage_url(storage)
    writable_artifacts_dir(storage_url, keep=False)  # before the study: none left without trials
    slots = resolve_pack(config, splits, storage_url, in_process=in_process)
    rdb = open_storage(storage_url)
    study_obj = create_or_load_study(config, rdb, accept_changes=accept_changes)
    study_obj.set_user_attr(BUDGET_ATTR, config.search.trials)
    return PreparedStudy(config, splits, storage_url, rdb, study_obj, slots)


def resolve_pack(
    config: StudyConfig, splits: Splits, storage_url: str, *, in_process: bool = True
) -> int:
    """How many trials this process trains at once (:func:`~tuner.search.packed.pack_slots`),
    decided before the store is touched: "auto" is 1 wherever the study cannot be packed or
    packed trials' models have no place to be saved; a number above 1 is refused there.

    A packed trial is exported from its saved weights (its packed training cannot be replayed
    by the ordinary trainer), so packing needs an artifact folder. Not ``in_process``: the
    worker processes decide "auto" (their backend is not set up here).
    """
    if config.training.pack is None and not in_process:
        return 1
    slots = pack_slots(config, splits)
    if slots > 1 and resolve_artifacts_dir(storage_url) is None:
        if config.training.pack is None:
            return 1
        raise ConfigError(
            f"[training] pack = {slots} (packed trials) needs a folder for their saved models, "
            f"and there is none for {mask_url(storage_url)} (or ${ARTIFACTS_ENV} is off); set "
            f"${ARTIFACTS_ENV}=DIR, or pack = 1"
        )
    return slots


def _announce(prepared: PreparedStudy, on_start: OnStart | None, workers: int) -> None:
    """Tell ``on_start`` what the study holds before this run trains anything."""
    if on_start is not None:
        on_start(
            run_start(
                prepared.study,
                prepared.config,
                storage_url=prepared.storage_url,
                budget=prepared.config.search.trials,
                workers=workers,
            )
        )
