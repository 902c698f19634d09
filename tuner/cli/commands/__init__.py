"""The ``tuner`` commands: each parses its flags, calls the library and prints the result.

Importing this package registers every command on :data:`tuner.cli.group.cli`, by area:
:mod:`~tuner.cli.commands.running` (run, worker), :mod:`~tuner.cli.commands.stored` (studies,
show, recover), :mod:`~tuner.cli.commands.reports` (report, predict, dashboard) and
:mod:`~tuner.cli.commands.tables` (init). No Keras or Optuna logic lives here;
:mod:`tuner.cli.output` formats what the library returns.
"""

from __future__ import annotations

from tuner.cli.commands import reports, running, stored, tables

__all__ = ["reports", "running", "stored", "tables"]
