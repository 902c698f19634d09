"""``tuner report``, ``tuner predict`` and ``tuner dashboard``: the best model, its use, a view."""

from __future__ import annotations

import click

from tuner.cli import output
from tuner.cli.group import artifacts_option, cli, common, data_dir_option, study_option


def _on_terminal() -> bool:
    """Whether standard error is a terminal: a person waits there, so a report says what it trains
    again (a log or a pipe gets the summary lines only)."""
    return click.get_text_stream("stderr").isatty()


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


@cli.command()
@study_option
@click.option(
    "--out", type=click.Path(file_okay=False), help="Report folder [default: reports/STUDY]."
)
@click.option("--overwrite", is_flag=True, help="Replace the report folder if it exists.")
@click.option(
    "--trial",
    type=click.IntRange(min=0),
    help="Report this completed trial instead of the best one.",
)
@click.option(
    "--retrain",
    is_flag=True,
    help="Re-train the trial from its stored seed even if its model was saved.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    help=(
        "Largest allowed gap between the exported model's validation value and the recorded one "
        "[default: 1e-4]."
    ),
)
@click.option(
    "--no-baselines",
    is_flag=True,
    help="Skip the scikit-learn baselines (linear model, gradient boosting), e.g. for huge data.",
)
@click.option(
    "--ensemble",
    type=click.IntRange(min=1),
    metavar="N",
    help=(
        "Also export ensemble.keras: a greedy ensemble (at most N additions) of the best 2N "
        "trials' saved models."
    ),
)
@data_dir_option
@artifacts_option
@common
def report(
    study: str,
    storage: str | None,
    out: str | None,
    overwrite: bool,
    trial: int | None,
    retrain: bool,
    tolerance: float | None,
    no_baselines: bool,
    ensemble: int | None,
    data_dir: str | None,
    artifacts: str | None,
) -> None:
    """Export the best model, score it once on the test split, and write plots and a summary.

    Writes index.html, summary.json, model.keras and plots/ (HTML and PNG) into the folder.

    Example:

        tuner report --study digits --out reports/digits
    """
    from tuner.report.build import DEFAULT_TOLERANCE, build_report

    fmt = output.fmt
    result = build_report(
        study,
        storage=storage,
        out=out,
        overwrite=overwrite,
        data_dir=data_dir,
        trial=trial,
        artifacts=artifacts,
        retrain=retrain,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        baselines=not no_baselines,
        ensemble=ensemble,
        progress=_echo_err if _on_terminal() else None,
    )
    how = "saved model" if result.model_source == "artifact" else "model re-trained from its seed"
    click.echo(
        f"Report for study '{result.study_name}', trial {result.trial} ({how}), written to "
        f"{result.out}/ in {result.seconds:.1f}s."
    )
    click.echo(
        f"Validation {result.metric}: recorded {fmt(result.recorded_value)}, exported model "
        f"{fmt(result.reproduced_value)}."
    )
    click.echo(
        "Test split: " + ", ".join(f"{k} {fmt(v)}" for k, v in result.test_metrics.items()) + "."
    )
    for line in output.comparison_lines(result.summary):
        click.echo(line)
    click.echo(f"Open {result.out / 'index.html'}")


@cli.command()
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Rows to predict: .csv (header optional), .npy or .npz.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write: .csv, .npy or .npz [default: CSV on standard output].",
)
@click.option(
    "--model",
    type=click.Path(dir_okay=False),
    help="A .keras model, e.g. reports/STUDY/model.keras.",
)
@click.option(
    "--study",
    metavar="NAME|PATH",
    help="Use the saved model of this study's best trial instead of --model.",
)
@click.option("--key", metavar="NAME", help="Array to read from an .npz input holding several.")
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option(
    "--keep",
    metavar="COL",
    multiple=True,
    help=(
        "Copy this input column into the CSV output, before the predictions (repeatable). "
        "Columns named like an identifier (id, row_id, PassengerId) are copied anyway."
    ),
)
@artifacts_option
@common
def predict(
    input_path: str,
    output: str | None,
    model: str | None,
    study: str | None,
    key: str | None,
    overwrite: bool,
    keep: tuple[str, ...],
    storage: str | None,
    artifacts: str | None,
) -> None:
    """Predict new rows with an exported model: labels and class probabilities, or values.

    Inputs are raw features, as the study trained on; the model normalises them itself.

    Example:

        tuner predict --model reports/digits/model.keras --input new.csv --output preds.csv
    """
    from tuner.predict import predict_file

    result = predict_file(
        input_path,
        output,
        model=model,
        study=study,
        storage=storage,
        artifacts=artifacts,
        key=key,
        overwrite=overwrite,
        keep=keep,
    )
    if result.output != "-":
        click.echo(
            f"{result.n_rows} predictions from {result.model} written to {result.output}", err=True
        )


@cli.command()
@click.option(
    "--study", metavar="NAME|PATH", help="Open this study's page (default: the list of studies)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 exposes the dashboard to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@artifacts_option
@common
def dashboard(
    study: str | None, host: str, port: int, storage: str | None, artifacts: str | None
) -> None:
    """Start optuna-dashboard on the study store, with saved trial models as artifacts.

    Example:

        tuner dashboard --study digits --port 8080
    """
    from tuner.dashboard import run_dashboard

    run_dashboard(
        storage, study=study, host=host, port=port, artifacts=artifacts, announce=click.echo
    )
