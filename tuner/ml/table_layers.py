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
    r"(dense|dropout|lookup|norm|activation|adapter)_\d+|probability|probabilities|standardized"
    r"|prediction|numeric_columns|impute_and_scale|encoded|members|members_in"
)
#: ``numeric_encoding = "periodic"`` (Gorishniy et al. 2022, PLR): frequencies per column, their
#: initial spread, and the width each column's sin/cos features are mapped to.
PERIODIC_FREQUENCIES = 16
PERIODIC_SCALE = 0.1
PERIODIC_WIDTH = 16
#: ``numeric_encoding = "robust"``: the smooth clip ``x / sqrt(1 + (x / c)^2)`` keeps values
#: within about ±c (RealMLP's c = 3).
CLIP = 3.0


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


def table_inputs(
    schema: TableSchema, *, encoding: str = "standard", quantiles: np.ndarray | None = None
) -> tuple[dict[str, Any], Any]:
    """Keras inputs (one per column) and the encoded tensor the MLP starts from; numeric columns
    are encoded as ``encoding`` says (see :func:`encode_numeric`)."""
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
        parts.append(_impute_and_scale(schema.numeric, encoding, quantiles)(raw))
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


def _impute_and_scale(
    numeric: Sequence[NumericColumn],
    encoding: str = "standard",
    quantiles: np.ndarray | None = None,
) -> keras.Model:
    """Missing → training mean (median when robust), then encode (standardise by default);
    0/1 indicators for columns with gaps.

    A nested model, so the names of its operations cannot clash with column names.
    """
    keras = load_keras()
    ops = keras.ops

    means = np.array([c.mean for c in numeric], dtype=np.float32)
    variances = np.array([c.variance for c in numeric], dtype=np.float32)
    values = keras.Input(shape=(len(numeric),), dtype="float32", name="values")
    missing = ops.isnan(values)
    if encoding == "standard":
        filled = ops.where(missing, means, values)
        out = keras.layers.Normalization(mean=means, variance=variances, name="standardize")(filled)
    else:
        centre = means if quantiles is None else quantiles[1].astype(np.float32)
        filled = ops.where(missing, centre, values)
        out = encode_numeric(filled, encoding, means, variances, quantiles)
    flagged = [i for i, c in enumerate(numeric) if c.indicator]
    if flagged:
        indicators = ops.cast(ops.take(missing, flagged, axis=1), "float32")
        out = keras.layers.Concatenate(name="with_indicators")([out, indicators])
    return keras.Model(values, out, name="impute_and_scale")


def encode_numeric(
    x: Any, encoding: str, mean: np.ndarray, variance: np.ndarray, quantiles: np.ndarray | None
) -> Any:
    """Numeric columns (rows × columns, no gaps) → what the MLP takes, made of Keras' own layers
    and operations (they load in safe mode):

    - ``"standard"``: ``(x - mean) / std`` (a ``Normalization`` layer);
    - ``"robust"``: ``(x - median) / IQR`` (the standard deviation where the IQR is 0), then the
      smooth clip ``x / sqrt(1 + (x / 3)^2)`` (RealMLP, Holzmüller et al. 2024);
    - ``"periodic"``: standardised, then per column ``sin`` and ``cos`` of
      :data:`PERIODIC_FREQUENCIES` learned frequencies, a per-column linear map to
      :data:`PERIODIC_WIDTH` values and a ReLU (PLR, Gorishniy et al. 2022), flattened.
    """
    keras = load_keras()
    ops = keras.ops

    mean = np.asarray(mean, np.float32)
    variance = np.asarray(variance, np.float32)
    if encoding == "robust":
        if quantiles is None:
            raise ValueError('numeric_encoding = "robust" needs the columns\' quartiles')
        scale = (quantiles[2] - quantiles[0]).astype(np.float32)
        scale = np.where(scale > 1e-12, scale, np.sqrt(variance))
        scale = np.where(scale > 1e-6, scale, 1.0)
        x = keras.layers.Normalization(
            mean=quantiles[1].astype(np.float32), variance=np.square(scale), name="robust_scale"
        )(x)
        return ops.divide(x, ops.sqrt(ops.add(1.0, ops.square(ops.divide(x, CLIP)))))
    x = keras.layers.Normalization(mean=mean, variance=variance, name="standardize")(x)
    if encoding == "standard":
        return x
    n = x.shape[-1]
    angles = keras.layers.EinsumDense(
        "bn,nk->bnk",
        output_shape=(n, PERIODIC_FREQUENCIES),
        kernel_initializer=keras.initializers.RandomNormal(stddev=2 * np.pi * PERIODIC_SCALE),
        name="frequencies",
    )(x)
    periodic = keras.layers.Concatenate(name="sin_cos")([ops.sin(angles), ops.cos(angles)])
    embedded = keras.layers.EinsumDense(
        "bnk,nkd->bnd",
        output_shape=(n, PERIODIC_WIDTH),
        bias_axes="nd",
        activation="relu",
        name="periodic",
    )(periodic)
    return keras.layers.Flatten(name="embedded")(embedded)


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
    "encode_numeric",
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
