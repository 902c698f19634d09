"""The ``tuner`` click group: library errors as one-line messages, and the options commands share.

Every :class:`~tuner.errors.TunerError` becomes a one-line ``Error: …`` with a non-zero exit
code; ``--debug`` (or ``TUNER_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import click

from tuner.errors import TunerError, first_line

#: Where ``--debug`` is recorded, in the click context's ``meta``.
DEBUG_KEY = "tuner.debug"
DEBUG_ENV = "TUNER_DEBUG"


class TunerGroup(click.Group):
    """A click group that turns library errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _data_warnings_as_lines():
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C, or tuner.errors.Interrupted (SIGINT / SIGTERM)
            if _debug(ctx):
                raise
            by = f" by {exc.signal_name}" if hasattr(exc, "signal_name") else ""
            click.echo(
                f"Interrupted{by}: the running trial was recorded as failed and queued again; run "
                "the same command again to resume.",
                err=True,
            )
            ctx.exit(getattr(exc, "exit_code", 130))
        except TunerError as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # a bug: still one line, with the way to see more
            if _debug(ctx):
                raise
            from tuner.storage import scrub  # a driver's message may quote a connection string

            raise click.ClickException(
                scrub(
                    f"unexpected {type(exc).__name__}: {first_line(exc, default='')} (run again "
                    "with --debug for the traceback)"
                )
            ) from None


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ours(filename: str) -> bool:
    """Whether a warning was raised by tuner's own code."""
    return os.path.abspath(filename).startswith(_PACKAGE + os.sep)


def _loud() -> bool:
    """``--verbose`` (on the commands that take it) or ``--debug``: library warnings shown."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and (bool(ctx.params.get("verbose")) or _debug(ctx))


@contextlib.contextmanager
def _data_warnings_as_lines() -> Iterator[None]:
    """Decisions about the data (e.g. a column ignored) and tuner's own warnings print as one
    ``Warning: …`` line each; libraries' warnings (Optuna's, scikit-learn's) only with
    ``--verbose`` or ``--debug``."""
    from tuner.errors import DataWarning

    # warnings.showwarning is the hook the warnings module documents for showing a warning;
    # catch_warnings() restores the original when the command ends.
    with warnings.catch_warnings():
        original = warnings.showwarning

        def show(
            message: Any,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: Any = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, DataWarning) or _ours(filename):
                click.echo(f"Warning: {message}", err=True)
            elif _loud():
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.meta.get(DEBUG_KEY)) or os.environ.get(DEBUG_ENV) == "1"


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG_KEY] = True


# --------------------------------------------------------------------------- shared options

debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="Show full tracebacks instead of one-line errors.",
)
storage_option = click.option(
    "--storage",
    envvar="TUNER_STORAGE",
    metavar="URL",
    help="SQLAlchemy URL of the store [env: TUNER_STORAGE; default: sqlite:///storage/tuner.db].",
)
study_option = click.option(
    "--study",
    "study",
    required=True,
    metavar="NAME|PATH",
    help="A study name (studies/NAME.toml or a built-in) or a path to a study file.",
)
data_dir_option = click.option(
    "--data-dir",
    envvar="TUNER_DATA_DIR",
    type=click.Path(file_okay=False),
    help="Folder with dataset files (e.g. mnist.npz) [env: TUNER_DATA_DIR].",
)
artifacts_option = click.option(
    "--artifacts",
    envvar="TUNER_ARTIFACTS",
    metavar="DIR",
    help=(
        "Folder of saved trial models [env: TUNER_ARTIFACTS; default: artifacts/ beside a SQLite "
        "store]."
    ),
)


def common(fn: Callable) -> Callable:
    """``--debug`` and ``--storage``, which every command that reads a store takes."""
    return debug_option(storage_option(fn))


@click.group(
    cls=TunerGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="tuner")
@debug_option
def cli() -> None:
    """Hyperparameter search for Keras multilayer perceptrons, built on Optuna."""


__all__ = [
    "DEBUG_KEY",
    "TunerGroup",
    "artifacts_option",
    "cli",
    "common",
    "data_dir_option",
    "debug_option",
    "storage_option",
    "study_option",
]
