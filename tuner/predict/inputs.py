"""Input rows for a model: CSV, NPY or NPZ files read and checked against what it expects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tuner import artifacts as art
from tuner.errors import PredictError, first_line

FORMATS = (".csv", ".npy", ".npz")
#: Array names tried, in order, in an ``.npz`` input that holds several arrays.
NPZ_KEYS = ("x", "X", "features", "x_test", "inputs")
_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK"}


def _format_of(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PredictError(
            f"{what} {path} has an unsupported extension '{suffix or '(none)'}'; use one of: "
            f"{', '.join(FORMATS)}"
        )
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


def _raw_rows(path: Path, n_features: int | None = None) -> Any:
    """A CSV input's cells as text, header row included, or a one-line :class:`PredictError`."""
    import pandas as pd

    try:
        return pd.read_csv(
            path, header=None, dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except pd.errors.EmptyDataError:
        each = f"one row of {n_features} features" if n_features else "one row of features"
        raise PredictError(f"input {path} is empty; give {each} per line") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise PredictError(f"input {path} does not parse as CSV: {first_line(exc)}") from None


def _read_csv(path: Path, info: art.ModelInfo) -> np.ndarray:
    import pandas as pd

    raw = _raw_rows(path, info.n_features)
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
            raise PredictError(
                f"input {path} lacks the feature columns "
                f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}; its header must "
                f"name all {len(names)} features"
            )
    if body.shape[1] != info.n_features:
        raise PredictError(
            f"input {path} has {body.shape[1]} columns, but the model expects {info.n_features} "
            f"features{_feature_hint(info)}; give exactly those columns in training order, or a "
            "header that names them"
        )
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
            what = (
                "is empty"
                if not isinstance(cell, str) or cell == ""
                else f"holds {cell!r}, not a number"
            )
            raise PredictError(
                f"input {path}: line {first_row_line + i}, {label} {what}; every feature must be "
                "a number"
            )
        values[:, j] = numbers.to_numpy(dtype=np.float32)
    return values


def check_input(input: str | os.PathLike[str]) -> Path:
    """The input file, checked before any model is loaded: a known extension, an existing
    readable file, and a CSV that parses or, for ``.npy``/``.npz``, NumPy's file header."""
    path = Path(input)
    fmt = _format_of(path, "input")
    if not path.is_file():
        raise PredictError(
            f"input {path} is not a file; give a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} file"
            if path.exists()
            else f"input file {path} does not exist"
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise PredictError(
            f"input {path} cannot be read: {(exc.strerror or str(exc)).lower()}; check its "
            "permissions"
        ) from None
    if fmt in _MAGIC and not head.startswith(_MAGIC[fmt]):
        raise PredictError(
            f"input {path} does not parse as {fmt}: it lacks the {fmt} file header; write it with "
            f"numpy.{'save' if fmt == '.npy' else 'savez'}, or give a .csv"
        )
    if fmt == ".csv":
        _raw_rows(path)  # it parses
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
                raise PredictError(
                    f"input {path} has no array '{key}'; it holds: {', '.join(names) or 'nothing'}"
                )
            chosen = key
        elif len(names) == 1:
            chosen = names[0]
        else:
            chosen = next((k for k in NPZ_KEYS if k in names), None)
            if chosen is None:
                raise PredictError(
                    f"input {path} holds several arrays ({', '.join(names) or 'none'}); choose "
                    "one with --key"
                )
        try:
            return npz[chosen]
        except ValueError as exc:
            raise PredictError(
                f"input {path}: array '{chosen}' cannot be read without pickle ({exc})"
            ) from None


def read_features(
    path: str | os.PathLike[str], info: art.ModelInfo, *, key: str | None = None
) -> np.ndarray:
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
            raise PredictError(
                f"input {path} holds an array of shape {tuple(np.shape(x))}, but the model "
                f"expects rows of {info.n_features} features{_feature_hint(info)}"
            )
        x = x.astype(np.float32)
    if len(x) == 0:
        raise PredictError(f"input {path} has no rows")
    finite = np.isfinite(x)
    if not finite.all():
        row = int(np.argmax(~finite.all(axis=1)))
        raise PredictError(
            f"input {path} has a missing or infinite value in row {row + 1}; fill or drop it"
        )
    return x


def _read_table_rows(
    keras_model: Any, path: Path, out_path: Path | None, fmt: str
) -> dict[str, np.ndarray]:
    """A model with named column inputs: raw CSV rows, matched to its inputs by column name."""
    from tuner.data.tables import read_csv
    from tuner.ml.table_layers import frame_inputs, model_columns

    if _format_of(path, "input") != ".csv" or fmt != ".csv":
        raise PredictError(
            "a model trained on a CSV table reads and writes .csv files with named columns; give "
            f"--input and --output as .csv (got {path.name} and "
            f"{out_path.name if out_path else 'standard output'})"
        )
    if not path.is_file():
        raise PredictError(f"input file {path} does not exist")
    return frame_inputs(read_csv(path), model_columns(keras_model), source=f"input {path}")
