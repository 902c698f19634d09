"""Packed trials (``tuner.ml.packed``): K padded MLPs trained in one compiled JAX program.

Keras fixes its backend once per process and this process runs TensorFlow, so the JAX checks
run once, in a fresh process (this file run as a script), on the digits dataset; it prints what
it measured as JSON and each test asserts one part of it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")

from procs import jax_script  # noqa: E402

from tuner.config.schema import IntRange, SearchSpace  # noqa: E402
from tuner.errors import ConfigError  # noqa: E402
from tuner.ml.model import ModelSpec  # noqa: E402
from tuner.ml.packed import PackedTrainer, PackShape  # noqa: E402

SPACE = SearchSpace(
    n_layers=IntRange(1, 3),
    units=IntRange(4, 32),
    activation=("relu", "tanh", "selu"),
    batch_size=(32, 64, 96),
    optimizer=("adam", "sgd"),
)
#: Three slots that differ in depth, widths, activation, dropout, optimizer and batch size.
SLOTS = [
    {
        "n_layers": 1,
        "units_0": 32,
        "dropout": 0.0,
        "activation": "relu",
        "learning_rate": 3e-3,
        "batch_size": 32,
        "optimizer": "adam",
    },
    {
        "n_layers": 3,
        "units_0": 20,
        "units_1": 9,
        "units_2": 16,
        "dropout": 0.2,
        "activation": "tanh",
        "learning_rate": 1e-2,
        "batch_size": 64,
        "optimizer": "sgd",
    },
    {
        "n_layers": 2,
        "units_0": 8,
        "units_1": 31,
        "dropout": 0.1,
        "activation": "selu",
        "learning_rate": 3e-3,
        "batch_size": 96,
        "optimizer": "adam",
    },
]
DIVERGING = {**SLOTS[0], "learning_rate": 1e30}  # Adam steps of ~1e30: overflow, NaN
#: Trained packed and alone for the same epochs: their validation accuracies are compared.
ALONE = {**SLOTS[0], "n_layers": 2, "units_1": 16, "dropout": 0.1}
ALONE_EPOCHS = 8


# --------------------------------------------------------------------------- the JAX process


def _padded_parts(weights: list[np.ndarray], shape: PackShape, n_features: int, params) -> list:
    """Views of the parts of one slot's padded ``weights`` outside its real network."""
    from tuner.ml.model import layer_widths

    widths, fan_in, parts = layer_widths(params), n_features, []
    for i in range(shape.max_layers):
        width = widths[i] if i < len(widths) else 0
        kernel, bias = weights[2 * i], weights[2 * i + 1]
        parts += [kernel[fan_in:], kernel[:, width:], bias[width:]]
        fan_in = width or fan_in
    return [*parts, weights[-2][fan_in:]]


def _padding(trainer: Any, slot: int, params: dict[str, Any]) -> list[np.ndarray]:
    return _padded_parts(trainer.snapshot(slot), trainer.shape, trainer.spec.n_features, params)


def _perturbed(trainer: Any, slot: int, params: dict[str, Any]) -> list[np.ndarray]:
    """``slot``'s weights with every padded entry set to random values."""
    weights, rng = trainer.snapshot(slot), np.random.default_rng(0)
    for view in _padded_parts(weights, trainer.shape, trainer.spec.n_features, params):
        view[...] = rng.normal(size=view.shape)
    return weights


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(pred, axis=-1) == np.asarray(y).reshape(-1)))


def _alone_accuracy(splits: Any) -> float:
    from tuner.config.schema import DataConfig, ObjectiveConfig, StudyConfig, TrainingConfig
    from tuner.ml.training import train

    config = StudyConfig(
        name="alone",
        data=DataConfig("digits"),
        objective=ObjectiveConfig("multiclass", "accuracy", "maximize"),
        space=SPACE,
        training=TrainingConfig(max_epochs=ALONE_EPOCHS, reduce_lr_patience=0),
    )
    result = train(ALONE, splits, config, seed=0, max_epochs=ALONE_EPOCHS, fixed_epochs=True)
    return _accuracy(np.asarray(result.model(splits.x_val, training=False)), splits.y_val)


