"""``tuner run`` and ``tuner worker``: run a study's trials, here or joined from anywhere."""

from __future__ import annotations

import sys
from typing import Any

import click

from tuner.cli import output
from tuner.cli.group import cli, common, data_dir_option, study_option
from tuner.cli.progress import RunDisplay, TrialLines, budget_met_line
from tuner.config.choices import MAX_EPOCHS, MAX_PACK, MAX_SEED, MAX_WORKERS
from tuner.ml.backend import BACKENDS
from tuner.search.samplers import PRUNER_NAMES, SAMPLER_NAMES

timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop starting new trials after this many seconds.",
)


class _Pack(click.ParamType):
    """``--pack``: "auto" or a number of trials trained at once."""

    name = "auto|K"

    def get_metavar(self, *args: Any, **kwargs: Any) -> str:
        return self.name

    def convert(self, value: Any, param: Any, ctx: Any) -> str | int:
        if isinstance(value, int) or value == "auto":
            return value
        if str(value).isdigit() and 1 <= int(value) <= MAX_PACK:
            return int(value)
        self.fail(f'must be "auto" or a number of trials from 1 to {MAX_PACK}, got {value!r}')


pack_option = click.option(
    "--pack",
    type=_Pack(),
    help=(
        "Trials trained at once in one compiled program (JAX backend) [default: the study "
        "file's, else auto: packed on a GPU, one at a time on a CPU]."
    ),
)
verbose_option = click.option(
    "--verbose", is_flag=True, help="Show Keras' per-epoch output and Optuna's trial log."
)


@cli.command()
@study_option
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="Total finished trials the study should hold (resumes count).",
)
@timeout_option
@click.option(
    "--epochs",
    "max_epochs",
    type=click.IntRange(min=1, max=MAX_EPOCHS),
    help="Maximum epochs per trial.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    help="Seed for the sampler and the per-trial seeds.",
)
@click.option("--sampler", type=click.Choice(SAMPLER_NAMES), help="Search algorithm.")
@click.option("--pruner", type=click.Choice(PRUNER_NAMES), help="Early stopping of bad trials.")
@data_dir_option
@verbose_option
@click.option("--quiet", is_flag=True, help="No start line, progress or line per trial.")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=MAX_WORKERS),
    default=1,
    show_default=True,
    help="Local worker processes sharing the store (the cores are split between them).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    help="Keras backend [default: the study file's, else $KERAS_BACKEND, else tensorflow].",
)
@pack_option
@click.option(
    "--accept-changes",
    is_flag=True,
    help=(
        "Resume although the study file or flags changed its settings: record the change on the "
        "study (earlier trials ran under the old settings)."
    ),
)
@common
def run(
    study: str, storage: str | None, verbose: bool, quiet: bool, workers: int, **overrides: Any
) -> None:
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

        output.print_worker_devices(
            worker_devices(workers), resolve_backend(overrides["backend"], config.training.backend)
        )
    # A terminal gets a live display; a log gets one line per trial (so does --verbose, as
    # Keras prints its epochs itself).
    display = RunDisplay(
        live=sys.stderr.isatty() and not verbose, params=verbose, enabled=not quiet
    )
    try:
        result = run_workers(
            config,
            workers=workers,
            storage=storage,
            verbose=verbose,
            callbacks=[display],
            on_start=display.start,
            on_epoch=display.epoch,
            on_fold=display.fold,
            **overrides,
        )
    finally:
        display.close()
    output.print_run_summary(
        result,
        headline=budget_met_line(display.started)
        if display.started and display.budget_met
        else None,
    )


@cli.command()
@study_option
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="New budget: total finished trials the study should hold [default: the study's].",
)
@timeout_option
@data_dir_option
@verbose_option
@click.option("--quiet", is_flag=True, help="No line per trial.")
@click.option(
    "--backend", type=click.Choice(BACKENDS), help="Keras backend [default: the study's]."
)
@pack_option
@common
def worker(
    study: str,
    storage: str | None,
    trials: int | None,
    timeout: float | None,
    data_dir: str | None,
    verbose: bool,
    quiet: bool,
    backend: str | None,
    pack: str | int | None,
) -> None:
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
    result = join_study(
        study,
        storage=storage,
        trials=trials,
        timeout=timeout,
        data_dir=data_dir,
        verbose=verbose,
        callbacks=callbacks,
        backend=backend,
        pack=pack,
    )
    output.print_run_summary(result)
