"""Typed errors. The CLI maps every :class:`TunerError` to a one-line message.

Two families, as in KerasTuner: a :class:`TunerError` stops the whole command (bad study
file, unreachable store, missing data); a :class:`TrialError` fails one trial and the study
goes on.
"""

from __future__ import annotations


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of ``exc``'s message, for one-line errors; ``default`` (else the type's
    name) when the message is empty."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if default is None else default


class TunerError(Exception):
    """An error the user can fix; its message says what is wrong and how to fix it."""

    exit_code = 1


class ConfigError(TunerError):
    """A study file, or a flag overriding one, is invalid."""


class StudyNotFoundError(TunerError):
    """No study file or stored study has the given name."""


class DatasetError(TunerError):
    """A dataset cannot be loaded (missing files, unknown name, bad contents)."""


class StorageError(TunerError):
    """The storage URL is malformed or the store cannot be reached."""


class DataWarning(UserWarning):
    """A decision taken about the data that the user should know (e.g. a column ignored)."""


class TrialError(Exception):
    """One trial cannot go on (e.g. its loss diverged); the study continues."""


class TrialDivergedError(TrialError):
    """The training loss or the validation predictions became NaN or infinite."""


class ReportError(TunerError):
    """A report cannot be built (no completed trial, output folder taken, model not
    reproducible)."""


class PredictError(TunerError):
    """Predictions cannot be made (missing model, unreadable input, wrong number of features)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run; the running trial was recorded as failed.

    A :class:`KeyboardInterrupt`, so that Optuna records the running trial as failed. The exit
    code follows the shell convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {self.signal_name}")
