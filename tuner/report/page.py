"""The report's human page, ``index.html``: the numbers, the model summary, every plot.

A single self-contained page with no scripts, from the Jinja2 template
``templates/index.html.j2``: each plot is shown as its PNG and links to its interactive HTML
version; wide plots (parallel coordinates, slices, training curves) take the page's full width.
This module only shapes the summary's numbers into the template's tables.
"""

from __future__ import annotations

from typing import Any

from tuner.formatting import format_number

#: Plots drawn wide (many axes or panels): shown across the page rather than half of it.
WIDE_PLOTS = frozenset(
    {
        "optimization_history",
        "parallel_coordinate",
        "slice",
        "intermediate_values",
        "training_curves",
        "param_importances",
    }
)

#: A table: its rows (the first cell a heading) and its column headings (or None).
Table = tuple[list[tuple[Any, ...]], tuple[str, ...] | None]


def _num(value: Any) -> str:
    """A table cell: fixed point below 10,000, thousands separators for ints, "–" for none."""
    return format_number(value, fixed_range=(1e-3, 1e4), trim=False, thousands=True, missing="–")


def _headline(summary: dict[str, Any]) -> Table:
    check, test, metric = summary["model"]["validation_check"], summary["test"], summary["metric"]
    if check.get("kind") in ("refit", "folds"):
        rows: list[tuple[Any, ...]] = [
            (
                f"validation {metric}, mean over {check['folds']} folds (out of fold)",
                check["cv_mean"],
            ),
            (f"validation {metric}, standard deviation over the folds", check["cv_std"]),
        ]
    else:
        rows = [
            (f"validation {metric}, recorded by the trial", check["recorded"]),
            (f"validation {metric}, exported model", check["reproduced"]),
        ]
    rows += [(f"test {k}", v) for k, v in test["metrics"].items()]
    interval = test.get("interval")
    if interval:
        level = f"{100 * interval['level']:g} %"
        rows += [
            (f"test {metric}, {level} interval, low", interval["low"]),
            (f"test {metric}, {level} interval, high", interval["high"]),
        ]
    if "threshold" in test:
        rows.append(("decision threshold on P(positive), chosen on validation", test["threshold"]))
    return rows, None


def _baselines(summary: dict[str, Any]) -> Table:
    metric, test = summary["metric"], summary["test"]
    others = [k for k in test["metrics"] if k != metric]
    mlp = test.get("interval") or {}
    rows: list[tuple[Any, ...]] = [
        (
            "tuned MLP (this report)",
            test["metrics"][metric],
            mlp.get("low"),
            mlp.get("high"),
            None,
            None,
            *(test["metrics"][k] for k in others),
            None,
        )
    ]
    for b in summary.get("baselines") or []:
        interval = b.get("interval") or [None, None]
        difference = (b.get("difference") or {}).get("interval") or [None, None]
        rows.append(
            (
                b["name"],
                b["value"],
                *interval,
                *difference,
                *(b["test_metrics"].get(k) for k in others),
                b["fit_seconds"],
            )
        )
    headers = (
        "model",
        f"test {metric}",
        "interval low",
        "interval high",
        "MLP minus it, low",
        "MLP minus it, high",
        *(f"test {k}" for k in others),
        "fit seconds",
    )
    return rows, headers


def _ensemble(summary: dict[str, Any]) -> Table:
    e, keys = summary["ensemble"], list(summary["test"]["metrics"])
    rows = [
        (
            f"single best (trial {e['single_best']})",
            e["validation"]["single"],
            *(e["test"]["single"].get(k) for k in keys),
        ),
        ("ensemble", e["validation"]["ensemble"], *(e["test"]["ensemble"].get(k) for k in keys)),
    ]
    return rows, ("model", f"validation {summary['metric']}", *(f"test {k}" for k in keys))


def _leaderboard(summary: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The summary's leaderboard records as (headings, rows of cells)."""
    from tuner.studies import LEADERBOARD_COLUMNS, TrialRow

    rows = summary.get("leaderboard") or []
    cells = [TrialRow(**{k: v for k, v in r.items() if k != "rank"}).cells(r["rank"]) for r in rows]
    return tuple(h for _, h in LEADERBOARD_COLUMNS), cells


def _tables(summary: dict[str, Any]) -> dict[str, Table]:
    test, metric = summary["test"], summary["metric"]
    tables: dict[str, Table] = {
        "headline": _headline(summary),
        "params": (list(summary["best_params"].items()), None),
        "training": (
            [(k, str(v) if k == "seed" else v) for k, v in summary["best_trial_attrs"].items()],
            None,
        ),
        "counts": ([(state.lower(), n) for state, n in summary["counts"].items() if n], None),
    }
    if summary.get("baselines"):
        tables["baselines"] = _baselines(summary)
    if summary.get("ensemble"):
        tables["ensemble"] = _ensemble(summary)
    if "per_class" in test:
        tables["per_class"] = (
            [
                (name, v["precision"], v["recall"], v["f1"], int(v["support"]))
                for name, v in test["per_class"].items()
            ],
            ("class", "precision", "recall", "F1", "support"),
        )
    if summary.get("permutation_importance"):
        tables["importance"] = (
            [(r["column"], r["importance"], r["std"]) for r in summary["permutation_importance"]],
            ("column", "importance", "std"),
        )
    if summary.get("pareto_front"):
        tables["pareto"] = (
            [
                (f"trial {r['trial']}", r["values"][0], r["n_params"])
                for r in summary["pareto_front"]
            ],
            ("trial", f"validation {metric}", "parameters"),
        )
    return tables


def render_index(summary: dict[str, Any], plots: list[Any], model_summary: str) -> str:
    """The HTML page for a report whose ``summary.json`` content is ``summary``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tuner.report", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    headers, leaderboard = _leaderboard(summary)
    return env.get_template("index.html.j2").render(
        s=summary,
        tables=_tables(summary),
        plots=plots,
        wide=WIDE_PLOTS,
        model_summary=model_summary,
        leaderboard=leaderboard,
        leaderboard_headers=headers,
        importance_note=(summary.get("param_importances") or {}).get("note"),
    )


__all__ = ["WIDE_PLOTS", "render_index"]
