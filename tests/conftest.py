"""Shared fixtures: isolated working directory, tiny study files, throw-away stores.

Tests train real Keras models, on small data (scikit-learn's bundled sets or arrays made here)
for 1–3 epochs.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from study_text import builtin_study_text

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


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

    def make(
        name: str = "tiny",
        *,
        dataset: str = "iris",
        objective: str = "",
        data_extra: str = "",
        space_extra: str = "",
        epochs: int = 2,
        trials: int = 3,
        sampler: str = "tpe",
        pruner: str = "median",
        text: str | None = None,
    ) -> Path:
        path = tmp_path / f"{name}.toml"
        body = (
            text
            if text is not None
            else builtin_study_text(
                name,
                dataset=dataset,
                objective=objective,
                data_extra=data_extra,
                space_extra=space_extra,
                epochs=epochs,
                trials=trials,
                sampler=sampler,
                pruner=pruner,
            )
        )
        path.write_text(textwrap.dedent(body))
        return path

    return make


#: The Keras backends the core tests run on. Keras fixes its backend once per process, so this
#: process stays on TensorFlow and a test on another backend runs ``tuner`` in a fresh process.
TEST_BACKENDS = ("tensorflow", "jax")
#: The same, for a workflow that runs ``tuner`` several times: TensorFlow in the default tier,
#: the other backends (fresh processes each) in the slow tier.
TIERED_BACKENDS = [
    name if name == "tensorflow" else pytest.param(name, marks=pytest.mark.slow)
    for name in TEST_BACKENDS
]


@pytest.fixture(params=TEST_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """A Keras backend name; skipped where its package is not installed."""
    import importlib.util

    if importlib.util.find_spec(request.param) is None:
        pytest.skip(
            f"the {request.param} package is not installed (pip install 'tuner[{request.param}]')"
        )
    return request.param


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A SQLite URL in the test's folder."""
    return f"sqlite:///{tmp_path / 'store.db'}"


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL cluster on loopback for the whole session (see tests/pg.py)."""
    import pg

    try:
        server = pg.start_server()
    except pg.Unavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database on the test cluster; the URL has no password ($PGPASSWORD supplies it)."""
    import pg

    monkeypatch.setenv("PGPASSWORD", pg.PASSWORD)
    return pg_server.url(pg_server.create_database())


# -------------------------------------------------------------------------- reports and predictions


@pytest.fixture(autouse=True)
def _no_artifacts_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trial models go beside each test's store, whatever the shell says."""
    monkeypatch.delenv("TUNER_ARTIFACTS", raising=False)


def count_predictions(mp: pytest.MonkeyPatch) -> list:
    """Patch ``tuner.ml.training.predict`` (through ``mp``) to record each array it is handed.

    Returns the list the arrays go to, so a test can count how often a split was used.
    """
    import tuner.ml.training as training

    seen: list = []
    original = training.predict

    def counting(model, x):
        seen.append(x)
        return original(model, x)

    mp.setattr(training, "predict", counting)
    return seen


def run_tiny_study(folder: Path, name: str, **study_fields) -> tuple[str, str]:
    """Train a tiny study for real into ``folder``; return (study file path, store URL).

    For module-scoped fixtures: works on absolute paths and sets the same environment as the
    autouse ``_isolated`` fixture while it runs. ``study_fields`` go to :func:`builtin_study_text`.
    """
    fields = {"pruner": "none", **study_fields}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(builtin_study_text(name, **fields))
    return str(path), run_study_file(folder, path)


def run_study_file(folder: Path, path: Path) -> str:
    """Run the study file ``path`` for real from ``folder`` into ``folder/store.db``; return the
    store URL (the environment as in the autouse ``_isolated`` fixture)."""
    from tuner.run.runner import run_study

    url = f"sqlite:///{folder / 'store.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("TUNER_OFFLINE", "1")
        for var in ("TUNER_STORAGE", "TUNER_DATA_DIR", "TUNER_ARTIFACTS"):
            mp.delenv(var, raising=False)
        run_study(str(path), storage=url)
    return url


def build_tiny_report(folder: Path, name: str, **study_fields):
    """Train a tiny study into ``folder`` and write its report to ``folder/report``.

    Returns a namespace: folder, url, name, out, study, splits, summary, result.
    """
    import json
    from types import SimpleNamespace

    import optuna

    from tuner.data.datasets import load_splits
    from tuner.report.build import build_report
    from tuner.report.chosen_trial import stored_config

    _, url = run_tiny_study(folder, name, **study_fields)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("TUNER_OFFLINE", "1")
        result = build_report(name, storage=url, out=folder / "report")
    study = optuna.load_study(study_name=name, storage=url)
    summary = json.loads((folder / "report" / "summary.json").read_text())
    return SimpleNamespace(
        folder=folder,
        url=url,
        name=name,
        out=folder / "report",
        study=study,
        splits=load_splits(stored_config(study).data),
        summary=summary,
        result=result,
    )


@pytest.fixture(scope="session")
def binary_report(tmp_path_factory: pytest.TempPathFactory):
    """A two-trial breast_cancer study and its report (shared by the report and predict tests)."""
    return build_tiny_report(
        tmp_path_factory.mktemp("binary"), "cancer_report", dataset="breast_cancer", trials=2
    )
