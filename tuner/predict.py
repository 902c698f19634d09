"""Apply an exported model to new rows: CSV, NPY or NPZ in; CSV, NPY or NPZ out.

The model is a ``.keras`` file (``--model``, e.g. a report's ``model.keras``) or the saved
model of a study's best trial (``--study``). Inputs are raw feature rows, in the units the study
trained on: normalisation is inside the model.

Output: CSV holds ``prediction`` (the class name, or the value for regression) and, for
classification, one ``probability_<class>`` column per class. ``.npy`` holds the class indices
(or predictions) alone; ``.npz`` holds ``label`` and ``probabilities`` (or ``prediction``).
A model trained on a CSV table reads raw rows by column name; :func:`predict_table` scores a
pandas DataFrame of such rows in memory.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner import artifacts as art
from tuner.errors import DatasetError, PredictError, ReportError, first_line

if TYPE_CHECKING:
    import keras
    import pandas as pd

FORMATS = (".csv", ".npy", ".npz")
#: Array names tried, in order, in an ``.npz`` input that holds several arrays.
NPZ_KEYS = ("x", "X", "features", "x_test", "inputs")
_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK"}


@dataclass
class PredictResult:
    n_rows: int
    output: str  # a path, or "-" for standard output
    model: str
    info: art.ModelInfo
    labels: np.ndarray | None  # class indices (classification)
    outputs: np.ndarray  # probabilities (classification) or predicted values


# --------------------------------------------------------------------------- the model


def load_predictor(*, model: str | os.PathLike[str] | None = None, study: str | None = None, storage: str | None = None, artifacts: str | os.PathLike[str] | None = None) -> tuple[Any, art.ModelInfo, str]:
    """(keras model, its description, where it came from) from ``model`` or ``study``'s best trial."""
    if (model is None) == (study is None):
        raise PredictError("give the model to use: either --model PATH.keras or --study NAME (its best trial's saved model), not both")
    if model is not None:
        keras_model = art.load_model(model, error=PredictError)
        return keras_model, art.load_info(model, keras_model), os.fspath(model)

    from tuner.report.build import default_out, select_trial
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
            where = f"in {folder}" if folder is not None else "(no artifact folder for this store; set --artifacts or TUNER_ARTIFACTS)"
            report = default_out(study_obj.study_name) / art.MODEL_FILE
            raise PredictError(f"best trial {best.number} of study '{study_obj.study_name}' has no saved model {where}; export one with: tuner report --study {study_obj.study_name}, then pass --model {report}")
        keras_model = art.load_model(fetched[0], error=PredictError)
        info = art.load_info(fetched[0], keras_model)
    return keras_model, info, f"study '{study_obj.study_name}', trial {best.number}"


# --------------------------------------------------------------------------- input


def _format_of(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PredictError(f"{what} {path} has an unsupported extension '{suffix or '(none)'}'; use one of: {', '.join(FORMATS)}")
    return suffix


def _feature_hint(info: art.ModelInfo) -> str:
    names = list(info.feature_names)
    if not names:
        return ""
    shown = ", ".join(names[:5]) + (f", … ({len(names) - 5} more)" if len(names) > 5 else "")
    return f" ({shown})"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, info: art.ModelInfo) -> np.ndarray:
    import pandas as pd

    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise PredictError(f"input {path} is empty; give one row of {info.n_features} features per line") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise PredictError(f"input {path} does not parse as CSV: {first_line(exc)}") from None
    first = [c.strip() for c in raw.iloc[0].tolist()]
    has_header = not all(_is_number(c) for c in first)
    body = raw.iloc[1:] if has_header else raw
    first_row_line = 2 if has_header else 1
    if has_header:
        names = list(info.feature_names)
        if names and set(names) <= set(first):
            body = body.iloc[:, [first.index(n) for n in names]]  # by name; other columns ignored
            first = names
        elif names and set(names) & set(first):
            missing = [n for n in names if n not in first]
            raise PredictError(f"input {path} lacks the feature columns {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}; its header must name all {len(names)} features")
    if body.shape[1] != info.n_features:
        raise PredictError(f"input {path} has {body.shape[1]} columns, but the model expects {info.n_features} features{_feature_hint(info)}; give exactly those columns in training order, or a header that names them")
    if len(body) == 0:
        raise PredictError(f"input {path} has a header but no rows")
    values = np.empty(body.shape, dtype=np.float32)
    for j in range(body.shape[1]):
        column = body.iloc[:, j].str.strip()
        numbers = pd.to_numeric(column, errors="coerce")
        bad = numbers.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            cell = column.iloc[i]
            label = f"column '{first[j]}'" if has_header else f"column {j + 1}"
            what = "is empty" if not isinstance(cell, str) or cell == "" else f"holds {cell!r}, not a number"
            raise PredictError(f"input {path}: line {first_row_line + i}, {label} {what}; every feature must be a number")
        values[:, j] = numbers.to_numpy(dtype=np.float32)
    return values


