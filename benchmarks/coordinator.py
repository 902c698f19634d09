"""Many workers on one store: trial starts per second, the study lock's wait and hold per start,
and the budget's overshoot, on studies that already hold 10 to 10,000 trials.

Three parts, each side by side in one run (the machine is shared: read the ratios):

- ``lock`` (default): studies pre-filled (bulk inserts, 30 intermediate values and the user
  attributes of a real trial each) with ``--stored`` trials, on SQLite and on a PostgreSQL
  cluster this script starts on loopback (``initdb``/``pg_ctl`` from /usr/lib/postgresql/*/bin);
  ``--workers`` processes run a trivial objective through the real exact-budget loop
  (:func:`tuner.run.trial_loop.run_trials`) until ``--starts`` more trials are finished. Prints
  trial starts per second, lock wait and hold per start, and the overshoot (must be 0).
- ``--sampler-cost``: one process's ask + 8 suggests + tell at ``--stored`` trials, per
  sampler (the tuner's TPE and random), on Optuna's cached store (what ``optuna.load_study``
  always gives) and, up to 1,000 trials, on the bare relational store.
- ``--run-check``: ``tuner run`` adding 4 trials to a study holding 10 and one holding 2,000
  (the same study file, the same data, alternated), wall time of the whole command.

Run::

    python benchmarks/coordinator.py                      # lock: sqlite + postgresql, a few min
    python benchmarks/coordinator.py --stored 10,10000 --workers 1,8,64 --stores postgresql
    python benchmarks/coordinator.py --sampler-cost --stored 1000,10000
    python benchmarks/coordinator.py --run-check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import ROOT, banner, loadavg

sys.path.insert(0, str(ROOT / "tests"))  # pg.py: the throw-away PostgreSQL cluster of the tests

import optuna  # noqa: E402
from optuna.distributions import (  # noqa: E402
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState  # noqa: E402

#: A search space like the tuner's: what a stored trial holds.
SPACE: dict[str, BaseDistribution] = {
    "n_layers": IntDistribution(1, 4),
    "units_0": IntDistribution(16, 512, log=True),
    "units_1": IntDistribution(16, 512, log=True),
    "activation": CategoricalDistribution(["relu", "gelu", "tanh"]),
    "dropout": FloatDistribution(0.0, 0.5),
    "learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
    "batch_size": CategoricalDistribution([32, 64, 128, 256]),
    "optimizer": CategoricalDistribution(["adam", "adamw", "sgd"]),
}
EPOCHS = 30
#: User attributes of a stored trial, as a real one records them.
USER_ATTRS = {
    "worker": "host:1234",
    "trial_seed": 12345,
    "n_params": 23456,
    "epochs_run": EPOCHS,
    "train_seconds": 12.5,
    "val_metrics": {"accuracy": 0.9, "loss": 0.3, "roc_auc": 0.95},
    "history": {"loss": [0.5] * EPOCHS, "val_loss": [0.6] * EPOCHS},
}


def _sample(dist: BaseDistribution, rng: random.Random) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return rng.choice(dist.choices)
    low, high = dist.low, dist.high
    if dist.log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return round(value) if isinstance(dist, IntDistribution) else value


def prefill(
    storage: optuna.storages.RDBStorage,
    study_id: int,
    n: int,
    *,
    space: dict[str, BaseDistribution] = SPACE,
    user_attrs: dict[str, Any] = USER_ATTRS,
    epochs: int = EPOCHS,
    seed: int = 0,
) -> None:
    """``n`` finished trials (4 in 5 complete, the rest pruned), inserted in bulk."""
    from optuna.storages._rdb import models  # bulk inserts: Optuna has no public way

    rng = random.Random(seed)
    tables = {m.__tablename__: m.__table__ for m in models.BaseModel.__subclasses__()}
    start = datetime(2026, 1, 1)
    with storage.engine.begin() as conn:
        first = conn.execute(
            tables["trials"].select().where(tables["trials"].c.study_id == study_id)
        ).all()
        base = len(first)
        conn.execute(
            tables["trials"].insert(),
            [
                {
                    "number": base + i,
                    "study_id": study_id,
                    "state": TrialState.PRUNED if i % 5 == 4 else TrialState.COMPLETE,
                    "datetime_start": start + timedelta(minutes=i),
                    "datetime_complete": start + timedelta(minutes=i, seconds=30),
                }
                for i in range(n)
            ],
        )
        ids = [
            row[0]
            for row in conn.execute(
                tables["trials"]
                .select()
                .with_only_columns(tables["trials"].c.trial_id)
                .where(tables["trials"].c.study_id == study_id, tables["trials"].c.number >= base)
                .order_by(tables["trials"].c.number)
            )
        ]
        params, values, inter, attrs = [], [], [], []
        finite = models.TrialValueModel.TrialValueType.FINITE
        finite_i = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
        for i, trial_id in enumerate(ids):
            for name, dist in space.items():
                internal = dist.to_internal_repr(_sample(dist, rng))
                params.append(
                    {
                        "trial_id": trial_id,
                        "param_name": name,
                        "param_value": internal,
                        "distribution_json": optuna.distributions.distribution_to_json(dist),
                    }
                )
            steps = epochs if i % 5 != 4 else rng.randint(1, max(1, epochs - 1))
            curve = [0.5 + 0.4 * (1 - math.exp(-s / 8)) + rng.gauss(0, 0.01) for s in range(steps)]
            for step, value in enumerate(curve):
                inter.append(
                    {
                        "trial_id": trial_id,
                        "step": step,
                        "intermediate_value": value,
                        "intermediate_value_type": finite_i,
                    }
                )
            if i % 5 != 4:
                values.append(
                    {"trial_id": trial_id, "objective": 0, "value": curve[-1], "value_type": finite}
                )
            for key, value in user_attrs.items():
                attrs.append({"trial_id": trial_id, "key": key, "value_json": json.dumps(value)})
        for table, rows in (
            ("trial_params", params),
            ("trial_values", values),
            ("trial_intermediate_values", inter),
            ("trial_user_attributes", attrs),
        ):
            for chunk in range(0, len(rows), 20_000):
                conn.execute(tables[table].insert(), rows[chunk : chunk + 20_000])


def objective(trial: optuna.Trial) -> float:
    """Trivial: draw the whole space, return a number."""
    total = 0.0
    for name, dist in SPACE.items():
        if isinstance(dist, FloatDistribution):
            total += trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, IntDistribution):
            total += trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        else:
            trial.suggest_categorical(name, dist.choices)
    return total


# --------------------------------------------------------------------------- stores


@contextlib.contextmanager
def stores(names: list[str], folder: Path, max_workers: int) -> Iterator[dict[str, Any]]:
    """name -> a function giving a fresh, empty store URL (PostgreSQL: a new database)."""
    made: dict[str, Any] = {}
    server = None
    count = iter(range(10**6))
    try:
        if "sqlite" in names:
            made["sqlite"] = lambda: f"sqlite:///{folder}/s{next(count)}.db"
        if "postgresql" in names:
            import pg

            try:
                # A worker holds up to 3 connections (docs/scale.md).
                server = pg.start_server(max_connections=3 * max_workers + 20)
            except pg.Unavailable as exc:
                print(f"   postgresql skipped: {exc}")
            else:
                os.environ["PGPASSWORD"] = pg.PASSWORD
                made["postgresql"] = lambda: server.url(server.create_database())
        yield made
    finally:
        if server is not None:
            server.stop()


def _fresh_study(url: str, n: int) -> tuple[optuna.storages.RDBStorage, str]:
    from tuner.storage import open_storage

    storage = open_storage(url)
    name = f"pre{n}"
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    prefill(storage, study._study_id, n)
    return storage, name


# --------------------------------------------------------------------------- lock


def _worker(
    study: optuna.Study, storage: Any, budget: int, sampler: str, go: Any, out: Any
) -> None:
    """One forked worker process: the exact-budget loop with a trivial objective; its lock
    figures. ``study`` comes with the trials the parent read into Optuna's cache."""
    from tuner.run import trial_loop as loop
    from tuner.run.signals import SignalGuard
    from tuner.search.samplers import make_sampler
    from tuner.storage import StudyLock

    locks: list[StudyLock] = []

    class Recording(StudyLock):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            locks.append(self)

    loop.StudyLock = Recording  # type: ignore[misc]  # to read each lock's figures
    study.sampler = make_sampler(sampler, os.getpid())
    go.wait()
    with SignalGuard() as guard:
        tally = loop.run_trials(
            study, objective, storage=storage, default_budget=budget, guard=guard, poll=0.05
        )
    ended = time.time()
    stats = [lock.stats for lock in locks]
    out.put(
        (
            tally.run,
            ended,
            sum(s.holds for s in stats),
            sum(s.wait_seconds for s in stats),
            sum(s.hold_seconds for s in stats),
        )
    )