def scenario() -> dict[str, Any]:
    """Two packs in step on the same rows; what the tests assert, measured."""
    from tuner.config.schema import DataConfig
    from tuner.data.datasets import load_splits

    splits = load_splits(DataConfig("digits"))
    spec = ModelSpec.from_splits(splits)
    shape = PackShape.for_space(SPACE, 4)
    packs = [PackedTrainer(shape, spec, splits.x_train, splits.y_train, splits.x_val) for _ in "ab"]
    one, two = packs
    for slot, params in enumerate(SLOTS):
        for pack in packs:
            pack.assign(slot, params, seed=slot + 1)
    one.assign(3, DIVERGING, seed=9)  # pack two leaves slot 3 idle
    out: dict[str, Any] = {"losses": [[p.run_epoch().tolist() for p in packs] for _ in range(2)]}

    # Keras models built from the slots predict what the pack predicts; padding is inert.
    pred = two.predict_val()
    out["keras_gap"] = [
        float(np.max(np.abs(np.asarray(two.to_keras(s, p)(splits.x_val)) - pred[s])))
        for s, p in enumerate(SLOTS)
    ]
    out["padding_max"] = [
        max(float(np.max(np.abs(part), initial=0.0)) for part in _padding(two, s, p))
        for s, p in enumerate(SLOTS)
    ]
    gaps = []
    for slot, params in enumerate(SLOTS):
        kept = two.snapshot(slot)
        two.restore(slot, _perturbed(two, slot, params))
        changed = not _same(two.snapshot(slot), kept)
        gaps.append((changed, float(np.max(np.abs(two.predict_val()[slot] - pred[slot])))))
        two.restore(slot, kept)
    out["perturbed"] = gaps

    # Re-assigning a slot: fresh weights and optimizer state, nothing else touched, no retrace.
    kept = [one.snapshot(s) for s in range(3)]
    for pack in packs:
        pack.assign(3, SLOTS[0], seed=5)
    out["reassign"] = {
        "others_kept": all(_same(one.snapshot(s), kept[s]) for s in range(3)),
        "fresh_equal": _same(one.snapshot(3), two.snapshot(3)),
        "fresh_finite": all(np.isfinite(w).all() for w in one.snapshot(3)),
    }
    out["losses_after_reassign"] = [p.run_epoch().tolist() for p in packs]
    out["traces"] = [p.traces for p in packs]

    # A learning rate set on one slot; a released slot.
    before = [[p.snapshot(s) for s in range(4)] for p in packs]
    two.set_learning_rate(0, 0.0)
    two.set_learning_rate(2, SLOTS[2]["learning_rate"] / 10)
    two.release(3)
    out["rates"] = [two.learning_rate(s) for s in range(4)]
    out["active"] = two.active
    out["losses_after_rate"] = [p.run_epoch().tolist() for p in packs]
    after = [[p.snapshot(s) for s in range(4)] for p in packs]

    def step(p: int, s: int) -> float:
        return float(
            sum(np.sum((a - b) ** 2) for a, b in zip(after[p][s], before[p][s], strict=True)) ** 0.5
        )

    out["steps"] = [[step(p, s) for s in range(4)] for p in range(2)]

    # One slot packed (beside others) vs the same parameters trained alone.
    one.assign(3, ALONE, seed=0)
    for _ in range(ALONE_EPOCHS):
        one.run_epoch()
    out["packed_accuracy"] = _accuracy(one.predict_val()[3], splits.y_val)
    out["alone_accuracy"] = _alone_accuracy(splits)
    try:
        one.assign(0, {**SLOTS[1], "n_layers": 4, "units_3": 8}, seed=0)
    except ConfigError as exc:
        out["too_deep"] = str(exc)
    out["traces_end"] = [p.traces for p in packs]
    return out


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return jax_script(str(Path(__file__).resolve()), tmp_path_factory.mktemp("packed"))


