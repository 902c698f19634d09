"""What a new user trips over: slow commands that load what they do not need, lost id columns,
stray writes, silent acceptance, noisy libraries and unclear hints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import tabular_data as td
from click.testing import CliRunner

from tuner.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _modules_after(args: list[str], cwd: Path) -> dict:
    """Run ``tuner ARGS`` in a fresh process; its output, exit code and heavy modules loaded."""
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from tuner.cli import cli\n"
        f"r = CliRunner().invoke(cli, {args!r})\n"
        "print(json.dumps({'code': r.exit_code, 'output': r.output, 'loaded': sorted(m for m in "
        "('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def table_study(tmp_path_factory: pytest.TempPathFactory):
    """A CSV study with an id column, one trial trained, its model saved beside the store."""
    from tuner.run.runner import run_study

    folder = tmp_path_factory.mktemp("table")
    td.write(td.patients(120), folder / "p.csv")
    study = td.csv_study(folder / "p.toml", "p.csv", "stroke", name="p")
    url = f"sqlite:///{folder / 'store.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("TUNER_OFFLINE", "1")
        mp.delenv("TUNER_ARTIFACTS", raising=False)
        run_study(str(study), storage=url, trials=1)
    return folder, url


def test_predict_carries_the_id_column_and_kept_columns_first(table_study, tmp_path) -> None:
    folder, url = table_study
    rows = td.patients(6, seed=3).drop(columns=["stroke"])
    rows.to_csv(tmp_path / "new.csv", index=False)
    args = ["predict", "--study", "p", "--storage", url, "--input", str(tmp_path / "new.csv")]
    result = invoke(*args, "--output", "out.csv")
    assert result.exit_code == 0, result.output
    out = pd.read_csv("out.csv")
    assert list(out.columns) == ["id", "prediction", "probability_0", "probability_1"]
    assert list(out["id"]) == list(rows["id"])
    result = invoke(*args, "--keep", "city", "--output", "kept.csv")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv("kept.csv").columns)[:3] == ["id", "city", "prediction"]
    result = invoke(*args, "--keep", "town", "--output", "no.csv")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: --keep town: input {tmp_path / 'new.csv'} has no column 'town'; its columns "
        "are: id, age, bmi, smoker, city\n"
    )
    assert not Path("no.csv").exists()


def test_predict_refuses_bad_arguments_before_loading_keras(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "taken.csv").write_text("mine")
    (tmp_path / "m.keras").write_bytes(b"PK")
    taken = _modules_after(
        ["predict", "--model", "m.keras", "--input", "in.csv", "--output", "taken.csv"], tmp_path
    )
    assert taken["code"] == 1 and taken["loaded"] == []
    assert taken["output"] == (
        "Error: output file taken.csv already exists; pass --overwrite to replace it\n"
    )
    neither = _modules_after(["predict", "--input", "in.csv"], tmp_path)
    assert neither["code"] == 1 and neither["loaded"] == []
    assert neither["output"].startswith("Error: no model given: give --model PATH")
    (tmp_path / "ragged.csv").write_text("1,2\n1,2,3\n")
    ragged = _modules_after(["predict", "--model", "m.keras", "--input", "ragged.csv"], tmp_path)
    assert ragged["code"] == 1 and ragged["loaded"] == []
    assert ragged["output"].startswith("Error: input ragged.csv does not parse as CSV: ")


def test_studies_and_show_load_no_keras_backend(table_study) -> None:
    folder, url = table_study
    listed = _modules_after(["studies", "--storage", url], folder)
    assert listed["code"] == 0 and listed["output"].splitlines()[0].split()[0] == "study"
    assert listed["loaded"] == []
    shown = _modules_after(["show", "--study", "p", "--storage", url], folder)
    assert shown["code"] == 0 and shown["output"].startswith("Study 'p' in ")
    assert shown["loaded"] == []
