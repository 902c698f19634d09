"""Trial models in Optuna's artifact store: where it lives, saving, keeping the best, fetching."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.artifacts import (
    FileSystemArtifactStore,
    download_artifact,
    get_all_artifact_meta,
    upload_artifact,
)
from optuna.artifacts.exceptions import ArtifactNotFound

from tuner.artifacts.model_files import INFO_FILE, MODEL_FILE, ModelInfo, write_model
from tuner.errors import TunerError

if TYPE_CHECKING:
    from tuner.config.schema import StudyConfig
    from tuner.data.splits import Splits
    from tuner.ml.training import TrainResult


ARTIFACTS_ENV = "TUNER_ARTIFACTS"
#: ``TUNER_ARTIFACTS=off`` (or ``--artifacts off``): save no models while running.
ARTIFACTS_OFF = "off"
#: Completed trials just below the kept ones that a save looks at for files to delete: each
#: save pushes one trial out of the kept; several workers saving at once may push out a few.
DROP_WINDOW = 16


def resolve_artifacts_dir(
    storage_url: str, artifacts: str | os.PathLike[str] | None = None
) -> Path | None:
    """The artifact folder for a store: ``artifacts``, ``$TUNER_ARTIFACTS``, or beside a SQLite
    file.

    None when artifacts are off, or when the store is a database server and no folder is given.
    """
    value = os.fspath(artifacts) if artifacts is not None else os.environ.get(ARTIFACTS_ENV)
    if value:
        return None if value.strip().lower() == ARTIFACTS_OFF else Path(value).expanduser()
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage_url)
    except (ArgumentError, ValueError):
        return None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().parent / "artifacts"
    return None


def artifact_store(folder: Path) -> FileSystemArtifactStore:
    return FileSystemArtifactStore(folder)


class SaveTrialModel:
    """An ``after_train`` hook: uploads each completed trial's model and ``model.json``.

    Only the models of the best ``keep`` completed trials are kept (``[search] keep_models``;
    0 keeps all): a trial outside them saves none, and one that enters them deletes the model
    of the trial it displaces. A model that cannot be written (disk full, folder removed) only
    warns: the trial stands, and a report re-trains it from its seed.
    """

    def __init__(self, folder: Path, splits: Splits, config: StudyConfig):
        self.folder = folder
        self.store = artifact_store(folder)
        self.splits = splits
        self.config = config
        self.keep = getattr(config.search, "keep_models", 0)

    def __call__(self, trial: optuna.Trial, result: TrainResult) -> None:
        ranked = ranked_trials(trial.study, (trial.number, result.best_value))
        kept = kept_trials(trial.study, self.keep, ranked) if self.keep else None
        if kept is not None and trial.number not in kept:
            return  # not among the best: a report re-trains it from its seed if asked
        info = ModelInfo.for_trial(
            self.splits,
            self.config,
            trial.number,
            result.best_value,
            getattr(result, "threshold", None),
        )
        try:
            with tempfile.TemporaryDirectory(prefix="tuner-model-") as tmp:
                model_path, sidecar = write_model(result.model, info, Path(tmp))
                for path in (model_path, sidecar):
                    upload_artifact(
                        artifact_store=self.store, file_path=os.fspath(path), study_or_trial=trial
                    )
        except OSError as exc:
            warnings.warn(
                f"could not save the model of trial {trial.number} to {self.folder} ({exc}); a "
                "report will re-train it",
                RuntimeWarning,
                stacklevel=2,
            )
        if kept is not None:
            # Two objectives: a trial leaves the Pareto front anywhere in the ranking.
            window = (
                ranked[self.keep : self.keep + max(self.keep, DROP_WINDOW)]
                if len(trial.study.directions) == 1
                else None
            )
            drop_models(
                trial.study, trial.storage, self.store, keep=kept | {trial.number}, among=window
            )


def ranked_trials(study: optuna.Study, current: tuple[int, float] | None = None) -> list[int]:
    """Completed trial numbers, best first by the first objective (``current``: a trial about
    to complete, as (number, value)); ties go to the earlier trial, undefined values last."""
    ranked = [
        (t.number, t.values[0])
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    ]
    if current is not None:
        ranked.append(current)
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    ranked.sort(key=lambda nv: (sign * nv[1] if np.isfinite(nv[1]) else np.inf, nv[0]))
    return [n for n, _ in ranked]


def kept_trials(study: optuna.Study, keep: int, ranked: list[int]) -> set[int]:
    """The trials whose models are kept: the ``keep`` best of ``ranked``
    (:func:`ranked_trials`), and a Pareto front's trials."""
    kept = set(ranked[:keep])
    if len(study.directions) > 1:  # [objective] size_objective: the front's smaller models too
        kept |= {t.number for t in study.best_trials}
    return kept