def check_input(input: str | os.PathLike[str]) -> Path:
    """The input file, checked before any model is loaded: a known extension, an existing
    readable file and, for ``.npy``/``.npz``, NumPy's file header."""
    path = Path(input)
    fmt = _format_of(path, "input")
    if not path.is_file():
        raise PredictError(f"input {path} is not a file; give a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} file" if path.exists() else f"input file {path} does not exist")
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise PredictError(f"input {path} cannot be read: {(exc.strerror or str(exc)).lower()}; check its permissions") from None
    if fmt in _MAGIC and not head.startswith(_MAGIC[fmt]):
        raise PredictError(f"input {path} does not parse as {fmt}: it lacks the {fmt} file header; write it with numpy.{'save' if fmt == '.npy' else 'savez'}, or give a .csv")
    return path


def _read_array(path: Path, fmt: str, key: str | None) -> np.ndarray:
    check_input(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise PredictError(f"input {path} does not parse as {fmt}: {first_line(exc)}") from None
    if fmt == ".npy":
        if not isinstance(loaded, np.ndarray):
            raise PredictError(f"input {path} is an .npz archive; name it .npz")
        return loaded
    if isinstance(loaded, np.ndarray):
        raise PredictError(f"input {path} is a single .npy array; name it .npy")
    with loaded as npz:
        names = list(npz.files)
        if key is not None:
            if key not in names:
                raise PredictError(f"input {path} has no array '{key}'; it holds: {', '.join(names) or 'nothing'}")
            chosen = key
        elif len(names) == 1:
            chosen = names[0]
        else:
            chosen = next((k for k in NPZ_KEYS if k in names), None)
            if chosen is None:
                raise PredictError(f"input {path} holds several arrays ({', '.join(names) or 'none'}); choose one with --key")
        try:
            return npz[chosen]
        except ValueError as exc:
            raise PredictError(f"input {path}: array '{chosen}' cannot be read without pickle ({exc})") from None


def read_features(path: str | os.PathLike[str], info: art.ModelInfo, *, key: str | None = None) -> np.ndarray:
    """Feature rows from a CSV (header optional), NPY or NPZ file, checked against the model."""
    path = Path(path)
    fmt = _format_of(path, "input")
    if not path.is_file():
        raise PredictError(f"input file {path} does not exist")
    if fmt == ".csv":
        x = _read_csv(path, info)
    else:
        x = _read_array(path, fmt, key)
        if x.dtype.kind not in "biuf":
            raise PredictError(f"input {path} holds {x.dtype} values; features must be numbers")
        if x.ndim == 1 and x.size == info.n_features:
            x = x.reshape(1, -1)
        elif x.ndim >= 2:
            x = x.reshape(len(x), -1)  # e.g. 28x28 images → 784 pixels
        if x.ndim != 2 or x.shape[1] != info.n_features:
            raise PredictError(f"input {path} holds an array of shape {tuple(np.shape(x))}, but the model expects rows of {info.n_features} features{_feature_hint(info)}")
        x = x.astype(np.float32)
    if len(x) == 0:
        raise PredictError(f"input {path} has no rows")
    finite = np.isfinite(x)
    if not finite.all():
        row = int(np.argmax(~finite.all(axis=1)))
        raise PredictError(f"input {path} has a missing or infinite value in row {row + 1}; fill or drop it")
    return x


# --------------------------------------------------------------------------- output


def predictions_frame(outputs: np.ndarray, info: art.ModelInfo) -> Any:
    """A pandas DataFrame: ``prediction`` and one ``probability_<class>`` column per class."""
    return art.predictions_frame(outputs, task=info.task, class_names=info.class_names, threshold=info.threshold)


def _write(output: Path, fmt: str, outputs: np.ndarray, info: art.ModelInfo, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise PredictError(f"output file {output} already exists; pass --overwrite to replace it")
    if output.is_dir():
        raise PredictError(f"output {output} is a folder; give a file name ending in {', '.join(FORMATS)}")
    tmp = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:8]}{fmt}"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if fmt == ".csv":
            predictions_frame(outputs, info).to_csv(tmp, index=False)
        elif fmt == ".npy":
            np.save(tmp, outputs.reshape(-1) if info.task == "regression" else art.labels_from_outputs(outputs, info.task, info.threshold))
        elif info.task == "regression":
            np.savez(tmp, prediction=outputs.reshape(-1))
        else:
            np.savez(tmp, label=art.labels_from_outputs(outputs, info.task, info.threshold), probabilities=art.probabilities(outputs, info.task))
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PredictError(f"cannot write predictions to {output}: {(exc.strerror or str(exc)).lower()}; choose a writable path with --output") from None


