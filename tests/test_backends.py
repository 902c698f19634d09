"""Keras backends: choosing one, recording it on the study, and the core workflow on each.

This process runs Keras on TensorFlow; Keras fixes its backend once per process, so a workflow
on another backend runs ``tuner`` in fresh processes (see the ``backend`` fixture).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import TIERED_BACKENDS
from tabular_data import csv_study, patients, write

from tuner.cli import cli
from tuner.config.parse import load_config, with_overrides
from tuner.errors import ConfigError
from tuner.ml import backend as backend_mod
from tuner.ml.table_layers import category_ids
from tuner.run import local


def tuner(backend: str, *args: str, timeout: float = 300) -> tuple[int, str, str]:
    """``tuner ARGS`` on ``backend``: in this process on TensorFlow, else in a fresh process."""
    if backend == "tensorflow":
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.stdout, result.stderr
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run(
        [sys.executable, "-m", "tuner", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def stored_backend(store: str, name: str) -> str | None:
    """The backend recorded on the study (None: TensorFlow)."""
    from tuner.config.stored import stored_config

    config = stored_config(optuna.load_study(study_name=name, storage=store).user_attrs, name)
    assert config is not None
    return config.training.backend


# --------------------------------------------------------------------------- choosing the backend


def test_backend_precedence_flag_then_study_file_then_env_then_tensorflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend_mod.resolve_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backend_mod.resolve_backend() == "jax"
    assert backend_mod.resolve_backend(None, "torch") == "torch"
    assert backend_mod.resolve_backend("tensorflow", "torch") == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    with pytest.raises(
        ConfigError,
        match=(
            r"unknown Keras backend 'numpy' \(from \$KERAS_BACKEND\); choose one of: tensorflow, "
            r"jax, torch"
        ),
    ):
        backend_mod.resolve_backend()


def test_a_second_backend_in_one_process_is_refused_in_one_line() -> None:
    backend_mod.load_keras()  # this process runs on TensorFlow
    backend_mod.use_backend("tensorflow")
    with pytest.raises(ConfigError) as err:
        backend_mod.use_backend("jax")
    assert str(err.value) == (
        "Keras was already imported with backend tensorflow in this process; start a new "
        "process or set KERAS_BACKEND=jax"
    )


def test_a_missing_backend_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        backend_mod.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    with pytest.raises(ConfigError) as err:
        backend_mod.check_installed("torch")
    assert str(err.value) == (
        "the Keras backend 'torch' needs the torch package, which is not installed; install "
        "it with: pip install 'tuner[torch]'"
    )


def test_the_study_file_backend_is_validated_and_stored_compactly(make_study) -> None:
    path = make_study("chosen")
    config = load_config(path)
    assert config.training.backend is None and "backend" not in config.to_dict()["training"]
    jax_config = with_overrides(config, backend="jax")
    assert (
        jax_config.training.backend == "jax"
        and jax_config.to_dict()["training"]["backend"] == "jax"
    )
    path.write_text(path.read_text().replace("[training]\n", '[training]\nbackend = "theano"\n'))
    with pytest.raises(ConfigError, match="backend"):
        load_config(path)


def test_worker_environment_per_backend_and_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    tf_env = backend_mod.worker_env("tensorflow", 2, "1")
    assert (
        tf_env["TF_NUM_INTRAOP_THREADS"] == "2"
        and tf_env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        and tf_env["CUDA_VISIBLE_DEVICES"] == "1"
    )
    jax_env = backend_mod.worker_env("jax", 1, "0")
    assert jax_env["KERAS_BACKEND"] == "jax" and jax_env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert jax_env["XLA_FLAGS"].split() == [
        "--xla_cpu_multi_thread_eigen=false",
        "intra_op_parallelism_threads=1",
    ]
    assert "XLA_FLAGS" not in tf_env and "TF_NUM_INTRAOP_THREADS" not in backend_mod.worker_env(
        "torch", 1, None
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert backend_mod.visible_gpus() == ["2", "3"]
    # Five workers on two GPUs: every GPU in turn, several workers per GPU.
    assert [gpu for _, gpu in local.worker_devices(5, 4)] == ["2", "3", "2", "3", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert local.worker_devices(2, 1) == [(1, None), (1, None)]


def test_category_ids_follow_string_lookup_numbering() -> None:
    ids = category_ids(np.array([["b"], [""], ["zzz"], ["a"]], dtype=object), ["a", "b"])
    assert ids.dtype == np.int32 and ids.ravel().tolist() == [2, 0, 0, 1]  # 0: unknown or missing


# --------------------------------------------------------------------- the workflow on each backend


@pytest.mark.parametrize("backend", TIERED_BACKENDS, indirect=True)
def test_table_study_run_resume_report_and_predict(
    backend: str, tmp_path: Path, store: str
) -> None:
    """A CSV table with categories and gaps: run, resume, report, then predict raw rows here."""
    from tuner.artifacts import load_model

    csv = write(patients(rows=240), tmp_path / "patients.csv")
    study = csv_study(tmp_path / "table.toml", str(csv), "stroke", data='ignore = ["id"]', epochs=1)
    code, out, err = tuner(
        backend,
        "run",
        "--study",
        str(study),
        "--storage",
        store,
        "--trials",
        "1",
        "--backend",
        backend,
        "--quiet",
    )
    assert code == 0, err
    assert "1 finished" in out
    # Resume without the flag: $KERAS_BACKEND chooses (set for a process on another backend).
    code, out, err = tuner(
        backend, "run", "--study", str(study), "--storage", store, "--trials", "2", "--quiet"
    )
    assert code == 0, err
    assert "2 finished" in out
    assert stored_backend(store, "table") == (None if backend == "tensorflow" else backend)
    code, out, err = tuner(
        backend, "report", "--study", "table", "--storage", store, "--out", str(tmp_path / "rep")
    )
    assert code == 0, (
        err
    )  # the report checks that the exported model reproduces its validation value
    info = json.loads((tmp_path / "rep" / "model.json").read_text())
    assert info["vocabularies"]["smoker"] == ["current", "former", "never"]
    model = load_model(tmp_path / "rep" / "model.keras")  # loads here, on TensorFlow
    assert str(model.input["smoker"].dtype) == ("string" if backend == "tensorflow" else "int32")
    rows = patients(rows=12, seed=5).drop(columns=["stroke"])
    rows.loc[1] = rows.loc[0]
    rows.loc[0, "city"], rows.loc[1, "city"] = "atlantis", None  # unseen and missing: one id
    write(rows, tmp_path / "rows.csv")
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--model",
            str(tmp_path / "rep" / "model.keras"),
            "--input",
            str(tmp_path / "rows.csv"),
            "--output",
            str(tmp_path / "out.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(tmp_path / "out.csv")
    probabilities = predicted.filter(like="probability_").to_numpy()
    assert probabilities.shape == (12, 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities[0], probabilities[1], rtol=1e-5)


@pytest.mark.slow  # three JAX processes; test_packed runs two JAX workers by default
def test_two_jax_workers_run_the_digits_study_chosen_in_the_study_file(
    make_study, store: str
) -> None:
    if importlib.util.find_spec("jax") is None:
        pytest.skip("the jax package is not installed (pip install 'tuner[jax]')")
    path = make_study("digits_jax", dataset="digits", epochs=1, trials=2)
    path.write_text(path.read_text().replace("[training]\n", '[training]\nbackend = "jax"\n'))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuner",
            "run",
            "--study",
            str(path),
            "--storage",
            store,
            "--workers",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env={**env, "TUNER_ARTIFACTS": "off"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 finished" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("worker ")]
    assert len(lines) == 2 and all(
        re.fullmatch(rf"worker {i}: CPU, \d+ threads?, jax", line) for i, line in enumerate(lines)
    ), lines
    assert stored_backend(store, "digits_jax") == "jax"


def test_torch_smoke(make_study, store: str) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the torch package is not installed (pip install 'tuner[torch]')")
    path = make_study("iris_torch", epochs=1, trials=1)
    code, out, err = tuner(
        "torch", "run", "--study", str(path), "--storage", store, "--backend", "torch", "--quiet"
    )
    assert code == 0, err
    assert "1 finished" in out
    assert stored_backend(store, "iris_torch") == "torch"
