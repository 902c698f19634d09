"""``tuner studies``, ``tuner show`` and ``tuner recover``: what the store holds."""

from __future__ import annotations

import click

from tuner.cli import output
from tuner.cli.group import cli, common, study_option
from tuner.errors import TunerError


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
@click.option(
    "--top",
    type=click.IntRange(min=1),
    metavar="N",
    help="Also list the N best completed trials (a leaderboard) after the best trial's details.",
)
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
        raise TunerError(
            f"study '{name}' has no completed trial yet; run: tuner run --study {name}"
        )
    for line in output.best_trial_lines(detail.best, detail.summary):
        click.echo(line)
    if top is not None:
        click.echo(f"\nTop {top} completed trials, best first:")
        click.echo(output.leaderboard_table(top_trials(study, storage, top)))


@cli.command()
@study_option
@click.option(
    "--force",
    is_flag=True,
    help="Also recover trials whose heartbeat is fresh (their worker looks alive).",
)
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
    click.echo(output.recovered_line(result, _resume_command(study, result.study_name, storage)))


def _resume_command(study: str, name: str, storage: str | None) -> str:
    """The command that resumes the study as given: its study file (``tuner run``) when one is
    found, else ``tuner worker`` (settings from the store), with the store when given by flag."""
    import shlex

    from tuner.config.parse import resolve_study
    from tuner.errors import StudyNotFoundError
    from tuner.storage import mask_url

    try:
        resolve_study(study)
        command = f"tuner run --study {shlex.quote(study)}"
    except StudyNotFoundError:
        command = f"tuner worker --study {shlex.quote(name)}"
    source = click.get_current_context().get_parameter_source("storage")
    if storage and source != click.core.ParameterSource.ENVIRONMENT:
        command += f" --storage {shlex.quote(mask_url(storage))}"
    return command
