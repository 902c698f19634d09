"""The training recipe's ``[space]`` fields: weight decay, label smoothing, normalisation, the
cosine schedule, numeric encodings and shared-weight heads; each one's effect, the whole recipe
through run, report and predict on every backend, and the plain network when they are left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import TIERED_BACKENDS
from study_text import tiny_params, tiny_study_text
from tabular_data import patients, write

from tuner.cli import cli
from tuner.config.parse import config_from_dict, load_config, parse_config
from tuner.config.schema import DataConfig, StudyConfig
from tuner.data.datasets import load_splits
from tuner.errors import ConfigError
from tuner.ml.backend import load_keras
from tuner.ml.model import ModelSpec, build_model, count_params
from tuner.ml.training import predict, train, uses_fused

PLAIN = tiny_params()

RECIPE_SPACE = """
weight_decay = [0.0, 0.05]
label_smoothing = [0.0, 0.2]
normalization = ["batch", "layer"]
schedule = ["cosine"]
numeric_encoding = ["robust", "periodic"]
heads = [2, 3]
"""


def _config(dataset: str = "iris", space: str = "", **training: int) -> StudyConfig:
    import tomllib

    raw = tomllib.loads(f"[space]\n{space}")
    return parse_config(
        {
            "study": {"name": "recipe"},
            "data": {"dataset": dataset},
            "objective": {},
            "space": raw.get("space", {}),
            "training": {"max_epochs": 3, "patience": 3, **training},
        },
        source="recipe.toml",
    )


def _train(params: dict, dataset: str = "iris", epochs: int = 3, **kwargs):
    config = _config(dataset)
    return train(params, load_splits(config.data), config, seed=0, max_epochs=epochs, **kwargs)


# ----------------------------------------------------------------------------- left out


def test_leaving_the_fields_out_builds_and_trains_the_plain_network_exactly() -> None:
    """No recipe parameter: the same layers, weights and validation values as the plain
    network's (the one the fields' explicit "off" values also give)."""
    config = _config()
    assert not config.space.uses_recipe_fields
    assert not any(key in config.to_dict()["space"] for key in ("heads", "schedule"))
    plain = _train(PLAIN)
    names = [layer.name for layer in plain.model.layers]
    assert names == [
        "features",
        "normalize",
        "dense_0",
        "dropout_0",
        "dense_1",
        "dropout_1",
        "probabilities",
    ]
    off = {
        **PLAIN,
        "normalization": "none",
        "schedule": "plateau",
        "numeric_encoding": "standard",
        "heads": 1,
    }
    again = _train(off)
    assert [layer.name for layer in again.model.layers] == names
    for a, b in zip(plain.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert plain.history["val_accuracy"] == again.history["val_accuracy"]
    assert "learning_rate" in plain.history  # ReduceLROnPlateau, as without the fields


def test_recipe_fields_are_stored_compactly_and_round_trip() -> None:
    config = _config(space=RECIPE_SPACE)
    stored = json.loads(json.dumps(config.to_dict()))
    assert stored["space"]["heads"] == {"low": 2, "high": 3, "log": False}
    assert stored["space"]["normalization"] == ["batch", "layer"]
    assert config_from_dict(stored) == config
    assert config.space.uses_recipe_fields and not uses_fused(config)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ('normalization = ["group"]', "normalization has unknown value 'group'"),
        ("heads = 0", r"heads must lie within \[1, 64\]"),
        ("weight_decay = [-0.1, 0.1]", r"weight_decay must lie within \[0.0, 1.0\]"),
        ('schedule = "linear"', "schedule has unknown value 'linear'"),
    ],
)
def test_bad_recipe_values_are_refused_in_one_line(space: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(space=space)


def test_label_smoothing_is_refused_for_a_regression_and_fused_on_for_the_recipe() -> None:
    with pytest.raises(ConfigError, match="label_smoothing applies to classification"):
        _config("diabetes", space="label_smoothing = 0.1")
    with pytest.raises(ConfigError, match='fused = "on" trains the plain network only'):
        parse_config(
            {
                "study": {"name": "x"},
                "data": {"dataset": "iris"},
                "space": {"heads": 2},
                "training": {"fused": "on"},
            },
            source="x.toml",
        )


def test_start_entries_may_set_recipe_fields_the_space_names_only(tmp_path: Path) -> None:
    base = tiny_study_text(
        "start",
        data='dataset = "iris"',
        space_extra="heads = [1, 4]",
        search="trials = 1\nstart = [{ heads = 4, n_layers = 1 }]",
    )
    path = tmp_path / "start.toml"
    path.write_text(base)
    assert dict(load_config(path).search.start[0])["heads"] == 4
    path.write_text(base.replace("start = [{ heads = 4", "start = [{ schedule = 'cosine'"))
    with pytest.raises(ConfigError, match="schedule = 'cosine' sets a field that \\[space\\]"):
        load_config(path)


def test_packed_trials_refuse_the_recipe_fields() -> None:
    from tuner.search.packed import check_packable

    check_packable(_config())
    with pytest.raises(ConfigError, match="packed trials train the plain network"):
        check_packable(_config(space="normalization = ['batch']"))


# ----------------------------------------------------------------------------- each field


def test_weight_decay_shrinks_the_weights() -> None:
    def kernel_norm(params: dict) -> float:
        model = _train({**params, "batch_size": 8}, epochs=5, fixed_epochs=True).model
        return float(np.linalg.norm(model.get_layer("dense_0").get_weights()[0]))

    # ~60 steps at a rate of 0.01: a decay of 0.5 takes off about a quarter of each weight
    assert kernel_norm({**PLAIN, "weight_decay": 0.5}) < 0.9 * kernel_norm(
        {**PLAIN, "weight_decay": 0.0}
    )


def test_label_smoothing_changes_the_loss() -> None:
    splits = load_splits(DataConfig("iris"))
    spec = ModelSpec.from_splits(splits)
    y, confident = splits.y_val, np.eye(3)[splits.y_val] * 0.998 + 0.001
    plain = build_model(PLAIN, spec).loss(y, confident)
    smooth = build_model({**PLAIN, "label_smoothing": 0.2}, spec).loss(y, confident)
    assert float(smooth) > float(plain) + 0.1
    # A binary task smooths through Keras' own loss.
    binary = ModelSpec.from_splits(load_splits(DataConfig("breast_cancer")))
    assert build_model({**PLAIN, "label_smoothing": 0.1}, binary).loss.get_config()[
        "label_smoothing"
    ] == pytest.approx(0.1)


def test_four_heads_are_four_members_whose_mean_is_the_output() -> None:
    keras = load_keras()
    result = _train({**PLAIN, "heads": 4}, epochs=1)
    model = result.model
    members = keras.Model(model.input, model.get_layer("members").output)
    x = load_splits(DataConfig("iris")).x_val
    each = np.asarray(members(x, training=False))
    assert each.shape == (len(x), 4, 3)
    assert not np.allclose(each[:, 0], each[:, 1])  # members differ
    np.testing.assert_allclose(each.mean(axis=1), predict(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(each.sum(axis=2), 1.0, rtol=1e-5)
    # Shared hidden weights: one dense kernel per layer, per-member scales and outputs.
    assert model.get_layer("dense_0").get_weights()[0].shape == (4, 16)
    assert model.get_layer("adapter_0").get_weights()[0].shape == (4, 4)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == count_params({**PLAIN, "heads": 4}, 4, 3)
    diabetes = _train({**PLAIN, "heads": 3}, dataset="diabetes", epochs=1).model
    assert diabetes.output_shape == (None, 1)


@pytest.mark.parametrize(
    ("kind", "layer"), [("batch", "BatchNormalization"), ("layer", "LayerNormalization")]
)
def test_normalization_layers_follow_each_hidden_layer(kind: str, layer: str) -> None:
    model = _train({**PLAIN, "normalization": kind}, epochs=1).model
    assert [type(model.get_layer(f"norm_{i}")).__name__ for i in range(2)] == [layer, layer]
    assert model.get_layer("dense_0").get_config()["activation"] == "linear"
    assert model.get_layer("activation_0").get_config()["activation"] == "relu"


def test_cosine_schedule_lowers_the_rate_over_the_epochs() -> None:
    result = _train({**PLAIN, "schedule": "cosine"}, epochs=3, fixed_epochs=True)
    rates = result.history["learning_rate"]
    assert len(rates) == 3 and rates[0] > rates[1] > rates[2] >= 0.0
    assert rates[0] <= PLAIN["learning_rate"]


@pytest.mark.parametrize("encoding", ["robust", "periodic"])
def test_numeric_encodings_are_in_the_model_and_serialisable(encoding: str, tmp_path: Path) -> None:
    keras = load_keras()
    splits = load_splits(DataConfig("breast_cancer"))
    result = _train({**PLAIN, "numeric_encoding": encoding}, dataset="breast_cancer", epochs=1)
    model = result.model
    names = {layer.name for layer in model.layers}
    if encoding == "robust":
        scale = model.get_layer("robust_scale")
        median = np.median(splits.x_train, axis=0)
        np.testing.assert_allclose(np.asarray(scale.mean).reshape(-1), median, rtol=1e-5)
        encoded = keras.Model(model.input, model.get_layer("dense_0").input)
        values = np.asarray(encoded(splits.x_val * 100.0))
        assert np.all(np.abs(values) < 3.0 + 1e-4)  # smoothly clipped, even far outside
    else:
        assert {"frequencies", "periodic", "embedded"} <= names
        assert model.get_layer("embedded").output.shape[-1] == 30 * 16
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(
        predict(loaded, splits.x_val), predict(model, splits.x_val), rtol=1e-5, atol=1e-6
    )


# ----------------------------------------------------------------------------- the whole recipe


def _run(backend: str, *args: str) -> tuple[int, str, str]:
    if backend == "tensorflow":
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.stdout, result.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "tuner", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend},
        timeout=600,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("backend", TIERED_BACKENDS, indirect=True)
def test_a_study_with_every_field_runs_reports_and_predicts(
    backend: str, tmp_path: Path, store: str
) -> None:
    """A CSV table (numbers with gaps, categories) and a space with every recipe field: the
    report re-trains or reloads the chosen trial and checks its value; ``tuner predict`` and a
    bare safe-mode ``load_model`` read the exported model."""
    csv = write(patients(rows=240), tmp_path / "patients.csv")
    study = tmp_path / "recipe.toml"
    study.write_text(
        tiny_study_text(
            "recipe",
            data=f'dataset = "csv"\npath = "{csv}"\ntarget = "stroke"\nignore = ["id"]',
            space_extra=RECIPE_SPACE,
            epochs=2,
            search='trials = 2\nsampler = "random"\nseed = 0',
        )
    )
    code, out, err = _run(backend, "run", "--study", str(study), "--storage", store, "--quiet")
    assert code == 0, err
    code, out, err = _run(
        backend, "report", "--study", "recipe", "--storage", store, "--out", str(tmp_path / "rep")
    )
    assert code == 0, err  # the report checks that the export reproduces the trial's value
    model_file = tmp_path / "rep" / "model.keras"
    with zipfile.ZipFile(model_file) as archive:
        config = json.loads(archive.read("config.json"))
    assert {"members", "norm_0", "adapter_0"} <= _values(config, "name")
    modules = _values(config, "module")  # Keras' own classes only
    assert modules and all(m.split(".")[0] == "keras" for m in modules)
    rows = patients(rows=12, seed=5).drop(columns=["stroke"])
    write(rows, tmp_path / "rows.csv")
    code, out, err = _run(
        backend,
        "predict",
        "--model",
        str(model_file),
        "--input",
        str(tmp_path / "rows.csv"),
        "--output",
        str(tmp_path / "out.csv"),
    )
    assert code == 0, err
    probabilities = pd.read_csv(tmp_path / "out.csv").filter(like="probability_").to_numpy()
    assert probabilities.shape == (12, 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    if backend == "tensorflow":
        keras = load_keras()
        bare = keras.models.load_model(model_file, safe_mode=True)  # Keras' own layers only
        assert {"members", "norm_0"} <= {layer.name for layer in bare.layers}


def _values(node: object, key: str) -> set[str]:
    """Every string value of ``key`` in a saved model's config (a tree of dicts and lists)."""
    if isinstance(node, dict):
        found = {node[key]} if isinstance(node.get(key), str) else set()
        return found.union(*(_values(v, key) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_values(v, key) for v in node))
    return set()


def test_init_searches_the_recipe_on_small_tables_only(tmp_path: Path) -> None:
    from tuner.init_study import init_study
    from tuner.init_study.study_text import RECIPE_BELOW_ROWS, _search_lines

    write(patients(rows=300), tmp_path / "patients.csv")
    cfg = load_config(init_study("patients.csv", "stroke").path)
    assert cfg.space.heads is not None and cfg.space.label_smoothing is not None
    assert cfg.space.numeric_encoding == ("standard", "robust", "periodic")
    regression = "\n".join(_search_lines(500, False, classify=False))
    assert "heads = [1, 8]" in regression and "label_smoothing" not in regression
    assert "heads =" not in "\n".join(_search_lines(RECIPE_BELOW_ROWS, False))
