"""One Keras model whose output is the weighted average of several models' outputs.

Built from built-in layers only (each member nested whole, a ``Rescaling`` by its weight, an
``Add``), so it saves as ``.keras`` and loads in Keras' safe mode without any code of this
package. Raw rows in, each member's own preprocessing inside it. Used for the report's greedy
ensembles and for the fold models of a cross-validated trial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tuner.errors import TunerError
from tuner.ml.backend import load_keras

if TYPE_CHECKING:
    import keras


def _signature(model: keras.Model) -> Any:
    """The model's inputs as comparable data: (name, shape, dtype), keyed as the model takes
    them."""

    def describe(t: Any) -> tuple[str, tuple[int | None, ...], str]:
        return (t.name, tuple(t.shape), str(t.dtype))

    struct = model.input
    if isinstance(struct, dict):
        return {key: describe(t) for key, t in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [describe(t) for t in struct]
    return describe(struct)


def _fresh_inputs(model: keras.Model) -> Any:
    """New ``keras.Input`` tensors with the same structure, names, shapes and dtypes as
    ``model``'s."""
    keras = load_keras()

    def fresh(t: Any) -> Any:
        return keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=t.name)

    struct = model.input
    if isinstance(struct, dict):
        return {key: fresh(t) for key, t in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [fresh(t) for t in struct]
    return fresh(struct)


def _check_members(
    models: Sequence[keras.Model],
    weights: Sequence[float],
    names: Sequence[str],
    error: type[TunerError],
) -> list[float]:
    if len(models) == 0:
        raise error("an ensemble needs at least one model; none were given")
    if len(weights) != len(models) or len(names) != len(models):
        raise error(
            f"got {len(models)} models, {len(weights)} weights and {len(names)} names; give one "
            "weight and one name per model"
        )
    if len(set(names)) != len(names):
        raise error(f"ensemble member names must be unique, got {', '.join(names)}")
    values = [float(w) for w in weights]
    if any(not math.isfinite(w) or w < 0 for w in values) or sum(values) <= 0:
        raise error(f"ensemble weights must be finite, non-negative and not all 0, got {values}")
    first = _signature(models[0])
    for name, model in zip(names[1:], models[1:], strict=True):
        if _signature(model) != first:
            raise error(
                f"ensemble member {name} takes inputs {_signature(model)}, the first member takes "
                f"{first}; all members must come from the same study and data"
            )
    total = sum(values)
    return [w / total for w in values]


def average_model(
    models: Sequence[keras.Model],
    weights: Sequence[float],
    names: Sequence[str],
    *,
    name: str = "average",
    error: type[TunerError] = TunerError,
) -> keras.Model:
    """One functional model whose output is the weighted average of the members' outputs.

    Its inputs copy the first member's (one matrix input, or one named input per CSV column);
    every member must take the same, else ``error`` is raised. Weights are scaled to sum to 1.
    Members are nested under ``names`` (unique). The members themselves are not changed; the
    result shares their weights.
    """
    keras = load_keras()

    scaled = _check_members(models, weights, names, error)
    inputs = _fresh_inputs(models[0])
    parts = []
    for member, member_name, weight in zip(models, names, scaled, strict=True):
        if weight == 0:
            continue
        nested = keras.Model(member.input, member.output, name=member_name)
        parts.append(
            keras.layers.Rescaling(scale=weight, name=f"weight_{member_name}")(nested(inputs))
        )
    output = keras.layers.Add(name="weighted_average")(parts) if len(parts) > 1 else parts[0]
    return keras.Model(inputs, output, name=name)


__all__ = ["average_model"]
