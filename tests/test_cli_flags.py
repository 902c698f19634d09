"""Flags checked by click from the library's own limits, a light start-up, and clear messages for
a wrong store, a wrong study setting and a wrong `tuner predict` input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from tuner.cli import cli
from tuner.config.choices import MAX_EPOCHS, MAX_SEED, MAX_WORKERS
from tuner.search.samplers import PRUNER_NAMES, SAMPLER_NAMES

HEAVY = "{'optuna','sklearn','pandas','keras','tensorflow','tqdm','sqlalchemy'}"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _option(command: str, flag: str) -> click.Option:
    params = cli.get_command(click.Context(cli), command).params
    return next(p for p in params if isinstance(p, click.Option) and flag in p.opts)


# --------------------------------------------------------------------------- start-up


def test_importing_the_command_line_loads_no_heavy_library() -> None:
    code = (
        "import tuner.cli, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_commands_help_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from tuner.cli import cli\n"
        "for name in sorted(cli.commands):\n"
        "    try:\n"
        "        cli.main([name, '--help'], prog_name='tuner')\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (name, exc.code)\n"
        f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY}}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "LOADED []"


# --------------------------------------------------------------------------- ranges and choices


def test_numeric_flags_are_ranges_from_the_library_limits() -> None:
    expected = {
        ("run", "--workers"): (1, MAX_WORKERS),
        ("run", "--epochs"): (1, MAX_EPOCHS),
        ("run", "--seed"): (0, MAX_SEED),
        ("run", "--trials"): (1, None),
        ("worker", "--trials"): (1, None),
        ("report", "--trial"): (0, None),
        ("dashboard", "--port"): (0, 65535),
    }
    for (command, flag), (low, high) in expected.items():
        kind = _option(command, flag).type
        assert isinstance(kind, click.IntRange), (command, flag)
        assert (kind.min, kind.max) == (low, high), (command, flag)
    for command, flag in [("run", "--timeout"), ("worker", "--timeout"), ("report", "--tolerance")]:
        assert isinstance(_option(command, flag).type, click.FloatRange), (command, flag)
    assert tuple(_option("run", "--sampler").type.choices) == SAMPLER_NAMES
    assert tuple(_option("run", "--pruner").type.choices) == PRUNER_NAMES


def test_help_shows_the_ranges() -> None:
    text = " ".join(invoke("run", "--help").output.split())
    assert f"[default: 1; 1<=x<={MAX_WORKERS}]" in text
    assert f"[1<=x<={MAX_EPOCHS}]" in text and f"[0<=x<={MAX_SEED}]" in text
    assert "[" + "|".join(SAMPLER_NAMES) + "]" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--workers", "0"],
            f"Error: Invalid value for '--workers': 0 is not in the range 1<=x<={MAX_WORKERS}.",
        ),
        (
            ["--workers", str(MAX_WORKERS + 1)],
            f"Error: Invalid value for '--workers': {MAX_WORKERS + 1} is not in the range "
            f"1<=x<={MAX_WORKERS}.",
        ),
        (
            ["--workers", "two"],
            "Error: Invalid value for '--workers': 'two' is not a valid integer range.",
        ),
        (
            ["--seed", str(MAX_SEED + 1)],
            f"Error: Invalid value for '--seed': {MAX_SEED + 1} is not in the range "
            f"0<=x<={MAX_SEED}.",
        ),
        (
            ["--epochs", "0"],
            f"Error: Invalid value for '--epochs': 0 is not in the range 1<=x<={MAX_EPOCHS}.",
        ),
        (
            ["--sampler", "grid"],
            "Error: Invalid value for '--sampler': 'grid' is not one of "
            + ", ".join(f"'{n}'" for n in SAMPLER_NAMES)
            + ".",
        ),
    ],
)
def test_out_of_range_flags_are_usage_errors_before_anything_runs(
    make_study, store: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = invoke("run", "--study", str(make_study()), "--storage", store, *args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == message
    assert not (tmp_path / "store.db").exists()


# --------------------------------------------------------------------------- stores


def test_an_unknown_store_scheme_lists_the_supported_ones() -> None:
    result = invoke("studies", "--storage", "foo://bar/baz")
    assert result.exit_code == 1
    assert result.output == (
        "Error: cannot open storage foo://bar/baz: unknown database scheme 'foo'; the supported "
        "schemes are sqlite, postgresql, mysql "
        "(e.g. sqlite:///storage/tuner.db, postgresql+psycopg://user@host/db, "
        "mysql+pymysql://user@host/db)\n"
    )
    result = invoke("studies", "--storage", "postgresql+nodriver://u:secret@h/d")
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: cannot open storage postgresql+nodriver://u:***@h/d: unknown driver 'nodriver' "
        "for postgresql; "
    )
    assert "secret" not in result.output


def test_a_file_that_is_not_a_database_is_named_as_such(make_study, tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("these are my notes, not a database\n" * 20)
    expected = (
        "Error: cannot open SQLite store notes.db: the file exists but is not an SQLite "
        "database; name another file in the storage URL (e.g. sqlite:///storage/tuner.db) or "
        "move notes.db away\n"
    )
    for args in (["studies"], ["run", "--study", str(make_study()), "--quiet"]):
        result = invoke(*args, "--storage", "sqlite:///notes.db")
        assert result.exit_code == 1
        assert result.output == expected, args
    assert (tmp_path / "notes.db").read_text().startswith("these are my notes")


# --------------------------------------------------------------------------- study settings


def test_reduce_lr_factor_zero_says_how_to_turn_the_reduction_off(make_study, store: str) -> None:
    path = make_study()
    path.write_text(path.read_text().replace("[training]", "[training]\nreduce_lr_factor = 0"))
    result = invoke("run", "--study", str(path), "--storage", store)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path}: [training] reduce_lr_factor must be > 0 (the learning rate is "
        "multiplied by it), got 0.0; to turn the reduction off set reduce_lr_patience = 0\n"
    )


def test_a_seed_beyond_what_samplers_accept_is_refused_in_the_study_file(
    make_study, store: str
) -> None:
    path = make_study()
    path.write_text(path.read_text().replace("seed = 0", f"seed = {MAX_SEED + 1}"))
    result = invoke("run", "--study", str(path), "--storage", store)
    assert result.exit_code == 1
    assert f"[search] seed must be <= {MAX_SEED}, got {MAX_SEED + 1}" in result.output


# ------------------------------------------------------------------------- predict: the input first


def test_predict_checks_its_input_before_loading_any_model(tmp_path: Path) -> None:
    """Every model named here is missing: the input's error must come first."""
    result = invoke("predict", "--model", "nowhere/model.keras", "--input", "absent.csv")
    assert (result.exit_code, result.output) == (1, "Error: input file absent.csv does not exist\n")
    result = invoke("predict", "--model", "nowhere/model.keras", "--input", "rows.txt")
    assert result.output == (
        "Error: input rows.txt has an unsupported extension '.txt'; use one of: .csv, .npy, .npz\n"
    )
    Path("rows.npy").write_bytes(b"not numpy at all")
    result = invoke(
        "predict",
        "--study",
        "nosuchstudy",
        "--storage",
        f"sqlite:///{tmp_path / 'none.db'}",
        "--input",
        "rows.npy",
    )
    assert result.output == (
        "Error: input rows.npy does not parse as .npy: it lacks the .npy file header; write "
        "it with numpy.save, or give a .csv\n"
    )
    assert not (tmp_path / "none.db").exists()
    np.savez("rows.npz", x=np.zeros((2, 3)))
    result = invoke("predict", "--model", "nowhere/model.keras", "--input", "rows.npz")
    assert result.output.startswith(
        "Error: model file nowhere/model.keras does not exist"
    )  # a good input: on to the model


def test_predict_refuses_a_folder_as_input_in_the_library_too(tmp_path: Path) -> None:
    from tuner.errors import PredictError
    from tuner.predict import predict_file

    (tmp_path / "rows.csv").mkdir()
    with pytest.raises(PredictError) as caught:
        predict_file(tmp_path / "rows.csv", model="nowhere/model.keras")
    assert (
        str(caught.value)
        == f"input {tmp_path / 'rows.csv'} is not a file; give a .csv, .npy or .npz file"
    )


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files without read permission"
)
def test_predict_names_an_unreadable_input(tmp_path: Path) -> None:
    Path("rows.csv").write_text("1,2,3\n")
    Path("rows.csv").chmod(0)
    result = invoke("predict", "--model", "nowhere/model.keras", "--input", "rows.csv")
    assert (
        result.output
        == "Error: input rows.csv cannot be read: permission denied; check its permissions\n"
    )