def test_keras_models_from_slots_predict_what_the_pack_predicts(measured) -> None:
    assert all(gap < 1e-4 for gap in measured["keras_gap"]), measured["keras_gap"]


def test_padded_weights_stay_zero_and_changing_them_changes_nothing(measured) -> None:
    assert measured["padding_max"] == [0.0, 0.0, 0.0]
    for changed, gap in measured["perturbed"]:
        assert changed
        assert gap == 0.0


def test_reassigning_a_slot_starts_it_fresh_without_retracing(measured) -> None:
    assert measured["reassign"] == {"others_kept": True, "fresh_equal": True, "fresh_finite": True}
    one, two = measured["losses_after_reassign"]
    # The reassigned slot trains like a fresh one (no diverged weights or optimizer state left).
    np.testing.assert_allclose(one, two, rtol=1e-6)
    assert measured["traces"] == [1, 1]
    assert measured["traces_end"] == [1, 1]


def test_a_diverging_slot_leaves_the_others_alone(measured) -> None:
    for one, two in measured["losses"]:
        np.testing.assert_allclose(one[:3], two[:3], rtol=1e-6)
        assert np.all(np.isfinite(one[:3]))
        assert np.isnan(two[3])  # idle
    assert all(np.isnan(one[3]) for one, _ in measured["losses"])


def test_set_learning_rate_changes_that_slot_only(measured) -> None:
    assert measured["rates"][0] == 0.0
    assert measured["rates"][1] == pytest.approx(SLOTS[1]["learning_rate"], rel=1e-6)
    assert measured["rates"][2] == pytest.approx(SLOTS[2]["learning_rate"] / 10, rel=1e-6)
    one, two = measured["steps"]
    assert two[0] == 0.0 < one[0]  # rate 0: the weights did not move
    assert two[1] == pytest.approx(one[1], rel=1e-6)
    assert one[1] > 0.0  # untouched slot: the same step in both packs
    assert two[2] < 0.5 * one[2]  # a tenth of the rate: a much smaller step
    assert two[3] == 0.0 < one[3]  # released
    assert measured["active"] == [True, True, True, False]
    loss_one, loss_two = measured["losses_after_rate"]
    assert loss_one[1] == pytest.approx(loss_two[1], rel=1e-6)
    assert np.isnan(loss_two[3])


def test_a_packed_slot_learns_like_the_same_trial_alone(measured) -> None:
    assert measured["alone_accuracy"] > 0.9
    assert (
        abs(measured["packed_accuracy"] - measured["alone_accuracy"]) <= 0.02
    )  # within 2 points on digits


def test_parameters_outside_the_pack_are_refused_in_one_line(measured) -> None:
    assert "4 layers (the pack holds 1 to 3)" in measured["too_deep"]
    assert "\n" not in measured["too_deep"]


def test_pack_shape_covers_the_space() -> None:
    shape = PackShape.for_space(SPACE, 4)
    assert shape == PackShape(4, 3, 32, 32, ("relu", "tanh", "selu"), ("adam", "sgd"))


def test_tables_and_other_backends_are_refused_in_one_line() -> None:
    spec = ModelSpec(2, "binary", 2, np.zeros(2), np.ones(2))
    shape = PackShape.for_space(SPACE, 2)
    x, y = np.zeros((64, 2), dtype=np.float32), np.zeros(64)
    with pytest.raises(ConfigError, match=r"packed trials need a matrix dataset; set \[training\]"):
        PackedTrainer(shape, dataclasses.replace(spec, table=object()), x, y, x)
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "jax":
        with pytest.raises(ConfigError, match="packed trials need the JAX backend"):
            PackedTrainer(shape, spec, x, y, x)


if __name__ == "__main__":
    print(json.dumps(scenario()))
