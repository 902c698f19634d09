"""The ``tuner`` command line: parses flags, calls the library, maps errors to messages.

No Keras or Optuna logic lives here. Every :class:`~tuner.errors.TunerError` becomes a one-line
``Error: …`` with a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from tuner.errors import TunerError

DEBUG_KEY = "tuner.debug"


class TunerGroup(click.Group):
    """A click group that turns library errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            if _debug(ctx):
                raise
            click.echo("Interrupted: the running trial was recorded as failed; run the same command again to resume.", err=True)
            ctx.exit(130)
        except TunerError as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # a bug: still one line, with the way to see more
            if _debug(ctx):
                raise
            raise click.ClickException(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (run again with --debug for the traceback)") from None


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.meta.get(DEBUG_KEY)) or os.environ.get("TUNER_DEBUG") == "1"


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG_KEY] = True


debug_option = click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug, help="Show full tracebacks instead of one-line errors.")
storage_option = click.option("--storage", envvar="TUNER_STORAGE", metavar="URL", help="SQLAlchemy URL of the store [env: TUNER_STORAGE; default: sqlite:///storage/tuner.db].")
study_option = click.option("--study", "study", required=True, metavar="NAME|PATH", help="A study name (studies/NAME.toml or a built-in) or a path to a study file.")


def common(fn: Callable) -> Callable:
    return debug_option(storage_option(fn))


