"""Keras inputs and layers for CSV tables, and raw rows → model inputs.

A table model takes one named input per column (numbers as float32 with NaN for missing) and
applies the preprocessing of a :class:`~tuner.data.table_schema.TableSchema` inside itself, so a
saved model scores raw rows whose columns come in any order. Categories go in as strings on
TensorFlow (a ``StringLookup`` layer); the other backends have no string tensors, so there a
category goes in as its id in the training vocabulary (0: unknown or missing, ``i + 1``: the
vocabulary's ``i``-th value, StringLookup's numbering) and a ``CategoryEncoding`` layer one-hot
encodes it. :func:`to_model_inputs` maps raw categories to ids with the vocabularies attached
to the model (:func:`attach_vocabularies`; a saved model's come from its ``model.json``).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.data.table_schema import NumericColumn, TableSchema
from tuner.data.tables import category_array, clean_text, numeric_array
from tuner.errors import DatasetError
from tuner.ml.backend import as_tensors, load_keras

if TYPE_CHECKING:
    import keras

#: Layer names the model uses; an input column with one of these names gets a suffixed tensor name.
_RESERVED_NAMES = re.compile(
    r"(dense|dropout|lookup)_\d+|probability|probabilities|standardized|prediction|numeric_columns|impute_and_scale|encoded"
)


@contextlib.contextmanager
def renamed_inputs_allowed() -> Iterator[None]:
    """Silence Keras' warning that a dict input's key differs from its tensor name.

    That happens only for columns whose names Keras cannot use as-is ("/" in the name, or a
    reserved layer name, see :func:`input_names`); the key stays the column's name on purpose.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="When providing `inputs` as a dict, all keys in the dict must match",
            category=UserWarning,
        )
        yield


