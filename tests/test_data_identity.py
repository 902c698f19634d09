"""A CSV study's data file: stored relative to the study file with its content hash, so a
moved checkout resumes and a changed file is refused by name (even with --accept-changes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
import tabular_data as td
from click.testing import CliRunner

from tuner.cli import cli
from tuner.config.parse import load_config
from tuner.config.stored import stored_config
from tuner.errors import ConfigError
from tuner.keys import CONFIG_ATTR, DATA_ATTR, RUN_ATTR
from tuner.run.runner import join_study, prepare_study


def _project(root: Path, rows: int = 120) -> Path:
    """``root/studies/p.toml`` reading ``root/data/p.csv``; returns the study file."""
    td.write(td.patients(rows), root / "data" / "p.csv")
    (root / "studies").mkdir()
    return td.csv_study(root / "studies" / "p.toml", "../data/p.csv", "stroke", name="p")


def _attrs(store: str) -> dict:
    return optuna.load_study(study_name="p", storage=store).user_attrs


def test_the_path_is_stored_relative_with_the_files_hash_rows_and_columns(
    tmp_path: Path, store: str
) -> None:
    prepare_study(_project(tmp_path), storage=store)
    attrs = _attrs(store)
    assert attrs[CONFIG_ATTR]["data"]["path"] == "../data/p.csv"
    record = attrs[DATA_ATTR]
    assert record["path"] == "../data/p.csv" and record["study_dir"] == "studies"
    assert record["rows"] == 120 and record["columns"][:2] == ["id", "age"]
    assert len(record["sha256"]) == 64
    assert stored_config(attrs, "p").data.path == str(tmp_path / "data" / "p.csv")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda f: td.patients(180), "rows 120 -> 180"),
        (lambda f: f.assign(extra=1), "columns added: extra"),
        (lambda f: f.drop(columns=["city"]), "columns removed: city"),
        (lambda f: f.assign(age=f["age"] + 1), "content changed (same 120 rows and columns)"),
    ],
)
def test_a_changed_file_is_refused_by_name_even_with_accept_changes(
    tmp_path: Path, store: str, change, said: str
) -> None:
    study = _project(tmp_path)
    prepare_study(study, storage=store)
    before = _attrs(store)
    td.write(change(td.patients(120)), tmp_path / "data" / "p.csv")
    result = CliRunner().invoke(
        cli, ["run", "--study", str(study), "--storage", store, "--accept-changes", "--quiet"]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: CSV file data/p.csv changed since study 'p' first ran on it: {said}; its "
        "trials were scored on the old rows and cannot be ranked with new ones, so "
        "--accept-changes cannot record this: restore the file, or use a new [study] name\n"
    )
    after = optuna.load_study(study_name="p", storage=store)
    assert after.user_attrs == before and after.trials == []  # nothing written
    with pytest.raises(ConfigError, match="data/p.csv changed"):  # a worker refuses it too
        join_study("p", storage=store, trials=1)


def test_a_moved_checkout_resumes_and_its_workers_find_the_file(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    prepare_study(_project(tmp_path / "a"), storage=store)
    shutil.move(tmp_path / "a", tmp_path / "b")  # the same content, elsewhere
    monkeypatch.chdir(tmp_path / "b")
    prepared = prepare_study(Path("studies/p.toml"), storage=store)
    assert prepared.config.data.path == str(tmp_path / "b" / "data" / "p.csv")
    assert _attrs(store)[DATA_ATTR]["rows"] == 120
    assert stored_config(_attrs(store), "p").data.path == str(tmp_path / "b" / "data" / "p.csv")
    result = join_study("p", storage=store, trials=1)  # reads the file from the stored path
    assert result.n_finished == 1


def test_a_study_stored_with_an_absolute_path_and_no_hash_still_resumes(
    tmp_path: Path, store: str
) -> None:
    study = _project(tmp_path)
    config = load_config(study)
    old = optuna.create_study(study_name="p", storage=store, direction="maximize")
    stored = config.to_dict()
    del stored["name"], stored["description"]
    old.set_user_attr(CONFIG_ATTR, stored)  # as earlier versions stored it: the absolute path
    old.set_user_attr(RUN_ATTR, {"trials": 3, "timeout": None})
    assert stored["data"]["path"] == str(tmp_path / "data" / "p.csv")
    assert stored_config(old.user_attrs, "p").data.path == stored["data"]["path"]
    prepare_study(study, storage=store)
    attrs = _attrs(store)
    assert attrs[DATA_ATTR]["rows"] == 120  # recorded from now on
    assert attrs[CONFIG_ATTR]["data"]["path"] == "../data/p.csv"


def test_a_report_on_a_changed_file_is_refused_by_name(tmp_path: Path, store: str) -> None:
    from tuner.run.runner import run_study

    study = _project(tmp_path)
    run_study(study, storage=store, trials=1)
    td.write(td.patients(180), tmp_path / "data" / "p.csv")
    result = CliRunner().invoke(cli, ["report", "--study", "p", "--storage", store])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: CSV file data/p.csv changed since study 'p' first ran on it: rows 120 -> 180;"
    )
    assert not Path("reports").exists()
