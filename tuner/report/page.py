"""The report's human page, ``index.html``: the numbers, the model summary, every plot.

A single self-contained page with no scripts: each plot is shown as its PNG and links to its
interactive HTML version.
"""

from __future__ import annotations

from html import escape
from typing import Any

from tuner.formatting import format_number

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; \
color: #222; }
h1 { margin-bottom: 0.2rem; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.8rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(30rem, 1fr)); gap: 1.5rem; }
figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.skipped { color: #a60; }
"""


def _num(value: Any) -> str:
    """A table cell: fixed point below 10,000, thousands separators for ints, "–" for none."""
    return escape(
        format_number(value, fixed_range=(1e-3, 1e4), trim=False, thousands=True, missing="–")
    )


def _table(rows: list[tuple[Any, ...]], headers: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if headers else ""
    body = "".join(
        "<tr>"
        + "".join(
            f"<th>{escape(str(c))}</th>" if i == 0 else f'<td class="num">{_num(c)}</td>'
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _comparison_parts(summary: dict[str, Any]) -> list[str]:
    """The baselines beside the MLP, and the ensemble beside the single best (when built)."""
    metric, test = summary["metric"], summary["test"]["metrics"]
    others = [k for k in test if k != metric]
    parts: list[str] = []
    if "baselines" in summary:
        parts += ["<h2>Baselines</h2>", f"<p>{escape(summary.get('baselines_verdict') or '')}.</p>"]
        if summary["baselines"]:
            rows = [("tuned MLP (this report)", test[metric], *(test[k] for k in others), None)]
            rows += [
                (
                    b["name"],
                    b["value"],
                    *(b["test_metrics"].get(k) for k in others),
                    b["fit_seconds"],
                )
                for b in summary["baselines"]
            ]
            parts.append(
                _table(
                    rows, ("model", f"test {metric}", *(f"test {k}" for k in others), "fit seconds")
                )
            )
            parts.append(
                "<p>"
                + " ".join(
                    f"{escape(b['name'].capitalize())}: {escape(b['description'])}."
                    for b in summary["baselines"]
                )
                + "</p>"
            )
    ensemble = summary.get("ensemble")
    if ensemble:
        val, ens_test = ensemble["validation"], ensemble["test"]
        rows = [
            (
                f"single best (trial {ensemble['single_best']})",
                val["single"],
                *(ens_test["single"].get(k) for k in test),
            ),
            ("ensemble", val["ensemble"], *(ens_test["ensemble"].get(k) for k in test)),
        ]
        members = ", ".join(
            f"trial {n} × {w:.2f}"
            for n, w in zip(ensemble["members"], ensemble["weights"], strict=True)
        )
        skipped = len(ensemble["skipped"])
        parts += [
            "<h2>Ensemble</h2>",
            f"<p><a href='{escape(ensemble['file'])}'>{escape(ensemble['file'])}</a> "
            f"({ensemble['n_params']:,} parameters) averages the outputs of {escape(members)}, "
            f"chosen greedily on validation {escape(metric)} from the "
            f"{len(ensemble['candidates'])} best trials with a saved model"
            + (
                f" ({skipped} trial{'s' if skipped != 1 else ''} without a usable saved model "
                "skipped)"
                if skipped
                else ""
            )
            + f". It loads in safe mode and reproduces its validation {escape(metric)} within "
            f"{val['check']['tolerance']:g}; use it with <code>tuner predict --model "
            f"{escape(ensemble['file'])}</code>.</p>",
            _table(rows, ("model", f"validation {metric}", *(f"test {k}" for k in test))),
        ]
    return parts


def _leaderboard_parts(summary: dict[str, Any]) -> list[str]:
    """The best completed trials, ranked, and which trials' models are kept."""
    rows = summary.get("leaderboard") or []
    parts: list[str] = []
    if rows:
        parts += [
            "<h3>Leaderboard</h3>",
            f"<p>The {len(rows)} best completed trials by validation {escape(summary['metric'])}; "
            "export any of them with <code>tuner report --trial N</code>.</p>",
            _leaderboard_table(rows),
        ]
    saved = summary.get("saved_models")
    if saved:
        parts.append(f"<p>Saved trial models: {escape(saved['note'])}.</p>")
    return parts


def _leaderboard_table(rows: list[dict[str, Any]]) -> str:
    """The summary's leaderboard records (``rank`` and a :class:`~tuner.studies.TrialRow`'s
    fields) as a table; an empty or missing cell shows as "–"."""
    from tuner.studies import LEADERBOARD_COLUMNS, TrialRow

    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for _, h in LEADERBOARD_COLUMNS) + "</tr>"
    cells = [TrialRow(**{k: v for k, v in r.items() if k != "rank"}).cells(r["rank"]) for r in rows]
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_num(c)}</td>'
            if isinstance(c, (int, float))
            else f"<td>{escape(str(c)) if c not in (None, '') else '–'}</td>"
            for c in row
        )
        + "</tr>"
        for row in cells
    )
    return f"<table>{head}{body}</table>"


