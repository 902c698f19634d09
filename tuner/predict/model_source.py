"""The model to predict with: a ``.keras`` file, or the saved model of a study's best trial."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tuner import artifacts as art
from tuner.errors import PredictError, ReportError


def check_model_choice(model: object, study: object) -> None:
    """Exactly one of ``--model`` and ``--study``."""
    if model is None and study is None:
        raise PredictError(
            "no model given: give --model PATH (a .keras file, e.g. reports/NAME/model.keras) or "
            "--study NAME (its best trial's saved model)"
        )
    if model is not None and study is not None:
        raise PredictError(
            "give either --model PATH or --study NAME, not both: they name two models"
        )


def load_predictor(
    *,
    model: str | os.PathLike[str] | None = None,
    study: str | None = None,
    storage: str | None = None,
    artifacts: str | os.PathLike[str] | None = None,
) -> tuple[Any, art.ModelInfo, str]:
    """(keras model, its description, where it came from) from ``model`` or ``study``'s best
    trial."""
    check_model_choice(model, study)
    if model is not None:
        keras_model = art.load_model(model, error=PredictError)
        return keras_model, art.load_info(model, keras_model), os.fspath(model)

    from tuner.report.chosen_trial import default_out, select_trial
    from tuner.studies import open_study

    opened = open_study(study, storage)
    study_obj = opened.study
    try:
        best = select_trial(study_obj)
    except ReportError as exc:  # no completed trial
        raise PredictError(str(exc)) from None
    folder = art.resolve_artifacts_dir(opened.url, artifacts)
    with tempfile.TemporaryDirectory(prefix="tuner-predict-") as tmp:
        fetched = art.fetch_trial_model(opened.storage, best, folder, Path(tmp))
        if fetched is None:
            where = (
                f"in {folder}"
                if folder is not None
                else "(no artifact folder for this store; set --artifacts or TUNER_ARTIFACTS)"
            )
            report = default_out(study_obj.study_name) / art.MODEL_FILE
            raise PredictError(
                f"best trial {best.number} of study '{study_obj.study_name}' has no saved model "
                f"{where}; export one with: tuner report --study {study_obj.study_name}, then "
                f"pass --model {report}"
            )
        keras_model = art.load_model(fetched[0], error=PredictError)
        info = art.load_info(fetched[0], keras_model)
    return keras_model, info, f"study '{study_obj.study_name}', trial {best.number}"
