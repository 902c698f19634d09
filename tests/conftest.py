"""Shared fixtures: isolated working directory, tiny study files, throw-away stores.

Tests train real Keras models, on small data (scikit-learn's bundled sets or arrays made here)
for 1–3 epochs.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

TINY_STUDY = """
[study]
name = "{name}"

[data]
dataset = "{dataset}"
{data_extra}

[objective]
{objective}

[space]
n_layers = [1, 2]
units = {{ low = 4, high = 16, log = true }}
dropout = [0.0, 0.2]
activation = ["relu", "tanh"]
learning_rate = {{ low = 1e-3, high = 3e-2, log = true }}
batch_size = [32]
optimizer = ["adam"]
{space_extra}

[training]
max_epochs = {epochs}
patience = 2

[search]
trials = {trials}
sampler = "{sampler}"
pruner = "{pruner}"
seed = 0
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder, offline, with an empty Keras cache and no env store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for var in ("TUNER_STORAGE", "TUNER_DATA_DIR", "TUNER_DEBUG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def make_study(tmp_path: Path):
    """Write a tiny study file and return its path; keyword arguments fill the template."""

    def make(name: str = "tiny", *, dataset: str = "iris", objective: str = "", data_extra: str = "", space_extra: str = "", epochs: int = 2, trials: int = 3, sampler: str = "tpe", pruner: str = "median", text: str | None = None) -> Path:
        path = tmp_path / f"{name}.toml"
        body = text if text is not None else TINY_STUDY.format(name=name, dataset=dataset, objective=objective, data_extra=data_extra, space_extra=space_extra, epochs=epochs, trials=trials, sampler=sampler, pruner=pruner)
        path.write_text(textwrap.dedent(body))
        return path

    return make


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A SQLite URL in the test's folder."""
    return f"sqlite:///{tmp_path / 'store.db'}"
