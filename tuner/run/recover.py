"""Recover trials left RUNNING by workers that are gone: fail them and queue them again.

A worker that dies records nothing. With heartbeats (the default) the next worker fails its
trial after the grace period and queues it again; a trial left by a run without heartbeats
(or by an old version) stays RUNNING for ever. :func:`recover_study` fails such trials with a
reason and queues each again with the same parameters. Trials whose heartbeat is fresh have a
live worker: they are left alone unless ``force`` is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tuner.errors import TunerError
from tuner.run.budget import requeue_trial
from tuner.studies import open_study, running_trials

#: The fail reason of a recovered trial.
RECOVERED_REASON = "recovered: its worker is gone"


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover_study` did."""

    study_name: str
    requeued: list[int]  # trial numbers failed and queued again
    skipped: list[int]  # failed by a worker meanwhile (it queued them itself)


def recover_study(
    study: str | os.PathLike[str], storage: str | None = None, *, force: bool = False
) -> Recovered:
    """Fail the RUNNING trials of ``study`` and queue each again with the same parameters.

    Raises :class:`~tuner.errors.TunerError` (nothing changed) when some have a fresh heartbeat
    and ``force`` is not given.
    """
    opened = open_study(study, storage)
    name = opened.study.study_name
    running = running_trials(opened.study, opened.storage)
    if running.alive and not force:
        numbers = ", ".join(str(t.number) for t in running.alive)
        wait = max(running.stale_in.values(), default=None)
        when = (
            ""
            if wait is None
            else f"; without a new heartbeat they count as stale in {wait:.0f} s, after which "
            "tuner recover (or any worker of the study) takes them back"
        )
        raise TunerError(
            f"study '{name}' has {len(running.alive)} running trial(s) with a fresh heartbeat "
            f"({numbers}): their workers look alive{when}; stop them first, or pass --force"
        )
    requeued, skipped = [], []
    for trial in sorted([*running.alive, *running.silent], key=lambda t: t.number):
        (
            requeued
            if requeue_trial(opened.study, opened.storage, trial.number, RECOVERED_REASON)
            else skipped
        ).append(trial.number)
    return Recovered(name, requeued, skipped)