def drop_models(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    store: FileSystemArtifactStore,
    *,
    keep: set[int],
    among: Sequence[int] | None = None,
) -> int:
    """Delete the saved files of finished trials not in ``keep``; how many files were deleted.

    ``among`` limits the search to those trial numbers: a trial's model is saved only while it
    ranks among the kept, so after each save only the trials just below them (the window
    :data:`DROP_WINDOW`) can hold a file to delete, and the store is not asked about every
    finished trial. Optuna keeps each artifact's record on its trial; a report finds the file
    gone and re-trains the trial from its seed.
    """
    wanted = None if among is None else set(among) - keep
    removed = 0
    for trial in study.get_trials(
        deepcopy=False,
        states=(
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        ),
    ):
        if trial.number in keep or (wanted is not None and trial.number not in wanted):
            continue
        for meta in get_all_artifact_meta(trial, storage=storage):
            try:
                store.remove(meta.artifact_id)
                removed += 1
            except (ArtifactNotFound, OSError):
                pass  # deleted before (here or by another worker)
    return removed


def model_artifact_hook(
    storage_url: str,
    splits: Splits,
    config: StudyConfig,
    artifacts: str | os.PathLike[str] | None = None,
) -> SaveTrialModel | None:
    """The hook that saves each completed trial's model, or None when artifacts are off."""
    folder = writable_artifacts_dir(storage_url, artifacts)
    return None if folder is None else SaveTrialModel(folder, splits, config)


def writable_artifacts_dir(
    storage_url: str, artifacts: str | os.PathLike[str] | None = None, *, keep: bool = True
) -> Path | None:
    """The artifact folder for a store (see :func:`resolve_artifacts_dir`), created and checked
    writable; a one-line :class:`TunerError` otherwise. A run checks it before it creates its
    study, with ``keep=False``: folders made for the check are removed again."""
    folder = resolve_artifacts_dir(storage_url, artifacts)
    if folder is None:
        return None
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
        if not keep:
            for path in made:  # deepest first
                path.rmdir()
    except OSError as exc:
        raise TunerError(
            f"cannot write trial models to {folder} ({exc.strerror or exc}); set {ARTIFACTS_ENV} "
            f"to a writable folder, or {ARTIFACTS_ENV}=off to save none (reports then re-train "
            "the best trial)"
        ) from None
    return folder


def with_model_artifacts(
    after_train: list[Any] | None, storage_url: str, splits: Splits, config: StudyConfig
) -> list[Any]:
    """``after_train`` plus the hook saving each completed trial's model (when artifacts are on)."""
    hook = model_artifact_hook(storage_url, splits, config)
    return [*(after_train or []), *([hook] if hook is not None else [])]


def fetch_trial_model(
    storage: optuna.storages.BaseStorage,
    trial: optuna.trial.FrozenTrial,
    folder: Path | None,
    dest: Path,
) -> tuple[Path, Path | None] | None:
    """Download a trial's saved ``model.keras`` (and ``model.json``) into ``dest``.

    None if the trial has no saved model, or its file is gone from ``folder``.
    """
    if folder is None or not folder.is_dir():
        return None
    metas = {m.filename: m for m in get_all_artifact_meta(trial, storage=storage)}
    if MODEL_FILE not in metas:
        return None
    store = artifact_store(folder)
    dest.mkdir(parents=True, exist_ok=True)
    paths: list[Path | None] = []
    for name in (MODEL_FILE, INFO_FILE):
        target = dest / name
        if name not in metas:
            paths.append(None)
            continue
        if target.exists():
            target.unlink()
        try:
            download_artifact(
                artifact_store=store,
                file_path=os.fspath(target),
                artifact_id=metas[name].artifact_id,
            )
        except (ArtifactNotFound, OSError):
            if name == MODEL_FILE:
                return None
            paths.append(None)
            continue
        paths.append(target)
    return paths[0], paths[1]  # type: ignore[return-value]
