"""Scoring rows: a file of rows into a predictions file, or a pandas DataFrame in memory."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner import artifacts as art
from tuner.errors import DatasetError, PredictError
from tuner.predict.inputs import _format_of, _read_table_rows, check_input, read_features
from tuner.predict.model_source import check_model_choice, load_predictor
from tuner.predict.outputs import (
    _write,
    check_output,
    input_header,
    kept_columns,
    predictions_frame,
)

if TYPE_CHECKING:
    import keras
    import pandas as pd


@dataclass
class PredictResult:
    n_rows: int
    output: str  # a path, or "-" for standard output
    model: str
    info: art.ModelInfo
    labels: np.ndarray | None  # class indices (classification)
    outputs: np.ndarray  # probabilities (classification) or predicted values


def predict_table(
    model: keras.Model,
    frame: pd.DataFrame,
    *,
    task: str,
    class_names: Sequence[str] = (),
    threshold: float | None = None,
    source: str = "the input",
) -> pd.DataFrame:
    """Score raw rows (a pandas DataFrame) with a table model: ``prediction`` and
    ``probability_<class>`` columns, indexed as ``frame``.

    A binary model's label uses ``threshold`` (default 0.5) on the positive class's probability.
    """
    from tuner.ml.table_layers import frame_inputs, model_columns
    from tuner.ml.training import predict

    columns = model_columns(model)
    if not columns:
        raise DatasetError(
            "this model takes a feature matrix, not named columns; it was not trained on a CSV "
            "table"
        )
    outputs = predict(model, frame_inputs(frame, columns, source=source))
    names = list(class_names) or [str(i) for i in range(max(outputs.shape[1], 2))]
    return art.predictions_frame(
        outputs,
        task=task,
        class_names=names if task != "regression" else (),
        threshold=threshold,
        index=frame.index,
    )


def predict_file(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    study: str | None = None,
    storage: str | None = None,
    artifacts: str | os.PathLike[str] | None = None,
    key: str | None = None,
    overwrite: bool = False,
    stdout: Any = None,
    keep: Sequence[str] = (),
) -> PredictResult:
    """Predict every row of ``input`` with ``model`` (or ``study``'s best trial) into ``output``.

    ``output`` None or ``"-"`` writes CSV to ``stdout`` (default: standard output). A CSV output
    starts with the input's identifier columns (named like one and not read by the model) and
    the ``keep`` columns. Arguments are checked before the model, which takes seconds to load.
    """
    to_stdout = output is None or os.fspath(output) == "-"
    out_path = None if to_stdout else Path(output)  # type: ignore[arg-type]
    fmt = ".csv" if out_path is None else _format_of(out_path, "output")
    check_model_choice(model, study)
    if out_path is not None:
        check_output(out_path, overwrite)
    if keep and fmt != ".csv":
        raise PredictError(f"--keep copies input columns into a .csv output; {out_path} is {fmt}")
    check_input(input)
    input_header(Path(input), keep)

    from tuner.ml.training import predict

    keras_model, info, source = load_predictor(
        model=model, study=study, storage=storage, artifacts=artifacts
    )
    if isinstance(keras_model.input, dict):  # trained on a CSV table: one named input per column
        x: Any = _read_table_rows(keras_model, Path(input), out_path, fmt)
        used: Sequence[str] = list(x)
    else:
        expected = int(keras_model.inputs[0].shape[-1])
        if info.n_features != expected:  # a model.json from another model: trust the model
            info = art.ModelInfo.infer(keras_model)
        x = read_features(input, info, key=key)
        used = info.feature_names
    outputs = predict(keras_model, x)
    kept = kept_columns(Path(input), keep, used) if fmt == ".csv" else None
    if out_path is None:
        buffer = io.StringIO()
        predictions_frame(outputs, info, kept).to_csv(buffer, index=False)
        (stdout or sys.stdout).write(buffer.getvalue())
    else:
        _write(out_path, fmt, outputs, info, overwrite, kept)
    labels = (
        None
        if info.task == "regression"
        else art.labels_from_outputs(outputs, info.task, info.threshold)
    )
    return PredictResult(
        len(outputs),
        "-" if out_path is None else os.fspath(out_path),
        source,
        info,
        labels,
        outputs,
    )
