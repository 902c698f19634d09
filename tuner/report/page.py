"""The report's human page, ``index.html``: the numbers, the model summary, every plot.

A single self-contained page with no scripts: each plot is shown as its PNG and links to its
interactive HTML version.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
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
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3) else f"{value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return escape(str(value))


def _table(rows: list[tuple[Any, ...]], headers: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if headers else ""
    body = "".join("<tr>" + "".join(f"<th>{escape(str(c))}</th>" if i == 0 else f'<td class="num">{_num(c)}</td>' for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def render_index(summary: dict[str, Any], plots: list[Any], model_summary: str) -> str:
    """The HTML page for a report whose ``summary.json`` content is ``summary``."""
    model = summary["model"]
    check = model["validation_check"]
    test = summary["test"]
    metric = summary["metric"]
    parts = [
        f"<h1>Study '{escape(summary['study'])}': best model report</h1>",
        f"<p class='sub'>Dataset <b>{escape(summary['dataset'])}</b> ({escape(summary['task'])}), selected on validation {escape(metric)} "
        f"({escape(', '.join(summary['directions']))}); trial {summary['best_trial']}; created {escape(summary['created'])}; store {escape(summary['storage'])}.</p>",
        "<h2>Headline numbers</h2>",
        _table(
            [
                (f"validation {metric}, recorded by the trial", check["recorded"]),
                (f"validation {metric}, exported model", check["reproduced"]),
                *[(f"test {k}", v) for k, v in test["metrics"].items()],
                *([("decision threshold on P(positive), chosen on validation", test["threshold"])] if "threshold" in test else []),
            ]
        ),
        f"<p>The test split ({test['n_rows']:,} rows) was used once, here, to score the exported model. "
        f"Split sizes: train {summary['splits']['train']:,}, validation {summary['splits']['validation']:,}, test {summary['splits']['test']:,}.</p>",
    ]
    if "per_class" in test:
        rows = [(name, v["precision"], v["recall"], v["f1"], int(v["support"])) for name, v in test["per_class"].items()]
        parts += ["<h2>Per class (test split)</h2>", _table(rows, ("class", "precision", "recall", "F1", "support"))]
    if summary.get("permutation_importance"):
        rows = [(r["column"], r["importance"], r["std"]) for r in summary["permutation_importance"]]
        parts += [
            "<h2>Which columns matter</h2>",
            f"<p>Permutation importance on the validation split: how much validation {escape(metric)} worsens when a column's values are shuffled (mean and standard deviation over 5 shuffles).</p>",
            _table(rows, ("column", "importance", "std")),
        ]
    if summary.get("pareto_front"):
        rows = [(f"trial {r['trial']}", r["values"][0], r["n_params"]) for r in summary["pareto_front"]]
        parts += [
            "<h2>Pareto front</h2>",
            f"<p>The trials no other trial beats on both validation {escape(metric)} and parameter count; export any of them with <code>tuner report --trial N</code>.</p>",
            _table(rows, ("trial", f"validation {metric}", "parameters")),
        ]
    parts += [
        "<h2>Model</h2>",
        f"<p><a href='{escape(model['file'])}'>{escape(model['file'])}</a> ({model['n_params']:,} parameters, {model['bytes']:,} bytes): "
        f"{escape(model['source'])}, {escape(model['provenance'])}. Raw feature rows go in (normalisation is inside the model); "
        f"load it with <code>keras.saving.load_model(path, safe_mode=True)</code> or use <code>tuner predict --model {escape(model['file'])}</code>. "
        f"Its validation {escape(metric)} matches the recorded value within {check['tolerance']:g} (difference {check['difference']:.3g}).</p>",
        "<h3>Parameters</h3>",
        _table([(k, v) for k, v in summary["best_params"].items()]),
        "<h3>Training</h3>",
        _table([(k, str(v) if k == "seed" else v) for k, v in summary["best_trial_attrs"].items()]),
        "<h3>Keras model summary</h3>",
        f"<pre>{escape(model_summary)}</pre>",
        "<h2>Trials</h2>",
        _table([(state.lower(), n) for state, n in summary["counts"].items() if n]),
        "<h2>Plots</h2>",
        "<p>Each image links to its interactive version.</p>",
        "<div class='plots'>",
    ]
    for plot in plots:
        if plot.skipped:
            parts.append(f"<figure><figcaption><b>{escape(plot.title)}</b>: <span class='skipped'>not drawn ({escape(plot.skipped)})</span></figcaption></figure>")
            continue
        parts.append(
            f"<figure><a href='{escape(plot.html)}'><img src='{escape(plot.png)}' alt='{escape(plot.title)}'></a>"
            f"<figcaption><b>{escape(plot.title)}</b> · <a href='{escape(plot.html)}'>interactive</a></figcaption></figure>"
        )
    parts.append("</div>")
    body = "\n".join(parts)
    title = escape(f"{summary['study']}: tuner report")
    return f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