def _read_table_rows(keras_model: Any, path: Path, out_path: Path | None, fmt: str) -> dict[str, np.ndarray]:
    """A model with named column inputs: raw CSV rows, matched to its inputs by column name."""
    from tuner.data.tables import read_csv
    from tuner.ml.table_layers import frame_inputs, model_columns

    if _format_of(path, "input") != ".csv" or fmt != ".csv":
        raise PredictError(f"a model trained on a CSV table reads and writes .csv files with named columns; give --input and --output as .csv (got {path.name} and {out_path.name if out_path else 'standard output'})")
    if not path.is_file():
        raise PredictError(f"input file {path} does not exist")
    return frame_inputs(read_csv(path), model_columns(keras_model), source=f"input {path}")


def predict_table(model: keras.Model, frame: pd.DataFrame, *, task: str, class_names: Sequence[str] = (), threshold: float | None = None, source: str = "the input") -> pd.DataFrame:
    """Score raw rows (a pandas DataFrame) with a table model: ``prediction`` and
    ``probability_<class>`` columns, indexed as ``frame``.

    A binary model's label uses ``threshold`` (default 0.5) on the positive class's probability.
    """
    from tuner.ml.table_layers import frame_inputs, model_columns
    from tuner.ml.training import predict

    columns = model_columns(model)
    if not columns:
        raise DatasetError("this model takes a feature matrix, not named columns; it was not trained on a CSV table")
    outputs = predict(model, frame_inputs(frame, columns, source=source))
    names = list(class_names) or [str(i) for i in range(max(outputs.shape[1], 2))]
    return art.predictions_frame(outputs, task=task, class_names=names if task != "regression" else (), threshold=threshold, index=frame.index)


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
) -> PredictResult:
    """Predict every row of ``input`` with ``model`` (or ``study``'s best trial) into ``output``.

    ``output`` None or ``"-"`` writes CSV to ``stdout`` (default: standard output).
    """
    from tuner.ml.training import predict

    to_stdout = output is None or os.fspath(output) == "-"
    out_path = None if to_stdout else Path(output)  # type: ignore[arg-type]
    fmt = ".csv" if out_path is None else _format_of(out_path, "output")
    check_input(input)  # before the model, which takes seconds to load
    keras_model, info, source = load_predictor(model=model, study=study, storage=storage, artifacts=artifacts)
    if isinstance(keras_model.input, dict):  # trained on a CSV table: one named input per column
        x: Any = _read_table_rows(keras_model, Path(input), out_path, fmt)
    else:
        expected = int(keras_model.inputs[0].shape[-1])
        if info.n_features != expected:  # a model.json from another model: trust the model
            info = art.ModelInfo.infer(keras_model)
        x = read_features(input, info, key=key)
    outputs = predict(keras_model, x)
    if out_path is None:
        buffer = io.StringIO()
        predictions_frame(outputs, info).to_csv(buffer, index=False)
        (stdout or sys.stdout).write(buffer.getvalue())
    else:
        _write(out_path, fmt, outputs, info, overwrite)
    labels = None if info.task == "regression" else art.labels_from_outputs(outputs, info.task, info.threshold)
    return PredictResult(len(outputs), "-" if out_path is None else os.fspath(out_path), source, info, labels, outputs)
