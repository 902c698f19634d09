"""Predictions written out: a CSV table, an ``.npy`` of labels or an ``.npz`` of arrays."""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tuner import artifacts as art
from tuner.errors import PredictError
from tuner.predict.inputs import FORMATS, _is_number


def predictions_frame(outputs: np.ndarray, info: art.ModelInfo, kept: Any = None) -> Any:
    """A pandas DataFrame: ``prediction`` and one ``probability_<class>`` column per class,
    after the input's ``kept`` columns (identifiers) when given."""
    import pandas as pd

    frame = art.predictions_frame(
        outputs, task=info.task, class_names=info.class_names, threshold=info.threshold
    )
    if kept is None or kept.shape[1] == 0:
        return frame
    return pd.concat([kept.reset_index(drop=True), frame], axis=1)


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse an output that exists (without ``overwrite``) or is a folder: before any model
    loads, and again before writing."""
    if output.is_dir():
        raise PredictError(
            f"output {output} is a folder; give a file name ending in {', '.join(FORMATS)}"
        )
    if output.exists() and not overwrite:
        raise PredictError(f"output file {output} already exists; pass --overwrite to replace it")


def input_header(path: Path, keep: Sequence[str]) -> list[str]:
    """The column names of a ``.csv`` input's header ([] without one), checked against
    ``keep`` (``--keep``), before any model loads."""
    from tuner.data.csv_file import read_csv

    header = [str(c) for c in read_csv(path, nrows=0).columns] if path.suffix == ".csv" else []
    if header and all(_is_number(c) for c in header):
        header = []  # a headerless CSV: its first row is data
    if keep and not header:
        raise PredictError(
            f"--keep copies columns of a .csv input with a header row; {path} has none"
        )
    missing = [c for c in keep if c not in header]
    if missing:
        raise PredictError(
            f"--keep {missing[0]}: input {path} has no column '{missing[0]}'; its columns are: "
            f"{', '.join(header)}"
        )
    return header


def kept_columns(path: Path, keep: Sequence[str], used: Collection[str]) -> Any:
    """The input's columns carried into the output, first: those named by ``keep`` and any
    column named like an identifier (``id``, ``row_id``, ``PassengerId`` …) that the model does
    not read. None for an input without a header."""
    from tuner.data.csv_file import read_csv
    from tuner.data.table_columns import looks_like_identifier

    header = input_header(path, keep)
    names = [c for c in header if c in keep or (c not in used and looks_like_identifier(c))]
    return read_csv(path, usecols=names)[names] if names else None


def _write(
    output: Path,
    fmt: str,
    outputs: np.ndarray,
    info: art.ModelInfo,
    overwrite: bool,
    kept: Any = None,
) -> None:
    check_output(output, overwrite)
    tmp = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:8]}{fmt}"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if fmt == ".csv":
            predictions_frame(outputs, info, kept).to_csv(tmp, index=False)
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