def open_prefilled(url: str, name: str) -> tuple[optuna.Study, Any, float]:
    """The study with its trials read into Optuna's cache, and the seconds that read took.

    A worker reads the study's trials once when it starts (outside the lock); here this
    process reads them once and the forked workers inherit them, so that what is timed is the
    trial starts, and that read is reported apart ("read s").
    """
    from tuner.run.budget import fill_trial_cache
    from tuner.storage import open_storage

    storage = open_storage(url)
    study = optuna.load_study(study_name=name, storage=storage)
    t = time.perf_counter()
    fill_trial_cache(study)
    return study, storage, time.perf_counter() - t


def measure_lock(
    study: optuna.Study, storage: Any, workers: int, starts: int, sampler: str
) -> dict[str, float]:
    """``workers`` forked processes add ``starts`` finished trials; the figures."""
    from tuner.keys import BUDGET_ATTR
    from tuner.storage.optuna_compat import count_trials
    from tuner.studies import FINISHED

    states = (*FINISHED, TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING)
    before = count_trials(storage, study._study_id, states)
    budget = before[TrialState.COMPLETE] + before[TrialState.PRUNED] + starts
    study.set_user_attr(BUDGET_ATTR, budget)
    storage.engine.dispose()  # no connection of this process crosses the fork
    ctx = multiprocessing.get_context("fork")
    out, go = ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_worker, args=(study, storage, budget, sampler, go, out))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let them reach the start line
    began = time.time()
    go.set()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    after = count_trials(storage, study._study_id, states)
    finished = after[TrialState.COMPLETE] + after[TrialState.PRUNED]
    holds = sum(r[2] for r in results)
    return {
        "starts_per_s": sum(r[0] for r in results) / max(1e-9, max(r[1] for r in results) - began),
        "wait_ms": 1000 * sum(r[3] for r in results) / max(1, holds),
        "hold_ms": 1000 * sum(r[4] for r in results) / max(1, holds),
        "overshoot": finished - budget,
        "running": after[TrialState.RUNNING],
        "failed": after[TrialState.FAIL] - before[TrialState.FAIL],
    }