def input_names(columns: Sequence[str]) -> dict[str, str]:
    """Column → Keras tensor name: the column's own name wherever Keras can use it."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        name = column.replace("/", "_") or "column"
        base, i = name, 1
        while _RESERVED_NAMES.fullmatch(name) or name in used:
            name = f"{base}_column" if i == 1 else f"{base}_column_{i}"
            i += 1
        used.add(name)
        out[column] = name
    return out


def table_inputs(schema: TableSchema) -> tuple[dict[str, Any], Any]:
    """Keras inputs (one per column) and the encoded tensor the MLP starts from."""
    keras = load_keras()

    names = input_names(schema.columns)
    inputs: dict[str, Any] = {}
    for col in schema.numeric:
        inputs[col.name] = keras.Input(shape=(1,), dtype="float32", name=names[col.name])
    strings = keras.backend.backend() == "tensorflow"
    for col in schema.categorical:
        inputs[col.name] = keras.Input(
            shape=(1,), dtype="string" if strings else "int32", name=names[col.name]
        )
    parts = []
    if schema.numeric:
        values = [inputs[c.name] for c in schema.numeric]
        raw = (
            keras.layers.Concatenate(name="numeric_columns")(values)
            if len(values) > 1
            else values[0]
        )
        parts.append(_impute_and_scale(schema.numeric)(raw))
    for j, col in enumerate(schema.categorical):
        if strings:
            lookup = keras.layers.StringLookup(
                vocabulary=list(col.vocabulary),
                num_oov_indices=1,
                output_mode="one_hot",
                name=f"lookup_{j}",
            )
        else:
            lookup = keras.layers.CategoryEncoding(
                num_tokens=len(col.vocabulary) + 1, output_mode="one_hot", name=f"lookup_{j}"
            )
        parts.append(lookup(inputs[col.name]))
    encoded = keras.layers.Concatenate(name="encoded")(parts) if len(parts) > 1 else parts[0]
    return inputs, encoded


def _impute_and_scale(numeric: Sequence[NumericColumn]) -> keras.Model:
    """Missing → training mean, then standardise; 0/1 indicators for columns with gaps.

    A nested model, so the names of its operations cannot clash with column names.
    """
    keras = load_keras()
    ops = keras.ops

    means = np.array([c.mean for c in numeric], dtype=np.float32)
    variances = np.array([c.variance for c in numeric], dtype=np.float32)
    values = keras.Input(shape=(len(numeric),), dtype="float32", name="values")
    missing = ops.isnan(values)
    filled = ops.where(missing, means, values)
    out = keras.layers.Normalization(mean=means, variance=variances, name="standardize")(filled)
    flagged = [i for i, c in enumerate(numeric) if c.indicator]
    if flagged:
        indicators = ops.cast(ops.take(missing, flagged, axis=1), "float32")
        out = keras.layers.Concatenate(name="with_indicators")([out, indicators])
    return keras.Model(values, out, name="impute_and_scale")


def to_model_inputs(x: Any, model: keras.Model | None = None) -> Any:
    """Column arrays as ``model`` takes them: category ids where it takes ids (see the module
    docstring), then tensors on TensorFlow (Keras refuses NumPy arrays of strings)."""
    if not isinstance(x, Mapping):
        return x
    ids = id_columns(model) if model is not None else []
    if ids:
        vocabularies = getattr(model, _VOCABULARIES, None)
        if vocabularies is None:
            raise DatasetError(
                f"this model takes category ids for the column{'s' if len(ids) > 1 else ''} "
                f"{', '.join(repr(c) for c in ids)} and has no vocabulary attached; load it with "
                "tuner.artifacts.load_model (which reads its model.json) or pass the ids"
            )
        x = {k: category_ids(v, vocabularies[k]) if k in ids else v for k, v in x.items()}
    return as_tensors(x)


# --------------------------------------------------------------------------- category ids

#: Attribute of a model holding its vocabularies (column → values), set by
#: :func:`attach_vocabularies`.
_VOCABULARIES = "_tuner_vocabularies"


def vocabularies(schema: TableSchema) -> dict[str, list[str]]:
    """Column → the training vocabulary, for each categorical column of ``schema``."""
    return {c.name: list(c.vocabulary) for c in schema.categorical}


def attach_vocabularies(model: keras.Model, columns: Mapping[str, Sequence[str]]) -> None:
    """Remember on ``model`` (an untracked attribute) the vocabularies its id inputs use."""
    object.__setattr__(model, _VOCABULARIES, {k: list(v) for k, v in columns.items()})


def attached_vocabularies(model: keras.Model) -> dict[str, list[str]] | None:
    """The vocabularies attached to ``model`` (None if none are): e.g. to pass on to a model
    built around it, ``attach_vocabularies(wrapper, attached_vocabularies(model) or {})``."""
    return getattr(model, _VOCABULARIES, None)


def id_columns(model: keras.Model) -> list[str]:
    """The columns ``model`` takes as integer category ids (none on a TensorFlow-built model)."""
    struct = model.input
    if not isinstance(struct, Mapping):
        return []
    return [name for name, t in struct.items() if "int" in str(t.dtype)]


def category_ids(values: Any, vocabulary: Sequence[str]) -> np.ndarray:
    """Raw categories → int32 ids, shaped (rows, 1): ``i + 1`` for ``vocabulary[i]``, 0 for
    anything else (unknown or missing). Integer arrays are taken as ids already."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32).reshape(-1, 1)
    found = pd.Index(list(vocabulary)).get_indexer(array.reshape(-1).astype(str))
    return (found + 1).astype(np.int32).reshape(-1, 1)


# -------------------------------------------------------------------------- raw rows → model inputs


def model_columns(model: keras.Model) -> dict[str, str]:
    """The columns a table model takes (name → numeric / categorical); empty for matrix models."""
    struct = model.input
    if not isinstance(struct, Mapping):
        return {}
    return {
        name: ("categorical" if str(t.dtype) == "string" or "int" in str(t.dtype) else "numeric")
        for name, t in struct.items()
    }


def frame_inputs(
    frame: pd.DataFrame, columns: Mapping[str, str], *, source: str = "the input"
) -> dict[str, np.ndarray]:
    """Model inputs from raw rows: the model's columns, in any order; other columns are ignored."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DatasetError(
            f"{source} lacks the column{'s' if len(absent) > 1 else ''} "
            f"{', '.join(repr(c) for c in absent)} that the model needs; it needs: "
            f"{', '.join(columns)}"
        )
    out = {}
    for name, kind in columns.items():
        values = frame[name]
        if kind == "numeric":
            try:
                out[name] = numeric_array(values, name)
            except DatasetError as exc:
                raise DatasetError(f"{source}: {exc}") from None
        else:
            out[name] = category_array(
                clean_text(values) if not pd.api.types.is_numeric_dtype(values) else values
            )
    return out


__all__ = [
    "attach_vocabularies",
    "attached_vocabularies",
    "category_ids",
    "frame_inputs",
    "id_columns",
    "input_names",
    "model_columns",
    "renamed_inputs_allowed",
    "table_inputs",
    "to_model_inputs",
    "vocabularies",
]
