"""What the command line prints: aligned tables and run summaries (progress:
:mod:`tuner.cli.progress`).

Only formatting lives here; the numbers come from :mod:`tuner.studies` and the library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from tuner.formatting import format_number

if TYPE_CHECKING:
    from tuner.run.recover import Recovered
    from tuner.studies import BestTrial, BestTrialDetail, RunResult, StudyOverview, TrialRow


def fmt(value: Any) -> str:
    """A number (or anything) as the command line prints it: ``-`` for none."""
    return format_number(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns under a header and a rule of dashes."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


# --------------------------------------------------------------------------- runs


def print_run_summary(result: RunResult, headline: str | None = None) -> None:
    """What a run left in the store: counts (or ``headline`` instead), the best value, the best
    trials (or Pareto front)."""
    counts = result.counts
    click.echo(
        headline
        or f"Study '{result.study_name}' in {result.storage}: {result.n_finished} finished "
        f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed); "
        f"{result.trials_run} trials run in {result.seconds:.1f}s."
    )
    if result.best_trial is None:
        click.echo("No trial has completed yet.")
        return
    click.echo(
        f"Best {result.direction.removesuffix('imize')}imized value {fmt(result.best_value)} "
        f"(trial {result.best_trial}).\n"
    )
    if result.pareto:
        click.echo(
            f"Pareto front of value vs parameter count ({len(result.top)} trials; none has both a "
            "better value and fewer parameters):"
        )
    click.echo(trials_table(result.top_rows, rank=False, params=result.pareto))


def print_worker_devices(devices: Sequence[tuple[int, str | None]], backend: str) -> None:
    """One line per local worker on standard error: its device, threads and Keras backend."""
    for i, (threads, gpu) in enumerate(devices):
        where = f"GPU {gpu}" if gpu is not None else "CPU"
        click.echo(
            f"worker {i}: {where}, {threads} thread{'' if threads == 1 else 's'}, {backend}",
            err=True,
        )


# --------------------------------------------------------------------------- stored studies


def studies_table(overviews: Sequence[StudyOverview]) -> str:
    """One row per study; running trials without a fresh heartbeat show as ``N (K stale?)``."""
    rows = [
        [
            o.name,
            o.direction,
            o.complete,
            o.pruned,
            o.failed,
            f"{o.running} ({o.stale} stale?)" if o.stale else o.running,
            o.waiting,
            o.best_value,
            o.best_trial,
        ]
        for o in overviews
    ]
    return table(
        [
            "study",
            "direction",
            "complete",
            "pruned",
            "failed",
            "running",
            "waiting",
            "best value",
            "best trial",
        ],
        rows,
    )


def trials_table(rows: Sequence[TrialRow], *, rank: bool = True, params: bool = True) -> str:
    """Trials under the leaderboard's columns; the rank (1 for the first row) and the parameter
    count are optional."""
    from tuner.studies import LEADERBOARD_COLUMNS

    keep = slice(0 if rank else 1, None if params else -1)
    headers = [short for short, _ in LEADERBOARD_COLUMNS][keep]
    return table(headers, [row.cells(i)[keep] for i, row in enumerate(rows, 1)])


def leaderboard_table(rows: Sequence[TrialRow]) -> str:
    """The best trials, ranked: value, architecture, training, epochs and model size."""
    return trials_table(rows)


def recovered_line(result: Recovered, resume: str | None = None) -> str:
    """What ``tuner recover`` did, in one line; ``resume``: the command that resumes it."""
    name = result.study_name
    if not result.requeued and not result.skipped:
        return f"Study '{name}' has no running trials; nothing to recover."
    listed = ", ".join(str(n) for n in result.requeued) or "none"
    line = (
        f"Study '{name}': {len(result.requeued)} running trial(s) failed (their worker is gone) "
        f"and queued again with the same parameters: {listed}."
    )
    if result.skipped:
        line += (
            " Failed meanwhile by a worker, which queued them itself: "
            f"{', '.join(str(n) for n in result.skipped)}."
        )
    return line + f" Resume with: {resume or f'tuner run --study {name}'}"


def study_header(detail: BestTrialDetail) -> list[str]:
    """The study's name, store, direction and trial counts."""
    result = detail.summary
    c = result.counts
    return [
        f"Study '{result.study_name}' in {result.storage} ({result.direction})",
        f"Trials: {c['COMPLETE']} complete, {c['PRUNED']} pruned, {c['FAIL']} failed, "
        f"{c['RUNNING']} running, {c.get('WAITING', 0)} waiting",
        *(
            f"Settings changed from trial {change.from_trial} on (--accept-changes): {change}; "
            "earlier trials ran under the old values"
            for change in detail.changes
        ),
    ]


def best_trial_lines(best: BestTrial, result: RunResult) -> list[str]:
    """The best trial as aligned ``key  value`` lines, then the Pareto front of a two-objective
    study."""
    pairs: list[tuple[str, Any]] = [
        ("best trial", best.number),
        (result.metric, best.value),
        ("epochs per fold" if isinstance(best.epochs_run, str) else "epochs run", best.epochs_run),
        ("model size", f"{best.n_params:,} parameters" if best.n_params is not None else None),
        ("seed", best.seed),
        ("train seconds", best.train_seconds),
    ]
    if best.threshold is not None:
        pairs.append(("threshold", best.threshold))  # binary: chosen on the validation split
    pairs += [(f"param {k}", v) for k, v in best.params.items()]
    pairs += [(f"val {k}", v) for k, v in best.val_metrics.items()]
    width = max(len(k) for k, _ in pairs)
    lines = [f"  {key.ljust(width)}  {fmt(value)}" for key, value in pairs]
    if result.pareto:
        lines.append(
            f"\nPareto front of value vs parameter count ({len(result.top)} trials, best value "
            "first):"
        )
        rows = [
            [r.number, r.value, r.n_params, r.n_layers, r.widths, r.epochs_run]
            for r in result.top_rows
        ]
        lines.append(table(["trial", "value", "params", "layers", "widths", "epochs"], rows))
    return lines


def comparison_lines(summary: dict[str, Any]) -> list[str]:
    """A report's baselines and ensemble, one line each (from its ``summary.json`` content)."""
    metric = summary["metric"]
    lines = []
    if summary.get("baselines"):
        scores = ", ".join(f"{b['name']} {fmt(b['value'])}" for b in summary["baselines"])
        lines.append(f"Baselines, test {metric}: {scores}; {summary['baselines_verdict']}.")
    elif summary.get("baselines_verdict"):
        lines.append(f"Baselines: {summary['baselines_verdict']}.")
    ensemble = summary.get("ensemble")
    if ensemble:
        members = ", ".join(
            f"{n} ({w:.2f})" for n, w in zip(ensemble["members"], ensemble["weights"], strict=True)
        )
        val, test = ensemble["validation"], ensemble["test"]
        lines.append(
            f"Ensemble of trials {members} in {ensemble['file']}: validation {metric} "
            f"{fmt(val['ensemble'])} (single best trial {ensemble['single_best']}: "
            f"{fmt(val['single'])}), "
            f"test {metric} {fmt(test['ensemble'].get(metric))} (single best: "
            f"{fmt(test['single'].get(metric))})."
        )
        if ensemble["skipped"]:
            lines.append(
                f"Ensemble: {len(ensemble['skipped'])} of the best trials had no usable saved "
                "model and were skipped."
            )
    return lines


__all__ = [
    "best_trial_lines",
    "comparison_lines",
    "fmt",
    "leaderboard_table",
    "print_run_summary",
    "studies_table",
    "study_header",
    "table",
    "trials_table",
]
