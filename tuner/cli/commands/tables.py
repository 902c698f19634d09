"""``tuner init``: a ready study file for your own CSV table."""

from __future__ import annotations

from pathlib import Path

import click

from tuner.cli.group import cli, debug_option


@cli.command()
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The CSV table to learn from (a header row, then one row per example).",
)
@click.option("--target", required=True, metavar="COLUMN", help="The column to predict.")
@click.option("--name", help="Study name [default: the CSV file's name].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Study file to write [default: studies/NAME.toml]; an existing file is never overwritten.",
)
@click.option(
    "--size-objective",
    is_flag=True,
    help="Two objectives: the metric and the parameter count (a Pareto front of smaller models).",
)
@debug_option
def init(
    csv_path: str, target: str, name: str | None, out: str | None, size_objective: bool
) -> None:
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
    click.echo(
        f"Wrote {result.path}: {table.task} target '{table.target}' over {table.n_rows:,} rows, "
        f"metric {result.metric}{weights}; {counts['numeric']} numeric, {counts['categorical']} "
        f"categorical, {counts['ignore']} ignored columns."
    )
    study = (
        result.name
        if result.path.resolve() == (Path("studies") / f"{result.name}.toml").resolve()
        else str(result.path)
    )
    click.echo(f"Review it, then: tuner run --study {study}")
