"""Predictions written out: a CSV table, an ``.npy`` of labels or an ``.npz`` of arrays."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from tuner import artifacts as art
from tuner.errors import PredictError
from tuner.predict.inputs import FORMATS


def predictions_frame(outputs: np.ndarray, info: art.ModelInfo) -> Any:
    """A pandas DataFrame: ``prediction`` and one ``probability_<class>`` column per class."""
    return art.predictions_frame(
        outputs, task=info.task, class_names=info.class_names, threshold=info.threshold
    )


def _write(
    output: Path, fmt: str, outputs: np.ndarray, info: art.ModelInfo, overwrite: bool
) -> None:
    if output.exists() and not overwrite:
        raise PredictError(f"output file {output} already exists; pass --overwrite to replace it")
    if output.is_dir():
        raise PredictError(
            f"output {output} is a folder; give a file name ending in {', '.join(FORMATS)}"
        )
    tmp = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:8]}{fmt}"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if fmt == ".csv":
            predictions_frame(outputs, info).to_csv(tmp, index=False)
        elif fmt == ".npy":
            np.save(
                tmp,
                outputs.reshape(-1)
                if info.task == "regression"
                else art.labels_from_outputs(outputs, info.task, info.threshold),
            )
        elif info.task == "regression":
            np.savez(tmp, prediction=outputs.reshape(-1))
        else:
            np.savez(
                tmp,
                label=art.labels_from_outputs(outputs, info.task, info.threshold),
                probabilities=art.probabilities(outputs, info.task),
            )
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PredictError(
            f"cannot write predictions to {output}: {(exc.strerror or str(exc)).lower()}; choose "
            "a writable path with --output"
        ) from None
