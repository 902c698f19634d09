"""The README documents every command, CI runs exactly the README's test command, and what
README.md and docs/ show (commands, Python examples, study files, links, module names) holds."""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import re
from pathlib import Path

import click
import pytest

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


# --------------------------------------------------------------------------- README.md and docs/
#
# Every page is plain Markdown. Code blocks are checked by kind: a ``tuner …`` command line in a
# code block parses with the CLI's own parser (nothing runs); a ``tuner …`` in inline code names
# a command and options it has; a ```python block compiles and what it takes from ``tuner``
# exists, and a ```python run block runs (in a temporary folder); a ```toml block is TOML, and a
# complete study file (any not marked ```toml fragment) passes the study-file parser.

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
#: Wrappers that may stand before ``tuner`` on a shell line.
WRAPPERS = {"srun", "sudo", "env", "time", "nohup", "exec"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_blocks(text: str) -> list[tuple[str, str, int]]:
    """(info string, body, first line) of each fenced or indented code block of ``text``."""
    blocks: list[tuple[str, str, int]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        fence = re.match(r"^(```+)\s*(.*)$", lines[i])
        if fence:
            end = i + 1
            while end < len(lines) and not lines[end].startswith(fence.group(1)):
                end += 1
            blocks.append((fence.group(2).strip(), "\n".join(lines[i + 1 : end]), i + 2))
            i = end + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            body = "\n".join(line[4:] for line in lines[i:end]).rstrip()
            blocks.append(("", body, i + 1))
            i = end
            continue
        i += 1
    return blocks


def _page_blocks(language: str) -> list[tuple[Path, str, str, int]]:
    found = []
    for page in PAGES:
        for info, body, line in code_blocks(page.read_text()):
            words = info.split()
            if (words[0] if words else "") == language:
                found.append((page, " ".join(words[1:]), body, line))
    return found


def shell_command_lines() -> list[tuple[str, list[str]]]:
    """Each ``tuner …`` invocation in a shell code block: (where, its arguments)."""
    import shlex

    found = []
    for page in PAGES:
        for info, body, first in code_blocks(page.read_text()):
            if info.split()[:1] == ["yaml"]:  # a container's command: ["tuner", "worker", ...]
                for offset, line in enumerate(body.split("\n")):
                    listed = re.search(r"command:\s*(\[.*\])", line)
                    words = json.loads(listed.group(1)) if listed else []
                    if words[:1] == ["tuner"]:
                        found.append((f"{_rel(page)}:{first + offset}", words[1:]))
                continue
            if info.split()[:1] not in ([], ["bash"], ["sh"], ["console"]):
                continue
            for offset, line in enumerate(body.split("\n")):
                for segment in re.split(r"&&|\|\||;|\|", line):
                    try:
                        words = shlex.split(segment, comments=True)
                    except ValueError:
                        continue
                    while words and (re.match(r"^\w+=", words[0]) or words[0] in WRAPPERS):
                        words.pop(0)
                    if words[:1] == ["tuner"]:
                        found.append((f"{_rel(page)}:{first + offset}", words[1:]))
    return found


def _parse_tuner_command(args: list[str]) -> None:
    """Parse ``tuner ARGS`` with the CLI's parser and types, without running anything."""
    ctx = click.Context(cli, info_name="tuner")
    group_options = {opt for p in cli.params for opt in p.opts}
    while args and args[0] in group_options:
        args = args[1:]
    assert args, "no command"
    command = cli.get_command(ctx, args[0])
    assert command is not None, f"no command '{args[0]}'"
    with contextlib.suppress(click.exceptions.Exit):  # --help
        command.make_context(args[0], list(args[1:]), parent=ctx)


def test_every_tuner_command_line_in_the_docs_parses() -> None:
    lines = shell_command_lines()
    assert len(lines) >= 20, "the command lines in README.md and docs/ were not found"
    for where, args in lines:
        try:
            _parse_tuner_command(args)
        except (click.ClickException, AssertionError) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else exc
            raise AssertionError(
                f"{where}: `tuner {' '.join(args)}` does not parse: {message}"
            ) from None


def test_every_tuner_command_in_inline_code_exists_with_its_options() -> None:
    ctx = click.Context(cli)
    commands = set(cli.list_commands(ctx))
    group_options = {opt for p in cli.params for opt in p.opts} | {"--help", "-h"}
    for page in [*PAGES, ROOT / "CHANGELOG.md"]:
        for span in re.findall(r"`tuner ([^`]+)`", page.read_text()):
            words = span.split()
            while words and words[0] in group_options:
                words = words[1:]
            if not words:
                continue
            assert words[0] in commands, f"{_rel(page)}: `tuner {span}`: no such command"
            options = {opt for p in cli.get_command(ctx, words[0]).params for opt in p.opts}
            options |= {"--help", "-h"}
            for word in words[1:]:
                if word.startswith("-"):
                    assert word.split("=")[0] in options, (
                        f"{_rel(page)}: `tuner {span}`: `tuner {words[0]}` has no {word}"
                    )


def _tuner_names(tree: ast.AST) -> list[str]:
    """The ``tuner`` names a snippet imports or reads: ``tuner.x.y``, ``tuner.run_study``."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == "tuner"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tuner":
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "tuner"
        ):
            names.append(f"tuner.{node.attr}")
    return names


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` (``tuner.report.build_report``, ``tuner.run``) is a module or a name."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(value, attr):
                return False
            value = getattr(value, attr)
        return True
    return False


def test_every_python_example_compiles_and_what_it_imports_exists() -> None:
    blocks = _page_blocks("python")
    assert blocks, "no ```python example in README.md or docs/"
    for page, _, body, line in blocks:
        tree = compile(body, f"{_rel(page)}:{line}", "exec", ast.PyCF_ONLY_AST)
        for name in _tuner_names(tree):
            assert resolves(name), f"{_rel(page)}:{line}: the example uses {name}, which is gone"


def test_the_runnable_python_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Each ```python run block runs as it stands, in this test's own folder."""
    runnable = [b for b in _page_blocks("python") if b[1] == "run"]
    assert runnable, "docs/ has no ```python run example"
    for page, _, body, line in runnable:
        exec(compile(body, f"{_rel(page)}:{line}", "exec"), {"__name__": "__docs__"})
    assert "prediction,probability_" in capsys.readouterr().out


def test_every_study_file_in_the_docs_is_valid() -> None:
    from tuner.config.parse import parse_config, tomllib

    blocks = _page_blocks("toml")
    complete = [b for b in blocks if b[1] != "fragment"]
    assert len(complete) >= 3, "the study files in README.md and docs/ were not found"
    for page, marker, body, line in blocks:
        where = f"{_rel(page)}:{line}"
        try:
            raw = tomllib.loads(body)
        except tomllib.TOMLDecodeError as exc:
            raise AssertionError(f"{where}: not TOML: {exc}") from None
        if marker != "fragment":
            config = parse_config(raw, source=where, default_name="example")
            assert config.data.dataset, where


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings (lower case, punctuation dropped)."""
    anchors: set[str] = set()
    in_fence = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if heading:
            title = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            anchors.add(slug)
    return anchors


def test_every_link_between_the_pages_resolves() -> None:
    checked = 0
    for page in [*PAGES, ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md"]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # a web address
            path_part, _, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            where = f"{_rel(page)}: link ({target})"
            assert path.exists(), f"{where}: {path_part} does not exist"
            if anchor and path.suffix == ".md":
                assert anchor in heading_anchors(path.read_text()), (
                    f"{where}: {_rel(path)} has no heading #{anchor}"
                )
            checked += 1
    assert checked >= 30


def mentioned_modules(text: str) -> list[str]:
    """Backticked source files (``ml/model.py``) and dotted names (``tuner.ml.backend``)."""
    return re.findall(r"`((?:[\w/]+\.py)|(?:tuner(?:\.\w+)+))`", text)


def test_every_module_the_docs_and_changelog_name_exists() -> None:
    folders = [ROOT, ROOT / "tuner", ROOT / "benchmarks"]
    for page in [*PAGES, ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md"]:
        for name in mentioned_modules(page.read_text()):
            if name.endswith(".py"):
                assert any((folder / name).is_file() for folder in folders), (
                    f"{_rel(page)} names {name}, which is not in the repository"
                )
            else:
                assert resolves(name), f"{_rel(page)} names {name}, which does not exist"


def test_every_public_name_is_in_the_python_api_page() -> None:
    import tuner

    page = (DOCS / "python-api.md").read_text()
    for name in tuner.__all__:
        if not name.startswith("_"):
            assert re.search(rf"`(tuner\.)?{name}\b", page), (
                f"tuner.{name} is public but not in docs/python-api.md"
            )


def test_readme_is_a_front_door() -> None:
    assert len(README.splitlines()) <= 200, "README.md is over 200 lines: move the rest to docs/"
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "README.md":
            assert f"({page.name})" in (DOCS / "README.md").read_text(), (
                f"docs/{page.name} is not in the index, docs/README.md"
            )
