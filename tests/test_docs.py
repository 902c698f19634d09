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


def _quick_start_command(heading: str) -> str:
    match = re.search(heading + r".*?\n\n    (.+?)\n", README, re.S)
    assert match, f"README.md has no '{heading}' command"
    return match.group(1).strip()


def as_ci_runs_it(command: str) -> str:
    """A README command as .ci/run spells it: each tool through ``python3 -m``, pip quiet."""
    command = re.sub(r"(^|&& )(pip install|ruff check|pytest)(?=\s|$)", r"\1python3 -m \2", command)
    return command.replace("python3 -m pip install", "python3 -m pip install -q")


def test_ci_runs_the_readme_test_command() -> None:
    command = _quick_start_command("Install and run the tests")
    ci = (ROOT / ".ci" / "run").read_text()
    assert as_ci_runs_it(command) in ci, f"CI does not run the README's test command: {command}"


def test_ci_spelling_touches_only_the_commands() -> None:
    command = (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' pytest-xdist "
        "&& ruff check tuner && pytest -n 2"
    )
    expected = (
        "python3 -m venv .venv && . .venv/bin/activate && python3 -m pip install -q -e '.[test]' "
        "pytest-xdist && python3 -m ruff check tuner && python3 -m pytest -n 2"
    )
    assert as_ci_runs_it(command) == expected


def test_readme_quick_start_installs_into_a_virtual_environment() -> None:
    """Debian's system pip refuses to install outside a virtual environment."""
    main_job = _quick_start_command("Install and run the main job")
    assert main_job == (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && tuner run "
        "--study digits --trials 20"
    )
    tests = _quick_start_command("Install and run the tests")
    assert tests.startswith(
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test"
    )


def test_readme_says_what_the_slow_tests_are_and_they_exist() -> None:
    """`pytest -m slow` must select something (pytest exits 5 when no test is marked slow)."""
    assert "`pytest -m slow` runs only them" in README
    decorator = re.compile(r"^(@pytest\.mark\.slow|pytestmark = .*pytest\.mark\.slow)", re.M)
    marked = [p.name for p in (ROOT / "tests").glob("test_*.py") if decorator.search(p.read_text())]
    assert marked, (
        "README.md promises long tests under `pytest -m slow`, but no test is marked slow"
    )


def test_readme_promises_what_the_code_does() -> None:
    assert "0 turns it off" not in README.replace("reduce_lr_patience = 0 turns it off", "")
    assert "(binary: the\npositive class only)" not in README
    assert "one `probability_<class>` column per class\n(binary: both classes)" in README


def test_every_built_in_study_is_documented() -> None:
    for path in sorted((ROOT / "studies").glob("*.toml")):
        assert f"`{path.stem}`" in README, f"studies/{path.name} is not listed in README.md"
