"""The JAX training path (``tuner.ml.fused``): one compiled program per epoch, same effect as fit.

Keras fixes its backend once per process and this one runs TensorFlow, so the JAX facts are
gathered by one fresh process (``FACTS``) and each test asserts one of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tuner.cli import cli
from tuner.data.splits import row_weights
from tuner.ml import fused

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="needs JAX (pip install 'tuner[jax]')"
)

FACTS = textwrap.dedent(
    """
    import dataclasses, json
    import numpy as np
    from tuner.ml.backend import use_backend
    use_backend("jax")
    from tuner.config.parse import load_config
    from tuner.data.datasets import load_splits
    from tuner.errors import TrialDivergedError
    from tuner.ml import fused
    from tuner.ml.metrics import compute
    from tuner.ml.training import predict, train

    def config(path, **training):
        c = load_config(path)
        return dataclasses.replace(c, training=dataclasses.replace(c.training, **training))

    digits = config("studies/digits.toml", max_epochs=12)
    splits = load_splits(digits.data)
    net = {"n_layers": 2, "units_0": 48, "units_1": 24, "dropout": 0.1, "activation": "relu",
           "learning_rate": 3e-3, "batch_size": 64, "optimizer": "adam"}
    facts = {}
    for mode in ("off", "on"):
        before = fused.compiled_programs
        r = train(net, splits, dataclasses.replace(
            digits, training=dataclasses.replace(digits.training, fused=mode)), seed=3)
        kept = compute("accuracy", splits.y_val, predict(r.model, splits.x_val), splits.task)
        facts[mode] = {"value": r.best_value, "kept": kept, "epochs": r.epochs_run,
                       "best_epoch": r.best_epoch, "keys": sorted(r.history),
                       "compiled": fused.compiled_programs - before}
    before = fused.compiled_programs
    train(net, splits, digits, seed=4)  # the same network again: its program is reused
    facts["same_net_compiles"] = fused.compiled_programs - before
    wider = dict(net, units_0=64)
    train(wider, splits, digits, seed=4)
    facts["other_net_compiles"] = fused.compiled_programs - before

    stalled = {"n_layers": 1, "units_0": 8, "dropout": 0.0, "activation": "relu",
               "learning_rate": 1e-7, "batch_size": 32, "optimizer": "sgd"}
    iris = config("studies/iris.toml", max_epochs=5, patience=10, reduce_lr_patience=1,
                  reduce_lr_factor=0.5, fused="on")
    # the plain network's space: a space with recipe fields trains with model.fit
    iris = dataclasses.replace(iris, space=type(iris.space)())
    r = train(stalled, load_splits(iris.data), iris, seed=0)
    facts["rates"] = r.history["learning_rate"]
    facts["final_rate"] = float(r.model.optimizer.learning_rate)

    wild = dict(net, learning_rate=5.0, optimizer="sgd")  # regression with SGD at 5.0: NaN
    diabetes = config("studies/diabetes.toml", max_epochs=3, fused="on")
    try:
        train(wild, load_splits(diabetes.data), diabetes, seed=0)
        facts["diverged"] = None
    except TrialDivergedError as exc:
        facts["diverged"] = str(exc)
    print("FACTS " + json.dumps(facts))
    """
)


@pytest.fixture(scope="module")
def facts() -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run(
        [sys.executable, "-c", FACTS],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=Path(__file__).resolve().parents[1],  # FACTS reads the study files under studies/
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("FACTS "))
    return json.loads(line.removeprefix("FACTS "))


@needs_jax
def test_fused_training_matches_fit_and_keeps_the_best_epoch(facts: dict) -> None:
    off, on = facts["off"], facts["on"]
    assert off["compiled"] == 0 and on["compiled"] == 1  # "off" is model.fit; "on" compiles once
    assert on["keys"] == off["keys"]  # same history: loss, accuracy, val_*, learning_rate
    assert abs(on["value"] - off["value"]) < 0.04  # both ~0.96 on digits
    # Early stopping restored the best epoch's weights: the model scores the recorded value.
    assert on["kept"] == pytest.approx(on["value"])
    assert 0 <= on["best_epoch"] < on["epochs"] <= 12


@needs_jax
def test_a_program_is_compiled_once_per_network_shape(facts: dict) -> None:
    assert facts["same_net_compiles"] == 0
    assert facts["other_net_compiles"] == 1


@needs_jax
def test_learning_rate_reduction_acts_on_the_fused_path(facts: dict) -> None:
    np.testing.assert_allclose(facts["rates"], [1e-7, 1e-7, 5e-8, 2.5e-8, 1.25e-8], rtol=1e-5)
    assert facts["final_rate"] == pytest.approx(6.25e-9, rel=1e-5)


@needs_jax
def test_divergence_fails_the_trial_on_the_fused_path(facts: dict) -> None:
    assert facts["diverged"] and "became" in facts["diverged"]


def test_every_row_is_trained_once_an_epoch_and_the_last_batch_is_padded() -> None:
    rows, mask = fused._batches(10, 4, np.random.default_rng(0))
    assert rows.shape == mask.shape == (3, 4)
    real = rows[mask > 0]
    assert sorted(real.tolist()) == list(range(10))
    assert mask.sum() == 10 and mask[-1].tolist() == [1, 1, 0, 0]
    again, _ = fused._batches(10, 4, np.random.default_rng(1))
    assert again[mask > 0].tolist() != real.tolist()  # a new shuffle each epoch


def test_class_weights_become_row_weights() -> None:
    w = row_weights(np.array([0, 1, 1, 2]), {0: 2.0, 1: 0.5})
    assert w.tolist() == [2.0, 0.5, 0.5, 1.0]
    assert row_weights(np.array([0, 1]), None).tolist() == [1.0, 1.0]


def test_fused_on_needs_the_jax_backend(make_study, store: str) -> None:
    study = make_study(dataset="iris", epochs=1)
    text = study.read_text().replace("[training]", '[training]\nfused = "on"')
    study.write_text(text)
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--study",
            str(study),
            "--storage",
            store,
            "--trials",
            "1",
            "--backend",
            "tensorflow",
        ],
    )
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    assert 'fused = "on" runs only on the JAX backend' in message


@needs_jax
@pytest.mark.slow  # two JAX processes; the fused path's facts above run by default
def test_a_report_retrains_a_jax_trial_on_jax_and_reproduces_it(make_study, store: str) -> None:
    """No saved model: the report re-trains the trial on the study's backend (JAX here, while
    this environment says TensorFlow), so the continuous value is reproduced."""
    from procs import finish, start

    path = make_study(dataset="diabetes", objective='metric = "rmse"', epochs=3, trials=2)
    off = {"TUNER_ARTIFACTS": "off"}
    run = start("run", "--study", str(path), "--storage", store, "--backend", "jax", env=off)
    code, _, err = finish(run, timeout=300)
    assert code == 0, err[-2000:]
    report = start("report", "--study", "tiny", "--storage", store, "--out", "rep", env=off)
    code, _, err = finish(report, timeout=300)
    assert code == 0, err[-2000:]
    summary = json.loads(Path("rep/summary.json").read_text())
    check = summary["model"]["validation_check"]
    assert summary["model"]["source"] == "retrained"
    assert check["difference"] <= 1e-4 * max(1.0, abs(check["recorded"]))
