"""Packed trials beyond multiclass: binary, regression and class-weighted tasks (JAX).

For each task a packed slot's exported Keras model predicts what the pack predicts, and the slot
learns like the same parameters trained alone by the ordinary trainer. As in
``test_packed_engine.py`` the JAX work runs once in a fresh process (this file as a script).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("jax")

from procs import jax_script  # noqa: E402

from tuner.config.schema import IntRange, SearchSpace  # noqa: E402

SPACE = SearchSpace(
    n_layers=IntRange(1, 2),
    units=IntRange(4, 32),
    activation=("relu", "tanh"),
    batch_size=(32,),
    optimizer=("adam",),
)
PARAMS = {
    "n_layers": 2,
    "units_0": 32,
    "units_1": 16,
    "dropout": 0.0,
    "activation": "relu",
    "learning_rate": 3e-3,
    "batch_size": 32,
    "optimizer": "adam",
}
OTHER = {**PARAMS, "n_layers": 1, "units_0": 8, "activation": "tanh"}
EPOCHS = 8
#: task name -> (dataset, objective task, metric, class_weight)
TASKS = {
    "binary": ("breast_cancer", "binary", "accuracy", None),
    "regression": ("diabetes", "regression", "rmse", None),
    "class_weights": ("breast_cancer", "binary", "accuracy", (("malignant", 3.0),)),
}


def _one_task(dataset: str, task: str, metric: str, class_weight: Any) -> dict[str, float]:
    from tuner.config.schema import DataConfig, ObjectiveConfig, StudyConfig, TrainingConfig
    from tuner.data.datasets import load_splits
    from tuner.data.splits import row_weights
    from tuner.ml.metrics import compute
    from tuner.ml.model import ModelSpec
    from tuner.ml.packed import PackedTrainer, PackShape
    from tuner.ml.training import predict, train

    direction = "minimize" if metric == "rmse" else "maximize"
    config = StudyConfig(
        name=f"packed_{task}",
        data=DataConfig(dataset, class_weight=class_weight),
        objective=ObjectiveConfig(task, metric, direction),
        space=SPACE,
        training=TrainingConfig(max_epochs=EPOCHS, reduce_lr_patience=0),
    )
    splits = load_splits(config.data)
    weights = row_weights(splits.y_train, splits.class_weight) if splits.class_weight else None
    pack = PackedTrainer(
        PackShape.for_space(SPACE, 2),
        ModelSpec.from_splits(splits),
        splits.x_train,
        splits.y_train,
        splits.x_val,
        sample_weight=weights,
    )
    pack.assign(0, PARAMS, seed=0)
    pack.assign(1, OTHER, seed=1)
    for _ in range(EPOCHS):
        losses = pack.run_epoch()
    packed_pred = pack.predict_val()[0]
    exported = predict(pack.to_keras(0, PARAMS), splits.x_val)
    alone = train(PARAMS, splits, config, seed=0, max_epochs=EPOCHS, fixed_epochs=True)
    return {
        # relative to the outputs' scale (a regressor's are in the target's units)
        "keras_gap": float(
            np.max(np.abs(np.asarray(exported) - np.asarray(packed_pred)))
            / max(1.0, float(np.max(np.abs(packed_pred))))
        ),
        "packed": float(compute(metric, splits.y_val, exported, splits.task)),
        "alone": float(compute(metric, splits.y_val, predict(alone.model, splits.x_val), task)),
        "finite": bool(np.all(np.isfinite(losses))),
        "weighted": splits.class_weight is not None,
    }


def scenario() -> dict[str, Any]:
    return {name: _one_task(*spec) for name, spec in TASKS.items()}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return jax_script(str(Path(__file__).resolve()), tmp_path_factory.mktemp("packed_tasks"))


@pytest.mark.parametrize("task", list(TASKS))
def test_the_exported_model_predicts_what_the_pack_predicts(measured, task: str) -> None:
    assert measured[task]["finite"]
    assert measured[task]["keras_gap"] < 1e-4, measured[task]


def test_class_weights_reach_the_pack(measured) -> None:
    assert measured["class_weights"]["weighted"] and not measured["binary"]["weighted"]


@pytest.mark.parametrize("task", ["binary", "class_weights"])
def test_a_packed_classifier_learns_like_the_same_trial_alone(measured, task: str) -> None:
    packed, alone = measured[task]["packed"], measured[task]["alone"]
    assert alone > 0.85 and abs(packed - alone) <= 0.05, measured[task]


def test_a_packed_regressor_learns_like_the_same_trial_alone(measured) -> None:
    packed, alone = measured["regression"]["packed"], measured["regression"]["alone"]
    assert abs(packed - alone) <= 0.15 * alone, measured["regression"]


if __name__ == "__main__":
    print(json.dumps(scenario()))
