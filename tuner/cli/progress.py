"""What ``tuner run`` shows while it works: a start line, then live progress or one line per trial.

On a terminal, :class:`RunDisplay` draws a bar over the study's finished trials (counting the
ones already stored; the rate counts only this run's) with the study's best value, and a line
per running trial updated each epoch. Elsewhere (a log file, a pipe, a job) it writes plain
lines, one per finished trial, with no carriage returns. The library calls it through the
hooks of :func:`tuner.run.runner.run_workers`; tqdm is imported only once a bar is drawn.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from tuner.formatting import format_number
from tuner.keys import EPOCHS_RUN, FAIL_REASON, FOLD_EPOCHS

if TYPE_CHECKING:
    from tuner.run.start import RunStart


# --------------------------------------------------------------------------- lines


def start_line(start: RunStart) -> str:
    """The study, its store, its budget and what it already holds, before any training."""
    plural = "s" if start.workers != 1 else ""
    how = f"sampler {start.sampler}, pruner {start.pruner}, {start.workers} worker{plural}"
    if start.new:
        return (
            f"New study '{start.study_name}' in {start.storage}: running {start.budget} trials "
            f"({how})"
        )
    best = (
        f"; best {start.metric} {format_number(start.best_value)} (trial {start.best_trial})"
        if start.best_trial is not None
        else ""
    )
    return (
        f"Study '{start.study_name}' in {start.storage}: {start.finished} of {start.budget} "
        f"finished trials already, running {start.to_run} more ({how}){best}"
    )


def budget_met_line(start: RunStart) -> str:
    """Why a run trained nothing: the study already holds its budget."""
    return (
        f"Study '{start.study_name}' already holds {start.finished} finished trials (budget "
        f"{start.budget}): nothing to run. Raise --trials to add more."
    )


def _params(trial: Any) -> str:
    return ", ".join(f"{k}={format_number(v)}" for k, v in trial.params.items())


def fold_line(number: int, fold: int, folds: int, metric: str, value: float, epochs: int) -> str:
    """One finished fold of a k-fold trial."""
    return (
        f"trial {number} fold {fold}/{folds}: {metric} {format_number(value)} after {epochs} "
        f"epoch{'s' if epochs != 1 else ''}"
    )


def finished_line(
    trial: Any, metric: str, best: tuple[float, int] | None = None, *, params: bool = False
) -> str:
    """One ended trial (an Optuna ``FrozenTrial``): its value, or why it was pruned or failed."""
    state = trial.state.name
    if state == "COMPLETE":
        text = f"trial {trial.number} complete: {metric} {format_number(trial.values[0])}"
        if best is not None:
            text += f" (best {format_number(best[0])}, trial {best[1]})"
    elif state == "PRUNED" and trial.user_attrs.get(FOLD_EPOCHS):
        epochs = "/".join(str(e) for e in trial.user_attrs[FOLD_EPOCHS])
        folds = len(trial.user_attrs[FOLD_EPOCHS])
        text = f"trial {trial.number} pruned after {folds} folds ({epochs} epochs per fold)"
    elif state == "PRUNED":
        text = f"trial {trial.number} pruned after {trial.user_attrs.get(EPOCHS_RUN, '?')} epochs"
    else:
        return (
            f"trial {trial.number} failed: {trial.user_attrs.get(FAIL_REASON, 'objective failed')}"
        )
    if trial.duration is not None:
        text += f" in {trial.duration.total_seconds():.1f}s"
    return f"{text}; {_params(trial)}" if params and trial.params else text


# --------------------------------------------------------------------------- the display


class RunDisplay:
    """The hooks of one run: ``start`` (``on_start``), ``epoch`` (``on_epoch``), and itself as
    an Optuna callback for each trial that ends.

    ``live``: draw a bar and per-trial lines (a terminal); else write one line per ended trial.
    ``params``: add each trial's parameters to its line. ``enabled=False`` shows nothing but
    still records :attr:`started` (what the study held when the run began).
    """

    def __init__(self, *, live: bool, params: bool = False, enabled: bool = True):
        self.live = live and enabled
        self.params = params
        self.enabled = enabled
        self.started: RunStart | None = None
        self.metric = "value"
        self.maximize = True
        self.best: tuple[float, int] | None = None  # (value, trial number): the study's best
        self.finished = 0
        self.bar: Any = None
        self.trial_bars: dict[int, Any] = {}

    # ---------------------------------------------------------------- hooks

    def start(self, start: RunStart) -> None:
        """Before any training: print the start line and seed the counts from the store."""
        self.started = start
        self.metric = start.metric
        self.maximize = start.direction == "maximize"
        self.finished = start.finished
        if start.best_value is not None and start.best_trial is not None:
            self.best = (start.best_value, start.best_trial)
        if not self.enabled or start.to_run == 0:
            return  # the command says the budget is met
        click.echo(start_line(start), err=True)
        if self.live:
            from tqdm import tqdm

            # initial: the stored trials count towards the bar, not towards its rate
            self.bar = tqdm(
                total=start.budget,
                initial=start.finished,
                unit="trial",
                file=sys.stderr,
                dynamic_ncols=True,
            )
            self._show_best()

    def epoch(
        self,
        number: int,
        epoch: int,
        max_epochs: int,
        value: float,
        *,
        fold: tuple[int, int] | None = None,
    ) -> None:
        """A running trial finished an epoch (of fold ``fold``, for k-fold): update its line (on
        a terminal)."""
        if self.bar is None:
            return
        line = self.trial_bars.get(number)
        if line is None:
            from tqdm import tqdm

            line = self.trial_bars[number] = tqdm(
                total=max_epochs,
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}",
            )
        where = f"trial {number}:" if fold is None else f"trial {number} fold {fold[0]}/{fold[1]}"
        line.set_description_str(
            f"{where} epoch {epoch}/{max_epochs} {self.metric} {format_number(value)}"
        )

    def fold(self, number: int, fold: int, folds: int, value: float, epochs: int) -> None:
        """A k-fold trial finished a fold: a line of its own (outside a terminal; on one, the
        trial's line shows the fold)."""
        if self.enabled and self.bar is None:
            click.echo(fold_line(number, fold, folds, self.metric, value, epochs), err=True)

    def __call__(self, study: Any, trial: Any) -> None:
        """A trial ended (Optuna's callback signature): count it and write its line."""
        state = trial.state.name
        if state == "COMPLETE" and self._better(trial.values[0]):
            self.best = (trial.values[0], trial.number)
        if state in ("COMPLETE", "PRUNED"):
            self.finished += 1
        if not self.enabled:
            return
        line = self.trial_bars.pop(trial.number, None)
        if line is not None:
            line.close()
        text = finished_line(trial, self.metric, self.best, params=self.params)
        if self.bar is None:
            click.echo(text, err=True)
            return
        self.bar.write(text, file=sys.stderr)
        self.bar.update(min(self.finished, self.bar.total) - self.bar.n)
        self._show_best()

    def close(self) -> None:
        for line in self.trial_bars.values():
            line.close()
        self.trial_bars.clear()
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # ---------------------------------------------------------------- helpers

    @property
    def budget_met(self) -> bool:
        """The study held its budget before the run: nothing was to run."""
        return self.started is not None and self.started.to_run == 0

    def _better(self, value: float) -> bool:
        if value != value:  # NaN
            return False
        return self.best is None or (
            value > self.best[0] if self.maximize else value < self.best[0]
        )

    def _show_best(self) -> None:
        if self.best is not None:
            self.bar.set_postfix_str(f"best {self.metric}={format_number(self.best[0])}")


class TrialLines:
    """An Optuna callback: one line per trial this worker ends, for logs (``tuner worker``)."""

    def __init__(self, metric: str = "value", *, params: bool = False):
        self.metric = metric
        self.params = params

    def __call__(self, study: Any, trial: Any) -> None:
        click.echo(finished_line(trial, self.metric, params=self.params), err=True)


__all__ = [
    "RunDisplay",
    "TrialLines",
    "budget_met_line",
    "finished_line",
    "fold_line",
    "start_line",
]
