"""The ``tuner`` commands: each parses its flags, calls the library and prints the result.

No Keras or Optuna logic lives here; :mod:`tuner.cli.output` formats what the library returns.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tuner.cli import output
from tuner.cli.group import (
    artifacts_option,
    cli,
    common,
    data_dir_option,
    debug_option,
    study_option,
)
from tuner.cli.progress import RunDisplay, TrialLines, budget_met_line
from tuner.config.choices import MAX_EPOCHS, MAX_SEED, MAX_WORKERS
from tuner.errors import TunerError
from tuner.ml.backend import BACKENDS
from tuner.search.samplers import PRUNER_NAMES, SAMPLER_NAMES

# --------------------------------------------------------------------------- running


@cli.command()
@study_option
@click.option("--trials", type=click.IntRange(min=1), help="Total finished trials the study should hold (resumes count).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Stop starting new trials after this many seconds.")
@click.option("--epochs", "max_epochs", type=click.IntRange(min=1, max=MAX_EPOCHS), help="Maximum epochs per trial.")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), help="Seed for the sampler and the per-trial seeds.")
@click.option("--sampler", type=click.Choice(SAMPLER_NAMES), help="Search algorithm.")
@click.option("--pruner", type=click.Choice(PRUNER_NAMES), help="Early stopping of bad trials.")
@data_dir_option
@click.option("--verbose", is_flag=True, help="Show Keras' per-epoch output and Optuna's trial log.")
@click.option("--quiet", is_flag=True, help="No start line, progress or line per trial.")
@click.option("--workers", type=click.IntRange(min=1, max=MAX_WORKERS), default=1, show_default=True, help="Local worker processes sharing the store (the cores are split between them).")
@click.option("--backend", type=click.Choice(BACKENDS), help="Keras backend [default: the study file's, else $KERAS_BACKEND, else tensorflow].")
@click.option("--accept-changes", is_flag=True, help="Resume although the study file or flags changed its settings: record the change on the study (earlier trials ran under the old settings).")
@common
def run(study: str, storage: str | None, verbose: bool, quiet: bool, workers: int, **overrides: Any) -> None:
    """Run a study until it holds the requested number of finished trials.

    Running the same command again resumes the study in the store; changed settings
    (other than --trials, --timeout and --backend) are refused unless --accept-changes.

    Example:

        tuner run --study digits --trials 20 --workers 2
    """
    from tuner.run.runner import load_study_config, run_workers

    config = load_study_config(study)
    if workers > 1:
        from tuner.ml.backend import resolve_backend
        from tuner.run.local import worker_devices

        output.print_worker_devices(worker_devices(workers), resolve_backend(overrides["backend"], config.training.backend))
    # A terminal gets a live display; a log gets one line per trial (so does --verbose, as
    # Keras prints its epochs itself).
    display = RunDisplay(live=sys.stderr.isatty() and not verbose, params=verbose, enabled=not quiet)
    try:
        result = run_workers(config, workers=workers, storage=storage, verbose=verbose, callbacks=[display], on_start=display.start, on_epoch=display.epoch, **overrides)
    finally:
        display.close()
    output.print_run_summary(result, headline=budget_met_line(display.started) if display.started and display.budget_met else None)


@cli.command()
@study_option
@click.option("--trials", type=click.IntRange(min=1), help="New budget: total finished trials the study should hold [default: the study's].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Stop starting new trials after this many seconds.")
@data_dir_option
@click.option("--verbose", is_flag=True, help="Show Keras' per-epoch output and Optuna's trial log.")
@click.option("--quiet", is_flag=True, help="No line per trial.")
@click.option("--backend", type=click.Choice(BACKENDS), help="Keras backend [default: the study's].")
@common
def worker(study: str, storage: str | None, trials: int | None, timeout: float | None, data_dir: str | None, verbose: bool, quiet: bool, backend: str | None) -> None:
    """Join a study in the store and run trials until its budget is met, then exit.

    The study's settings and budget come from the store (as the latest `tuner run` left
    them), so start as many workers as you like, on any machine that reaches the store.

    Example:

    \b
        export TUNER_STORAGE=postgresql+psycopg://tuner@db-host/tuner
        tuner worker --study digits
    """
    from tuner.run.runner import join_study

    callbacks = [] if quiet or verbose else [TrialLines()]
    result = join_study(study, storage=storage, trials=trials, timeout=timeout, data_dir=data_dir, verbose=verbose, callbacks=callbacks, backend=backend)
    output.print_run_summary(result)


# --------------------------------------------------------------------------- stored studies


@cli.command()
@common
def studies(storage: str | None) -> None:
    """List the studies in the store with trial counts by state and the best value.

    Example:

        tuner studies --storage sqlite:///storage/tuner.db
    """
    from tuner.studies import study_overviews

    overviews = study_overviews(storage)
    if not overviews:
        click.echo("No studies in the store yet. Start one with: tuner run --study digits")
        return
    click.echo(output.studies_table(overviews))


@cli.command()
@study_option
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="Also list the N best completed trials (a leaderboard) after the best trial's details.")
@common
def show(study: str, storage: str | None, top: int | None) -> None:
    """Show the best trial of a study: value, parameters, epochs, model size, seed.

    Example:

        tuner show --study digits --top 10
    """
    from tuner.studies import best_trial_detail, top_trials

    detail = best_trial_detail(study, storage)
    for line in output.study_header(detail):
        click.echo(line)
    name = detail.summary.study_name
    if detail.best is None:
        raise TunerError(f"study '{name}' has no completed trial yet; run: tuner run --study {name}")
    for line in output.best_trial_lines(detail.best, detail.summary):
        click.echo(line)
    if top is not None:
        click.echo(f"\nTop {top} completed trials, best first:")
        click.echo(output.leaderboard_table(top_trials(study, storage, top)))


@cli.command()
@study_option
@click.option("--force", is_flag=True, help="Also recover trials whose heartbeat is fresh (their worker looks alive).")
@common
def recover(study: str, storage: str | None, force: bool) -> None:
    """Fail the trials a gone worker left running, and queue each again with its parameters.

    For trials of a run without heartbeats, or whose worker was killed while no other worker
    was left to notice; trials with a fresh heartbeat are refused unless --force is given.

    Example:

        tuner recover --study digits
    """
    from tuner.run.recover import recover_study

    result = recover_study(study, storage, force=force)
    click.echo(output.recovered_line(result))


# --------------------------------------------------------------------------- reports and models


@cli.command()
@study_option
@click.option("--out", type=click.Path(file_okay=False), help="Report folder [default: reports/STUDY].")
@click.option("--overwrite", is_flag=True, help="Replace the report folder if it exists.")
@click.option("--trial", type=click.IntRange(min=0), help="Report this completed trial instead of the best one.")
@click.option("--retrain", is_flag=True, help="Re-train the trial from its stored seed even if its model was saved.")
@click.option("--tolerance", type=click.FloatRange(min=0), help="Largest allowed gap between the exported model's validation value and the recorded one [default: 1e-4].")
@click.option("--no-baselines", is_flag=True, help="Skip the scikit-learn baselines (linear model, gradient boosting), e.g. for huge data.")
@click.option("--ensemble", type=click.IntRange(min=1), metavar="N", help="Also export ensemble.keras: a greedy ensemble (at most N additions) of the best 2N trials' saved models.")
@data_dir_option
@artifacts_option
@common
def report(study: str, storage: str | None, out: str | None, overwrite: bool, trial: int | None, retrain: bool, tolerance: float | None, no_baselines: bool, ensemble: int | None, data_dir: str | None, artifacts: str | None) -> None:
    """Export the best model, score it once on the test split, and write plots and a summary.

    Writes index.html, summary.json, model.keras and plots/ (HTML and PNG) into the folder.

    Example:

        tuner report --study digits --out reports/digits
    """
    from tuner.report.build import DEFAULT_TOLERANCE, build_report

    fmt = output.fmt
    result = build_report(study, storage=storage, out=out, overwrite=overwrite, data_dir=data_dir, trial=trial, artifacts=artifacts, retrain=retrain, tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance, baselines=not no_baselines, ensemble=ensemble)
    how = "saved model" if result.model_source == "artifact" else "model re-trained from its seed"
    click.echo(f"Report for study '{result.study_name}', trial {result.trial} ({how}), written to {result.out}/ in {result.seconds:.1f}s.")
    click.echo(f"Validation {result.metric}: recorded {fmt(result.recorded_value)}, exported model {fmt(result.reproduced_value)}.")
    click.echo("Test split: " + ", ".join(f"{k} {fmt(v)}" for k, v in result.test_metrics.items()) + ".")
    for line in output.comparison_lines(result.summary):
        click.echo(line)
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