def _validation_rows(check: dict[str, Any], metric: str) -> list[tuple[str, Any]]:
    """The headline's validation numbers: the recorded value and the exported model's, or, for a
    cross-validated study, the fold mean (a refit model has no held-out rows of its own)."""
    if check.get("kind") in ("refit", "folds"):
        return [
            (f"validation {metric}, mean over {check['folds']} folds", check["cv_mean"]),
            (f"validation {metric}, standard deviation over the folds", check["cv_std"]),
        ]
    return [
        (f"validation {metric}, recorded by the trial", check["recorded"]),
        (f"validation {metric}, exported model", check["reproduced"]),
    ]


def _check_sentence(check: dict[str, Any], metric: str) -> str:
    if check.get("kind") == "folds":
        return (
            f"{escape(check['statement'])}. Its folds, trained again from their seeds, reproduce "
            f"the recorded value within {check['tolerance']:g} (difference "
            f"{check['difference']:.3g})."
        )
    if check.get("kind") == "refit":
        return (
            f"{escape(check['statement'])}. Two refits from the trial's seed agree within "
            f"{check['tolerance']:g} (difference {check['difference']:.3g}) on their own rows."
        )
    return (
        f"Its validation {escape(metric)} matches the recorded value within "
        f"{check['tolerance']:g} (difference {check['difference']:.3g})."
    )


def _headline_parts(summary: dict[str, Any]) -> list[str]:
    """The title, the headline numbers and the split sizes."""
    check = summary["model"]["validation_check"]
    test = summary["test"]
    metric = summary["metric"]
    return [
        f"<h1>Study '{escape(summary['study'])}': best model report</h1>",
        f"<p class='sub'>Dataset <b>{escape(summary['dataset'])}</b> ({escape(summary['task'])}), "
        f"selected on validation {escape(metric)} "
        f"({escape(', '.join(summary['directions']))}); trial {summary['best_trial']}; created "
        f"{escape(summary['created'])}; store {escape(summary['storage'])}.</p>",
        "<h2>Headline numbers</h2>",
        _table(
            [
                *_validation_rows(check, metric),
                *[(f"test {k}", v) for k, v in test["metrics"].items()],
                *(
                    [("decision threshold on P(positive), chosen on validation", test["threshold"])]
                    if "threshold" in test
                    else []
                ),
            ]
        ),
        f"<p>The test split ({test['n_rows']:,} rows) was used once, here, to score the exported "
        "model. "
        f"Split sizes: train {summary['splits']['train']:,}, validation "
        f"{summary['splits']['validation']:,}, test {summary['splits']['test']:,}.</p>",
    ]