def lock_part(args: argparse.Namespace, folder: Path) -> None:
    stored = [int(n) for n in args.stored.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    shown = ("stores", "stored", "workers", "starts", "sampler")
    banner("coordinator: trial starts with many workers", **{k: getattr(args, k) for k in shown})
    with stores(args.stores.split(","), folder, max(workers)) as made:
        for store, fresh in made.items():
            rows = {}
            for n in stored:
                t = time.perf_counter()
                url = fresh()
                _, name = _fresh_study(url, n)
                print(f"   {store}: pre-filled {n} trials in {time.perf_counter() - t:.1f} s")
                study, storage, read = open_prefilled(url, name)
                for w in workers:
                    rows[n, w] = measure_lock(study, storage, w, args.starts, args.sampler)
                    rows[n, w]["first_read_s"] = read
            print(f"\n{store} (load {loadavg()})")
            print(
                f"{'stored':>7} {'workers':>7} {'starts/s':>9} {'wait ms':>8} {'hold ms':>8} "
                f"{'hold/base':>9} {'overshoot':>9} {'running':>7} {'failed':>6} {'read s':>6}"
            )
            for (n, w), r in rows.items():
                base = rows[stored[0], w]["hold_ms"]
                print(
                    f"{n:>7} {w:>7} {r['starts_per_s']:>9.1f} {r['wait_ms']:>8.1f} "
                    f"{r['hold_ms']:>8.2f} {r['hold_ms'] / base:>9.2f} {r['overshoot']:>9d} "
                    f"{r['running']:>7d} {r['failed']:>6d} {r['first_read_s']:>6.1f}"
                )
            sys.stdout.flush()


# --------------------------------------------------------------------------- sampler


def sampler_part(args: argparse.Namespace, folder: Path) -> None:
    from tuner.search.samplers import make_sampler

    stored = [int(n) for n in args.stored.split(",")]
    banner("coordinator: one trial's ask + 8 suggests + tell", stored=args.stored, store="sqlite")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    print(f"{'stored':>7} {'sampler':>8} {'store':>7} {'ms/trial':>9}")
    for n in stored:
        rdb, name = _fresh_study(f"sqlite:///{folder}/sampler{n}.db", n)
        for sampler in ("tpe", "random"):
            for kind in ("plain", "cached") if n <= 1000 else ("cached",):
                study = optuna.load_study(
                    study_name=name, storage=rdb, sampler=make_sampler(sampler, 0)
                )
                if kind == "plain":  # Optuna always caches a relational store: undo it here
                    study._storage = rdb
                times = []
                for _ in range(args.repeats + 1):  # the first: the cache fills
                    t = time.perf_counter()
                    trial = study.ask()
                    study.tell(trial, objective(trial))
                    times.append(time.perf_counter() - t)
                ms = 1000 * statistics.median(times[1:])
                print(f"{n:>7} {sampler:>8} {kind:>7} {ms:>9.0f}")
                sys.stdout.flush()


# --------------------------------------------------------------------------- tuner run


def run_check(args: argparse.Namespace, folder: Path) -> None:
    """``tuner run`` adding 4 trials to a study holding 10 and one holding 2,000."""
    from study_text import builtin_study_text

    from tuner.storage import open_storage

    sizes = (10, 2000)
    banner("coordinator: tuner run adding 4 trials", stored=sizes, repeats=args.repeats)
    env = {**os.environ, "TUNER_ARTIFACTS": "off", "PYTHONPATH": str(args.tuner_root or ROOT)}
    path = folder / "check.toml"
    path.write_text(builtin_study_text("check", dataset="iris", epochs=2, trials=1))
    master = folder / "master.db"

    def tuner_run(db: Path, trials: int) -> float:
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tuner", "run", "--study", str(path), "--storage",
             f"sqlite:///{db}", "--trials", str(trials), "--quiet"],
            capture_output=True, text=True, env=env, cwd=folder,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"tuner run failed: {done.stderr[-2000:]}")
        return time.perf_counter() - t

    tuner_run(master, 1)  # one real trial: the study, its settings, a template trial
    templates = {}
    for n in sizes:
        db = folder / f"master{n}.db"
        shutil.copy(master, db)
        storage = open_storage(f"sqlite:///{db}")
        study = optuna.load_study(study_name="check", storage=storage)
        (real,) = study.get_trials()
        prefill(
            storage,
            study._study_id,
            n - 1,
            space=real.distributions,
            user_attrs=real.user_attrs,
            epochs=max(1, len(real.intermediate_values)),
        )
        storage.engine.dispose()
        templates[n] = db
    times: dict[int, list[float]] = {n: [] for n in sizes}
    for rep in range(args.repeats):
        for n in sizes if rep % 2 == 0 else sizes[::-1]:
            db = folder / f"run{n}.db"
            shutil.copy(templates[n], db)
            times[n].append(tuner_run(db, n + 4))
    small, big = (statistics.median(times[n]) for n in sizes)
    print(f"{'stored':>7} {'seconds (median)':>17} {'all':>24}")
    for n in sizes:
        print(f"{n:>7} {statistics.median(times[n]):>17.1f}   {[round(t, 1) for t in times[n]]}")
    print(f"ratio 2000/10: {big / small:.2f} (goal <= 1.5)  load {loadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--stored", default="10,100,1000,10000")
    parser.add_argument("--workers", default="1,4,16")  # up to 64: forked, cheap to start
    parser.add_argument("--starts", type=int, default=40, help="trials added per measurement")
    parser.add_argument("--sampler", default="random", help="the workers' sampler (lock part)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sampler-cost", action="store_true")
    parser.add_argument("--run-check", action="store_true")
    parser.add_argument(
        "--tuner-root",
        help="--run-check: the checkout whose `tuner run` is timed (e.g. a baseline)",
    )
    args = parser.parse_args()
    os.environ.setdefault("TUNER_HEARTBEAT_INTERVAL", "5")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    folder = Path(tempfile.mkdtemp(prefix="tuner-coord-"))
    try:
        if args.sampler_cost:
            sampler_part(args, folder)
        elif args.run_check:
            run_check(args, folder)
        else:
            lock_part(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
