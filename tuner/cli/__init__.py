"""The ``tuner`` command line: parses flags, calls the library, maps errors to messages.

No Keras or Optuna logic lives here. :mod:`tuner.cli.group` holds the click group and the
options commands share, :mod:`tuner.cli.commands` the commands, :mod:`tuner.cli.output` what
they print.
"""

from __future__ import annotations

from collections.abc import Sequence

from tuner.cli import commands as _commands  # noqa: F401  (registers the commands on the group)
from tuner.cli.group import cli


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="tuner")


__all__ = ["cli", "main"]