def _detail_parts(summary: dict[str, Any]) -> list[str]:
    """Per-class scores, column importances and the Pareto front, where the report has them."""
    test = summary["test"]
    metric = summary["metric"]
    parts: list[str] = []
    if "per_class" in test:
        rows = [
            (name, v["precision"], v["recall"], v["f1"], int(v["support"]))
            for name, v in test["per_class"].items()
        ]
        parts += [
            "<h2>Per class (test split)</h2>",
            _table(rows, ("class", "precision", "recall", "F1", "support")),
        ]
    if summary.get("permutation_importance"):
        rows = [(r["column"], r["importance"], r["std"]) for r in summary["permutation_importance"]]
        parts += [
            "<h2>Which columns matter</h2>",
            "<p>Permutation importance on the validation split: how much validation "
            f"{escape(metric)} worsens when a column's values are shuffled (mean and standard "
            "deviation over 5 shuffles).</p>",
            _table(rows, ("column", "importance", "std")),
        ]
    if summary.get("pareto_front"):
        rows = [
            (f"trial {r['trial']}", r["values"][0], r["n_params"]) for r in summary["pareto_front"]
        ]
        parts += [
            "<h2>Pareto front</h2>",
            f"<p>The trials no other trial beats on both validation {escape(metric)} and "
            "parameter count; export any of them with <code>tuner report --trial N</code>.</p>",
            _table(rows, ("trial", f"validation {metric}", "parameters")),
        ]
    return parts


def _model_parts(summary: dict[str, Any], model_summary: str) -> list[str]:
    """The exported model, its parameters and training, Keras' summary, the trials' counts."""
    model = summary["model"]
    check = model["validation_check"]
    metric = summary["metric"]
    return [
        "<h2>Model</h2>",
        f"<p><a href='{escape(model['file'])}'>{escape(model['file'])}</a> ({model['n_params']:,} "
        f"parameters, {model['bytes']:,} bytes): "
        f"{escape(model['source'])}, {escape(model['provenance'])}. Raw feature rows go in "
        "(normalisation is inside the model); "
        "load it with <code>keras.saving.load_model(path, safe_mode=True)</code> or use "
        f"<code>tuner predict --model {escape(model['file'])}</code>. "
        f"{_check_sentence(check, metric)}</p>",
        "<h3>Parameters</h3>",
        _table([(k, v) for k, v in summary["best_params"].items()]),
        "<h3>Training</h3>",
        _table([(k, str(v) if k == "seed" else v) for k, v in summary["best_trial_attrs"].items()]),
        "<h3>Keras model summary</h3>",
        f"<pre>{escape(model_summary)}</pre>",
        "<h2>Trials</h2>",
        _table([(state.lower(), n) for state, n in summary["counts"].items() if n]),
    ]


def _figure(plot: Any, importance_note: str | None) -> str:
    """One plot: its image linking to the interactive version, or why it was not drawn."""
    if plot.name == "param_importances" and importance_note and not plot.skipped:
        return (
            f"<figure><a href='{escape(plot.html)}'><img src='{escape(plot.png)}' "
            f"alt='{escape(plot.title)}'></a>"
            f"<figcaption><b>{escape(plot.title)}</b> · <a "
            f"href='{escape(plot.html)}'>interactive</a><br><span class='skipped'>Caution: "
            f"{escape(importance_note)}.</span></figcaption></figure>"
        )
    if plot.skipped:
        return (
            f"<figure><figcaption><b>{escape(plot.title)}</b>: <span class='skipped'>not "
            f"drawn ({escape(plot.skipped)})</span></figcaption></figure>"
        )
    return (
        f"<figure><a href='{escape(plot.html)}'><img src='{escape(plot.png)}' "
        f"alt='{escape(plot.title)}'></a>"
        f"<figcaption><b>{escape(plot.title)}</b> · <a "
        f"href='{escape(plot.html)}'>interactive</a></figcaption></figure>"
    )


def render_index(summary: dict[str, Any], plots: list[Any], model_summary: str) -> str:
    """The HTML page for a report whose ``summary.json`` content is ``summary``."""
    parts = _headline_parts(summary)
    parts += _comparison_parts(summary)
    parts += _detail_parts(summary)
    parts += [
        *_model_parts(summary, model_summary),
        *_leaderboard_parts(summary),
        "<h2>Plots</h2>",
        "<p>Each image links to its interactive version.</p>",
        "<div class='plots'>",
    ]
    importance_note = (summary.get("param_importances") or {}).get("note")
    parts += [_figure(plot, importance_note) for plot in plots]
    parts.append("</div>")
    body = "\n".join(parts)
    title = escape(f"{summary['study']}: tuner report")
    return (
        "<!doctype html>\n<html lang='en'><head><meta "
        f"charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
