"""Worker scaling: trials per hour with 1 worker × 1 thread, then 2 workers × 1 thread.

Both phases run on one study in one store (a SQLite file in a temporary folder, or
``--storage URL``), through :func:`tuner.run.runner.run_workers`, the code behind
``tuner run --workers K``: phase 1 holds ``--trials`` finished trials, phase 2 raises the
study's budget by ``2 × --trials`` more. Every worker is a fresh process capped at one
TensorFlow thread. The trials are made alike (a fixed architecture on scikit-learn's digits,
a fixed number of epochs, no pruning, no early stopping; only the learning rate and dropout
vary), so their number per hour is a fair measure of throughput.

A phase's rate counts its trials over the time all its workers were running trials, from the
trial times stored in the study (see :func:`phase_rate`): process start-up (importing
TensorFlow) is left out. With two cores, the ideal ratio is 2.0; other work on the machine lowers
it, so the load average is printed before and after, with a warning when the machine was busy.

    python benchmarks/workers.py [--trials 6] [--epochs 12] [--storage URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import _common as C

STUDY = """
[study]
name = "bench_workers"

[data]
dataset = "digits"

[space]
n_layers = [2, 2]
units = {{ low = 64, high = 64 }}
dropout = [0.0, 0.2]
activation = ["relu"]
learning_rate = {{ low = 1e-3, high = 1e-2, log = true }}
batch_size = [32]
optimizer = ["adam"]

[training]
max_epochs = {epochs}
patience = {epochs}

[search]
sampler = "random"
pruner = "none"
seed = 0
"""


def phase_rate(storage: str, numbers: set[int]) -> tuple[int, float, float]:
    """Finished trials among ``numbers``, the seconds all of the phase's workers were running
    trials, and the trials per hour over those seconds.

    The window runs from the moment the last worker started its first trial to the moment the
    first worker ended its last one: every worker is busy throughout. Each trial counts with
    the share of its duration that falls inside the window.
    """
    import optuna

    study = optuna.load_study(study_name="bench_workers", storage=storage)
    done = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.number in numbers and t.state.is_finished() and t.datetime_complete
    ]
    if not done:
        return 0, float("nan"), float("nan")
    by_worker: dict[str, list] = {}
    for t in done:
        by_worker.setdefault(t.user_attrs.get("worker", "?"), []).append(t)
    begin = max(min(t.datetime_start for t in ts) for ts in by_worker.values())
    end = min(max(t.datetime_complete for t in ts) for ts in by_worker.values())
    span = (end - begin).total_seconds()
    if span <= 0:
        return len(done), float("nan"), float("nan")
    share = 0.0
    for t in done:
        inside = (min(t.datetime_complete, end) - max(t.datetime_start, begin)).total_seconds()
        share += max(0.0, inside) / (t.datetime_complete - t.datetime_start).total_seconds()
    return len(done), span, share / span * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials",
        type=int,
        default=6,
        help="finished trials in phase 1 (phase 2 runs twice as many)",
    )
    parser.add_argument("--epochs", type=int, default=12, help="epochs per trial")
    parser.add_argument(
        "--storage", help="store URL (default: a SQLite file in a temporary folder)"
    )
    args = parser.parse_args()
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # the workers inherit it
    C.quiet_runtime()
    import optuna

    from tuner.run.runner import run_workers

    load_before = os.getloadavg()
    C.banner(
        "worker scaling: trials per hour, 1 worker x 1 thread vs 2 workers x 1 thread",
        trials=args.trials,
        epochs=args.epochs,
    )
    with tempfile.TemporaryDirectory(prefix="tuner-bench-") as tmp:
        storage = args.storage or f"sqlite:///{Path(tmp) / 'bench.db'}"
        path = Path(tmp) / "bench_workers.toml"
        path.write_text(STUDY.format(epochs=args.epochs))
        rows = []
        numbers_before: set[int] = set()
        for workers, budget in ((1, args.trials), (2, 3 * args.trials)):
            run_workers(path, workers=workers, threads_per_worker=1, trials=budget, storage=storage)
            study = optuna.load_study(study_name="bench_workers", storage=storage)
            numbers = {t.number for t in study.get_trials(deepcopy=False)} - numbers_before
            numbers_before |= numbers
            n, span, per_hour = phase_rate(storage, numbers)
            rows.append(
                [f"{workers} worker{'s' if workers > 1 else ''} x 1 thread", n, span, per_hour]
            )
    C.table(["variant", "trials", "seconds measured", "trials/hour"], rows)
    ratio = C.ratio(rows[1][3], rows[0][3])
    load_after = os.getloadavg()
    print(
        f"   ratio (2 workers / 1 worker): {ratio:.2f}  "
        f"(ideal on {C.cores()} cores: {min(2, C.cores())}.0)"
    )
    print(
        f"   os.getloadavg() before {tuple(round(x, 2) for x in load_before)}, "
        f"after {tuple(round(x, 2) for x in load_after)}"
    )
    if max(load_before[0], load_after[0]) > C.cores() * 0.75:
        print(
            f"   warning: the machine was busy (load above {C.cores() * 0.75:.1f} on "
            f"{C.cores()} cores): other processes shared the cores, so the ratio "
            f"understates scaling"
        )


if __name__ == "__main__":
    main()