@click.group(cls=TunerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tuner")
@debug_option
def cli() -> None:
    """Hyperparameter search for Keras multilayer perceptrons, built on Optuna."""


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _widths(params: dict[str, Any]) -> str:
    return "-".join(str(params[f"units_{i}"]) for i in range(int(params.get("n_layers", 0))))


# --------------------------------------------------------------------------- commands


class _Progress:
    """A tqdm bar over the study's finished trials, with the best value so far."""

    def __init__(self, total: int, initial: int, direction: str, enabled: bool):
        from tqdm import tqdm

        self.best: float | None = None
        self.maximize = direction == "maximize"
        # delay: a run refused up front (bad input) never draws a bar
        self.bar = tqdm(total=total, initial=min(initial, total), unit="trial", disable=not enabled, file=sys.stderr, dynamic_ncols=True, delay=2.0)

    def __call__(self, study: Any, trial: Any) -> None:
        state = trial.state.name
        if state == "FAIL":
            reason = trial.user_attrs.get("fail_reason", "objective failed")
            self.bar.write(f"trial {trial.number} failed: {reason}", file=sys.stderr)
            return
        if state == "COMPLETE" and (self.best is None or (trial.value > self.best if self.maximize else trial.value < self.best)):
            self.best = trial.value
        from optuna.trial import TrialState

        finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        self.bar.update(min(finished, self.bar.total) - self.bar.n)  # counts every worker's trials
        if self.best is not None:
            self.bar.set_postfix(best=_fmt(self.best))

    def close(self) -> None:
        self.bar.close()


@cli.command()
@study_option
@click.option("--trials", type=click.IntRange(min=1), help="Total finished trials the study should hold (resumes count).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Stop starting new trials after this many seconds.")
@click.option("--epochs", "max_epochs", type=click.IntRange(min=1), help="Maximum epochs per trial.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for the sampler and the per-trial seeds.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "cmaes", "gp"]), help="Search algorithm.")
@click.option("--pruner", type=click.Choice(["hyperband", "median", "sha", "none"]), help="Early stopping of bad trials.")
@click.option("--data-dir", envvar="TUNER_DATA_DIR", type=click.Path(file_okay=False), help="Folder with dataset files (e.g. mnist.npz) [env: TUNER_DATA_DIR].")
@click.option("--verbose", is_flag=True, help="Show Keras' per-epoch output and Optuna's trial log.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@common
def run(study: str, storage: str | None, verbose: bool, quiet: bool, **overrides: Any) -> None:
    """Run a study until it holds the requested number of finished trials.

    Running the same command again resumes the study in the store.

    Example:

        tuner run --study digits --trials 20
    """
    from tuner.runner import load_study_config, run_study

    config = load_study_config(study)
    total = overrides["trials"] or config.search.trials
    progress = _Progress(total, 0, config.objective.direction, enabled=not quiet and not verbose)
    try:
        result = run_study(config, storage=storage, verbose=verbose, callbacks=[progress], **overrides)
    finally:
        progress.close()
    _print_summary(result)


def _print_summary(result: Any) -> None:
    counts = result.counts
    click.echo(
        f"Study '{result.study_name}' in {result.storage}: {result.n_finished} finished "
        f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed); "
        f"{result.trials_run} trials run in {result.seconds:.1f}s."
    )
    if result.best_trial is None:
        click.echo("No trial has completed yet.")
        return
    click.echo(f"Best {result.direction.removesuffix('imize')}imized value {_fmt(result.best_value)} (trial {result.best_trial}).\n")
    rows = [
        [t.number, t.value, t.params.get("n_layers"), _widths(t.params), t.params.get("activation"), t.params.get("dropout"), t.params.get("learning_rate"), t.params.get("batch_size"), t.params.get("optimizer"), t.user_attrs.get("epochs_run")]
        for t in result.top
    ]
    click.echo(_table(["trial", "value", "layers", "widths", "activation", "dropout", "lr", "batch", "optimizer", "epochs"], rows))


@cli.command()
@common
def studies(storage: str | None) -> None:
    """List the studies in the store with trial counts by state and the best value.

    Example:

        tuner studies --storage sqlite:///storage/tuner.db
    """
    import optuna

    from tuner.runner import summarize
    from tuner.storage import open_storage, resolve_storage_url

    url = resolve_storage_url(storage)
    rdb = open_storage(url)
    rows = []
    for summary in sorted(optuna.get_all_study_summaries(rdb, include_best_trial=False), key=lambda s: s.study_name):
        res = summarize(optuna.load_study(study_name=summary.study_name, storage=rdb), storage_url=url)
        c = res.counts
        rows.append([res.study_name, res.direction, c["COMPLETE"], c["PRUNED"], c["FAIL"], c["RUNNING"], res.best_value, res.best_trial])
    if not rows:
        click.echo("No studies in the store yet. Start one with: tuner run --study digits")
        return
    click.echo(_table(["study", "direction", "complete", "pruned", "failed", "running", "best value", "best trial"], rows))


@cli.command()
@study_option
@common
def show(study: str, storage: str | None) -> None:
    """Show the best trial of a study: value, parameters, epochs, model size, seed.

    Example:

        tuner show --study digits
    """
    from tuner.runner import load_existing_study, study_name_for, summarize
    from tuner.storage import open_storage, resolve_storage_url

    url = resolve_storage_url(storage)
    study_obj = load_existing_study(study_name_for(study), open_storage(url))
    result = summarize(study_obj, storage_url=url)
    c = result.counts
    click.echo(f"Study '{result.study_name}' in {result.storage} ({result.direction})")
    click.echo(f"Trials: {c['COMPLETE']} complete, {c['PRUNED']} pruned, {c['FAIL']} failed, {c['RUNNING']} running")
    if result.best_trial is None:
        raise TunerError(f"study '{result.study_name}' has no completed trial yet; run: tuner run --study {result.study_name}")
    best = study_obj.trials[result.best_trial]
    attrs = best.user_attrs
    lines = [
        ("best trial", best.number),
        ("value", best.value),
        ("epochs run", attrs.get("epochs_run")),
        ("model size", f"{attrs.get('n_params'):,} parameters" if attrs.get("n_params") is not None else None),
        ("seed", attrs.get("seed")),
        ("train seconds", attrs.get("train_seconds")),
    ]
    lines += [(f"param {k}", v) for k, v in best.params.items()]
    lines += [(f"val {k}", v) for k, v in (attrs.get("val_metrics") or {}).items()]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"  {key.ljust(width)}  {_fmt(value)}")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="tuner")


__all__ = ["cli", "main"]
