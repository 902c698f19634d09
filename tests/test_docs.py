"""The README documents every command, and CI runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import click

from tuner.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command.help, f"`tuner {name}` has no help text"
        assert "Example:" in command.help, f"`tuner {name}` help has no Example: block"
        assert f"tuner {name}" in README, f"`tuner {name}` is missing from README.md"


def test_every_option_has_help() -> None:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        for param in cli.get_command(ctx, name).params:
            if isinstance(param, click.Option):
                assert param.help, f"`tuner {name} {param.opts[0]}` has no help text"


def test_ci_runs_the_readme_test_command() -> None:
    match = re.search(r"Install and run the tests.*?\n\n    (.+?)\n", README, re.S)
    assert match, "README.md has no 'Install and run the tests' command"
    command = match.group(1).strip()
    ci = (ROOT / ".ci" / "run").read_text()
    normalized = command.replace("pip install", "python3 -m pip install -q").replace("ruff check", "python3 -m ruff check").replace("pytest", "python3 -m pytest")
    assert normalized in ci, f"CI does not run the README's test command: {command}"


def test_readme_quick_start_runs_the_main_job_on_the_default_store() -> None:
    assert "pip install -e . && tuner run --study digits --trials 20" in README


def test_every_built_in_study_is_documented() -> None:
    for path in sorted((ROOT / "studies").glob("*.toml")):
        assert f"`{path.stem}`" in README, f"studies/{path.name} is not listed in README.md"
