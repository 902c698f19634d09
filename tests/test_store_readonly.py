"""Only `tuner run` creates a store: every other command refuses a store that does not exist,
names it and the .db files beside it, and leaves no file or folder behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tuner.cli import cli
from tuner.config.parse import load_config
from tuner.errors import StorageError
from tuner.run.runner import create_or_load_study
from tuner.storage import open_existing_storage, open_storage

GOOD = "sqlite:///storage/tuner.db"
TYPO = "sqlite:///storage/tunr.db"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _tree(root: Path) -> set[str]:
    """Every path under ``root``, but the good store's own journal files (SQLite's, transient)."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if not p.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture
def stored(make_study, tmp_path: Path) -> Path:
    """A store at storage/tuner.db holding the study 'tiny' (no trial run), and an input file."""
    create_or_load_study(load_config(make_study(trials=1, epochs=1)), open_storage(GOOD))
    (tmp_path / "rows.csv").write_text("1,2,3,4\n")
    return tmp_path


READ_ONLY = [
    ("studies",),
    ("show", "--study", "tiny"),
    ("report", "--study", "tiny"),
    ("dashboard",),
    ("dashboard", "--study", "tiny", "--port", "0"),
    ("predict", "--study", "tiny", "--input", "rows.csv"),
    ("worker", "--study", "tiny"),
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_store_is_refused_and_nothing_is_created(
    stored: Path, args: tuple[str, ...]
) -> None:
    before = _tree(stored)
    result = invoke(*args, "--storage", TYPO)
    assert result.exit_code == 1
    assert result.output == "Error: no store at storage/tunr.db; .db files in storage/: tuner.db\n"
    assert _tree(stored) == before


@pytest.mark.parametrize(
    "args", [("studies",), ("show", "--study", "tiny")], ids=["studies", "show"]
)
def test_a_store_in_a_missing_folder_is_refused_and_no_folder_is_made(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = invoke(*args, "--storage", "sqlite:///stores/tuner.db")
    assert result.exit_code == 1
    assert (
        result.output == "Error: no store at stores/tuner.db; the folder stores/ does not exist\n"
    )
    assert not (tmp_path / "stores").exists()


def test_the_environment_store_is_checked_the_same_way(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNER_STORAGE", "sqlite:///storage/other.db")
    result = invoke("studies")
    assert result.exit_code == 1
    assert result.output == "Error: no store at storage/other.db; .db files in storage/: tuner.db\n"
    assert not (stored / "storage" / "other.db").exists()


def test_open_existing_storage_opens_a_store_that_exists(stored: Path, tmp_path: Path) -> None:
    assert open_existing_storage(GOOD).get_study_id_from_name("tiny") >= 0
    (tmp_path / "storage" / "b.db").write_bytes(b"")
    with pytest.raises(
        StorageError, match=r"^no store at storage/c\.db; \.db files in storage/: b\.db, tuner\.db$"
    ):
        open_existing_storage("sqlite:///storage/c.db")


def test_run_still_creates_its_store(make_study, tmp_path: Path) -> None:
    result = invoke(
        "run",
        "--study",
        str(make_study(trials=1, epochs=1)),
        "--storage",
        "sqlite:///new/place.db",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "place.db").is_file()


def test_studies_counts_waiting_trials_in_their_own_column(stored: Path) -> None:
    import optuna

    study = optuna.load_study(study_name="tiny", storage=GOOD)
    study.enqueue_trial({"n_layers": 1})
    study.enqueue_trial({"n_layers": 2})
    result = invoke("studies", "--storage", GOOD)
    assert result.exit_code == 0, result.output
    header, _, row = result.output.splitlines()[:3]
    assert header.split()[:7] == [
        "study",
        "direction",
        "complete",
        "pruned",
        "failed",
        "running",
        "waiting",
    ]
    assert row.split()[:7] == ["tiny", "maximize", "0", "0", "0", "0", "2"]
