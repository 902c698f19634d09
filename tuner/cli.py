"""The ``tuner`` command line: parses flags, calls the library, maps errors to messages.

No Keras or Optuna logic lives here. Every :class:`~tuner.errors.TunerError` becomes a one-line
``Error: …`` with a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from tuner.errors import TunerError, first_line

DEBUG_KEY = "tuner.debug"


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
            click.echo(f"Interrupted{by}: the running trial was recorded as failed and queued again; run the same command again to resume.", err=True)
            ctx.exit(getattr(exc, "exit_code", 130))
        except TunerError as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # a bug: still one line, with the way to see more
            if _debug(ctx):
                raise
            from tuner.storage import scrub  # a driver's message may quote a connection string

            raise click.ClickException(scrub(f"unexpected {type(exc).__name__}: {first_line(exc, default='')} (run again with --debug for the traceback)")) from None


@contextlib.contextmanager
def _data_warnings_as_lines() -> Iterator[None]:
    """Decisions about the data (e.g. a column ignored) print as one ``Warning: …`` line each."""
    from tuner.errors import DataWarning

    with warnings.catch_warnings():
        original = warnings.showwarning

        def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
            if issubclass(category, DataWarning):
                click.echo(f"Warning: {message}", err=True)
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


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
        value = trial.values[0] if state == "COMPLETE" else None  # the metric (first of two objectives)
        if value is not None and (self.best is None or (value > self.best if self.maximize else value < self.best)):
            self.best = value
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
@click.option("--workers", type=int, default=1, show_default=True, help="Local worker processes sharing the store (the cores are split between them).")
@common
def run(study: str, storage: str | None, verbose: bool, quiet: bool, workers: int, **overrides: Any) -> None:
    """Run a study until it holds the requested number of finished trials.

    Running the same command again resumes the study in the store.

    Example:

        tuner run --study digits --trials 20 --workers 2
    """
    from tuner.run.local import run_workers
    from tuner.run.runner import load_study_config

    config = load_study_config(study)
    total = overrides["trials"] or config.search.trials
    progress = _Progress(total, 0, config.objective.direction, enabled=not quiet and not verbose)
    try:
        result = run_workers(config, workers=workers, storage=storage, verbose=verbose, callbacks=[progress], **overrides)
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
    if result.pareto:
        click.echo(f"Pareto front of value vs parameter count ({len(result.top)} trials; none has both a better value and fewer parameters):")
    size = ["params"] if result.pareto else []
    rows = [
        [t.number, t.values[0], t.params.get("n_layers"), _widths(t.params), t.params.get("activation"), t.params.get("dropout"), t.params.get("learning_rate"), t.params.get("batch_size"), t.params.get("optimizer"), t.user_attrs.get("epochs_run")] + [t.user_attrs.get("n_params")] * len(size)
        for t in result.top
    ]
    click.echo(_table(["trial", "value", "layers", "widths", "activation", "dropout", "lr", "batch", "optimizer", "epochs", *size], rows))


class _TrialLines:
    """One line per trial this worker ends, for logs (a progress bar suits a terminal, not a job)."""

    def __call__(self, study: Any, trial: Any) -> None:
        state = trial.state.name
        if state == "COMPLETE":
            text = f"value {_fmt(trial.values[0])}"
        elif state == "PRUNED":
            text = f"pruned after {trial.user_attrs.get('epochs_run', '?')} epochs"
        else:
            text = f"failed: {trial.user_attrs.get('fail_reason', 'objective failed')}"
        click.echo(f"trial {trial.number} {text}", err=True)


@cli.command()
@study_option
@click.option("--trials", type=click.IntRange(min=1), help="New budget: total finished trials the study should hold [default: the study's].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Stop starting new trials after this many seconds.")
@click.option("--data-dir", envvar="TUNER_DATA_DIR", type=click.Path(file_okay=False), help="Folder with dataset files (e.g. mnist.npz) [env: TUNER_DATA_DIR].")
@click.option("--verbose", is_flag=True, help="Show Keras' per-epoch output and Optuna's trial log.")
@click.option("--quiet", is_flag=True, help="No line per trial.")
@common
def worker(study: str, storage: str | None, trials: int | None, timeout: float | None, data_dir: str | None, verbose: bool, quiet: bool) -> None:
    """Join a study in the store and run trials until its budget is met, then exit.

    The study's settings and budget come from the store (as the latest `tuner run` left
    them), so start as many workers as you like, on any machine that reaches the store.

    Example:

    \b
        export TUNER_STORAGE=postgresql+psycopg://tuner@db-host/tuner
        tuner worker --study digits
    """
    from tuner.run.runner import join_study

    callbacks = [] if quiet or verbose else [_TrialLines()]
    result = join_study(study, storage=storage, trials=trials, timeout=timeout, data_dir=data_dir, verbose=verbose, callbacks=callbacks)
    _print_summary(result)


@cli.command()
@common
def studies(storage: str | None) -> None:
    """List the studies in the store with trial counts by state and the best value.

    Example:

        tuner studies --storage sqlite:///storage/tuner.db
    """
    import optuna

    from tuner.storage import open_storage, resolve_storage_url
    from tuner.studies import summarize

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
    from tuner.storage import open_storage, resolve_storage_url
    from tuner.studies import load_existing_study, study_name_for, summarize

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
        ("value", best.values[0]),
        ("epochs run", attrs.get("epochs_run")),
        ("model size", f"{attrs.get('n_params'):,} parameters" if attrs.get("n_params") is not None else None),
        ("seed", attrs.get("seed")),
        ("train seconds", attrs.get("train_seconds")),
    ]
    if attrs.get("threshold") is not None:
        lines.append(("threshold", attrs["threshold"]))  # binary: chosen on the validation split
    lines += [(f"param {k}", v) for k, v in best.params.items()]
    lines += [(f"val {k}", v) for k, v in (attrs.get("val_metrics") or {}).items()]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"  {key.ljust(width)}  {_fmt(value)}")
    if result.pareto:
        click.echo(f"\nPareto front of value vs parameter count ({len(result.top)} trials, best value first):")
        rows = [[t.number, t.values[0], t.user_attrs.get("n_params"), t.params.get("n_layers"), _widths(t.params), t.user_attrs.get("epochs_run")] for t in result.top]
        click.echo(_table(["trial", "value", "params", "layers", "widths", "epochs"], rows))


# --------------------------------------------------------------------------- reports

artifacts_option = click.option("--artifacts", envvar="TUNER_ARTIFACTS", metavar="DIR", help="Folder of saved trial models [env: TUNER_ARTIFACTS; default: artifacts/ beside a SQLite store].")


@cli.command()
@study_option
@click.option("--out", type=click.Path(file_okay=False), help="Report folder [default: reports/STUDY].")
@click.option("--overwrite", is_flag=True, help="Replace the report folder if it exists.")
@click.option("--trial", type=click.IntRange(min=0), help="Report this completed trial instead of the best one.")
@click.option("--retrain", is_flag=True, help="Re-train the trial from its stored seed even if its model was saved.")
@click.option("--tolerance", type=click.FloatRange(min=0), help="Largest allowed gap between the exported model's validation value and the recorded one [default: 1e-4].")
@click.option("--data-dir", envvar="TUNER_DATA_DIR", type=click.Path(file_okay=False), help="Folder with dataset files (e.g. mnist.npz) [env: TUNER_DATA_DIR].")
@artifacts_option
@common
def report(study: str, storage: str | None, out: str | None, overwrite: bool, trial: int | None, retrain: bool, tolerance: float | None, data_dir: str | None, artifacts: str | None) -> None:
    """Export the best model, score it once on the test split, and write plots and a summary.

    Writes index.html, summary.json, model.keras and plots/ (HTML and PNG) into the folder.

    Example:

        tuner report --study digits --out reports/digits
    """
    from tuner.report.build import DEFAULT_TOLERANCE, build_report

    result = build_report(study, storage=storage, out=out, overwrite=overwrite, data_dir=data_dir, trial=trial, artifacts=artifacts, retrain=retrain, tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance)
    how = "saved model" if result.model_source == "artifact" else "model re-trained from its seed"
    click.echo(f"Report for study '{result.study_name}', trial {result.trial} ({how}), written to {result.out}/ in {result.seconds:.1f}s.")
    click.echo(f"Validation {result.metric}: recorded {_fmt(result.recorded_value)}, exported model {_fmt(result.reproduced_value)}.")
    click.echo("Test split: " + ", ".join(f"{k} {_fmt(v)}" for k, v in result.test_metrics.items()) + ".")
    click.echo(f"Open {result.out / 'index.html'}")


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="Rows to predict: .csv (header optional), .npy or .npz.")
@click.option("--output", type=click.Path(dir_okay=False), help="Where to write: .csv, .npy or .npz [default: CSV on standard output].")
@click.option("--model", type=click.Path(dir_okay=False), help="A .keras model, e.g. reports/STUDY/model.keras.")
@click.option("--study", metavar="NAME|PATH", help="Use the saved model of this study's best trial instead of --model.")
@click.option("--key", metavar="NAME", help="Array to read from an .npz input holding several.")
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@artifacts_option
@common
def predict(input_path: str, output: str | None, model: str | None, study: str | None, key: str | None, overwrite: bool, storage: str | None, artifacts: str | None) -> None:
    """Predict new rows with an exported model: labels and class probabilities, or values.

    Inputs are raw features, as the study trained on; the model normalises them itself.

    Example:

        tuner predict --model reports/digits/model.keras --input new.csv --output preds.csv
    """
    from tuner.predict import predict_file

    result = predict_file(input_path, output, model=model, study=study, storage=storage, artifacts=artifacts, key=key, overwrite=overwrite)
    if result.output != "-":
        click.echo(f"{result.n_rows} predictions from {result.model} written to {result.output}", err=True)


@cli.command()
@click.option("--study", metavar="NAME|PATH", help="Open this study's page (default: the list of studies).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 exposes the dashboard to the network.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8080, show_default=True, help="Port to listen on (0: any free port).")
@artifacts_option
@common
def dashboard(study: str | None, host: str, port: int, storage: str | None, artifacts: str | None) -> None:
    """Start optuna-dashboard on the study store, with saved trial models as artifacts.

    Example:

        tuner dashboard --study digits --port 8080
    """
    from tuner.dashboard import run_dashboard

    run_dashboard(storage, study=study, host=host, port=port, artifacts=artifacts, announce=click.echo)


# --------------------------------------------------------------------------- your own tables


@cli.command()
@click.option("--csv", "csv_path", required=True, type=click.Path(dir_okay=False), help="The CSV table to learn from (a header row, then one row per example).")
@click.option("--target", required=True, metavar="COLUMN", help="The column to predict.")
@click.option("--name", help="Study name [default: the CSV file's name].")
@click.option("--out", type=click.Path(dir_okay=False), help="Study file to write [default: studies/NAME.toml]; an existing file is never overwritten.")
@click.option("--size-objective", is_flag=True, help="Two objectives: the metric and the parameter count (a Pareto front of smaller models).")
@debug_option
def init(csv_path: str, target: str, name: str | None, out: str | None, size_objective: bool) -> None:
    """Inspect a CSV table and write a ready, commented study file for it.

    Column kinds, the task, the metric, class weights and search ranges are inferred from the
    data and written down with the reasons, for you to review.

    Example:

        tuner init --csv data/patients.csv --target stroke
    """
    from tuner.init_study import init_study

    result = init_study(csv_path, target, name=name, out=out, size_objective=size_objective)
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    table, counts = result.table, result.counts
    weights = f", class_weight {result.class_weight}" if result.class_weight else ""
    click.echo(f"Wrote {result.path}: {table.task} target '{table.target}' over {table.n_rows:,} rows, metric {result.metric}{weights}; {counts['numeric']} numeric, {counts['categorical']} categorical, {counts['ignore']} ignored columns.")
    study = result.name if result.path.resolve() == (Path("studies") / f"{result.name}.toml").resolve() else str(result.path)
    click.echo(f"Review it, then: tuner run --study {study}")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="tuner")


__all__ = ["cli", "main"]
