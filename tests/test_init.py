"""`tuner init`: a ready study file from a CSV, and the whole path init → run → show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import tabular_data as td
from click.testing import CliRunner

from tuner.cli import cli
from tuner.config.parse import load_config
from tuner.errors import ConfigError, DataWarning
from tuner.init_study import init_study
from tuner.keys import WORKER


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _predict(*source: str, rows: str = "new.csv", out: str = "scored.csv"):
    """``tuner predict`` of the ``rows`` file into ``out``; ``source`` names the study or model."""
    return _invoke("predict", *source, "--input", rows, "--output", out)


def test_init_writes_a_ready_study_for_an_imbalanced_table(tmp_path: Path) -> None:
    td.write(td.patients(), tmp_path / "data" / "patients.csv")
    result = init_study("data/patients.csv", "stroke")
    assert result.path == Path("studies/patients.toml")
    text = result.path.read_text()
    cfg = load_config(result.path)
    assert cfg.name == "patients" and cfg.objective.task == "binary"
    assert (
        cfg.objective.metric == "pr_auc"
        and cfg.data.class_weight == "balanced"
        and cfg.data.positive_class == "1"
    )
    assert (
        cfg.data.numeric == ("age", "bmi")
        and cfg.data.categorical == ("smoker", "city")
        and cfg.data.ignore == ("id",)
    )
    assert cfg.data.path == str((tmp_path / "data" / "patients.csv").resolve())
    assert 'path = "../data/patients.csv"' in text
    assert '"id",  # holds a different integer in every row, like an identifier' in text
    assert 'target = "stroke"  # binary: 0 (380, 95.0 %), 1 (20, 5.0 %)' in text
    assert cfg.search.pruner == "hyperband" and cfg.objective.size_objective is None
    assert result.counts == {"numeric": 2, "categorical": 2, "ignore": 1}


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    td.write(td.patients(), tmp_path / "patients.csv")
    first = init_study("patients.csv", "stroke")
    before = first.path.read_text()
    with pytest.raises(ConfigError) as err:
        init_study("patients.csv", "age")
    assert str(err.value) == (
        "studies/patients.toml already exists; tuner init never overwrites a study file — "
        "choose another --name or --out, or delete studies/patients.toml"
    )
    assert first.path.read_text() == before


@pytest.mark.parametrize(
    ("frame", "target", "task", "metric", "weights"),
    [
        (td.breast_cancer(), "target", "binary", "roc_auc", None),
        (td.diabetes(), "target", "regression", "rmse", None),
        (td.iris_named(), "species", "multiclass", "accuracy", None),
    ],
)
def test_init_picks_the_metric_for_the_target(
    tmp_path: Path, frame, target: str, task: str, metric: str, weights: str | None
) -> None:
    td.write(frame, tmp_path / "t.csv")
    result = init_study("t.csv", target, name="t", out="custom/t.toml")
    cfg = load_config(result.path)
    assert (cfg.objective.task, cfg.objective.metric, cfg.data.class_weight) == (
        task,
        metric,
        weights,
    )
    assert result.path == Path("custom/t.toml")


def test_init_weights_an_imbalanced_multiclass_target(tmp_path: Path) -> None:
    frame = td.patients()
    frame["grade"] = np.select([frame["age"] < 70, frame["age"] < 85], ["low", "mid"], "high")
    td.write(frame.drop(columns=["stroke"]), tmp_path / "g.csv")
    cfg = load_config(init_study("g.csv", "grade").path)
    assert (cfg.objective.metric, cfg.data.class_weight) == ("balanced_accuracy", "balanced")


def test_init_two_objectives_and_bad_names(tmp_path: Path) -> None:
    td.write(td.patients(), tmp_path / "p.csv")
    cfg = load_config(init_study("p.csv", "stroke", name="small", size_objective=True).path)
    assert cfg.objective.directions == ("maximize", "minimize") and cfg.search.pruner == "none"
    with pytest.raises(
        ConfigError, match=r"study name 'my study' must start with a letter or digit"
    ):
        init_study("p.csv", "stroke", name="my study")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--csv", "missing.csv", "--target", "stroke"],
            "Error: CSV file missing.csv does not exist; check the --csv path\n",
        ),
        (
            ["--csv", "p.csv", "--target", "strok"],
            "Error: target column 'strok' is not in p.csv (did you mean 'stroke'?); its columns "
            "are: id, age, bmi, smoker, city, stroke\n",
        ),
    ],
)
def test_init_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    td.write(td.patients(), tmp_path / "p.csv")
    result = CliRunner().invoke(cli, ["init", *args])
    assert result.exit_code == 1
    assert result.output == message
    assert not Path("studies").exists()


def test_init_then_run_then_show(tmp_path: Path, store: str) -> None:
    td.write(td.patients(), tmp_path / "data" / "patients.csv")
    result = _invoke("init", "--csv", "data/patients.csv", "--target", "stroke")
    assert result.exit_code == 0, result.output
    assert (
        "Wrote studies/patients.toml: binary target 'stroke' over 400 rows, metric pr_auc, "
        "class_weight balanced; 2 numeric, 2 categorical, 1 ignored columns." in result.output
    )
    assert "Review it, then: tuner run --study patients" in result.output
    result = _invoke(
        "run",
        "--study",
        "patients",
        "--trials",
        "3",
        "--epochs",
        "2",
        "--storage",
        store,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "3 finished" in result.output
    study = optuna.load_study(study_name="patients", storage=store)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(
        t.user_attrs["threshold"] == 0.5 for t in complete
    )  # pr_auc: threshold-free
    assert all(0.0 <= t.value <= 1.0 for t in complete)
    shown = _invoke("show", "--study", "patients", "--storage", store)
    assert "threshold" in shown.output and "val pr_auc" in shown.output


@pytest.mark.slow  # a CSV study trained for real; test_report draws a Pareto front by default
def test_two_objective_study_gives_a_pareto_front(tmp_path: Path, store: str) -> None:
    td.write(td.patients(), tmp_path / "p.csv")
    assert (
        _invoke(
            "init", "--csv", "p.csv", "--target", "stroke", "--name", "small", "--size-objective"
        ).exit_code
        == 0
    )
    result = _invoke(
        "run", "--study", "small", "--trials", "3", "--epochs", "2", "--storage", store, "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert "Pareto front of value vs parameter count" in result.output
    study = optuna.load_study(study_name="small", storage=store)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 3
    for t in trials:
        assert (
            t.values[1] == t.user_attrs["n_params"] and t.intermediate_values == {}
        )  # never reported, never pruned
    front = {t.number for t in study.best_trials}
    for t in trials:  # a trial is off the front only if another one is at least as good in both
        dominated = any(
            o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
            for o in trials
        )
        assert (t.number in front) != dominated
    shown = _invoke("show", "--study", "small", "--storage", store)
    assert shown.exit_code == 0, shown.output
    assert (
        f"Pareto front of value vs parameter count ({len(front)} trials, best value first):"
        in shown.output
    )


@pytest.mark.slow  # test_init_then_run_then_show and test_predict cover each step by default
def test_init_run_report_predict_on_raw_rows(tmp_path: Path, store: str) -> None:
    """The whole path on a table with categories, gaps and 5 % positives, with no edits to the
    file."""
    import pandas as pd

    frame = td.patients(rows=400)
    td.write(frame, tmp_path / "data" / "patients.csv")
    assert _invoke("init", "--csv", "data/patients.csv", "--target", "stroke").exit_code == 0
    run = _invoke(
        "run",
        "--study",
        "patients",
        "--trials",
        "2",
        "--epochs",
        "2",
        "--storage",
        store,
        "--quiet",
    )
    assert run.exit_code == 0, run.output
    report = _invoke(
        "report", "--study", "patients", "--storage", store, "--out", "reports/patients"
    )
    assert report.exit_code == 0, report.output
    assert Path("reports/patients/model.keras").is_file()
    import json

    summary = json.loads(Path("reports/patients/summary.json").read_text())
    assert sorted(r["column"] for r in summary["permutation_importance"]) == [
        "age",
        "bmi",
        "city",
        "smoker",
    ]
    assert summary["test"]["threshold"] == 0.5
    new = frame.drop(columns=["stroke"]).sample(frac=1.0, random_state=1).head(40)
    new = new[
        ["city", "bmi", "smoker", "id", "age"]
    ]  # another column order, and the id the model ignores
    new.loc[new.index[0], "city"] = "atlantis"  # a city never seen in training
    new.to_csv("new.csv", index=False)
    by_study = _predict("--study", "patients", "--storage", store)
    assert by_study.exit_code == 0, by_study.output
    by_file = _predict("--model", "reports/patients/model.keras", out="scored2.csv")
    assert by_file.exit_code == 0, by_file.output
    scored, scored2 = pd.read_csv("scored.csv"), pd.read_csv("scored2.csv")
    assert len(scored) == 40 and scored["probability_1"].between(0, 1).all()
    assert (
        scored["prediction"] == (scored["probability_1"] >= 0.5).astype(int)
    ).all()  # pr_auc keeps 0.5
    assert np.allclose(scored["probability_0"] + scored["probability_1"], 1.0, atol=1e-6)
    pd.testing.assert_frame_equal(scored, scored2)
    missing = _predict(
        "--model", "reports/patients/model.keras", rows="data/patients.csv", out="x.csv"
    )
    assert missing.exit_code == 0  # the training file itself: the target and id are extra columns
    pd.DataFrame({"age": [50]}).to_csv("short.csv", index=False)
    short = CliRunner().invoke(
        cli,
        [
            "predict",
            "--model",
            "reports/patients/model.keras",
            "--input",
            "short.csv",
            "--output",
            "y.csv",
        ],
    )
    assert short.exit_code == 1
    assert short.output == (
        "Error: input short.csv lacks the columns 'bmi', 'smoker', 'city' that the model "
        "needs; it needs: age, bmi, smoker, city\n"
    )
    assert not Path("y.csv").exists()


# --------------------------------------------------------------------------- real tables


def _real_table(rows: int = 699, seed: int = 0):
    """A table like the ones users bring: an ``Id`` repeated on a few rows, a constant column,
    and a multiclass target with two classes of 10 and 13 rows."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = np.concatenate(
        [np.arange(1, 646), rng.choice(np.arange(1, 646), rows - 645, replace=False)]
    )
    sizes = {"a": 400, "b": rows - 400 - 30 - 10 - 13, "c": 30, "d": 10, "e": 13}
    kind = np.repeat(list(sizes), list(sizes.values()))
    rng.shuffle(ids)
    rng.shuffle(kind)
    return pd.DataFrame(
        {
            "Id": ids,
            "size": rng.integers(1, 11, rows),
            "visits": rng.integers(0, 2_000, rows),  # nearly all distinct, but not named like an id
            "flag": 0,
            "shape": rng.choice(["round", "flat"], rows),
            "kind": kind,
        }
    )


def test_init_ignores_a_repeated_id_and_a_constant_column_with_warnings(tmp_path: Path) -> None:
    frame = _real_table()
    assert frame["Id"].nunique() == 645
    td.write(frame, tmp_path / "cells.csv")
    result = CliRunner().invoke(cli, ["init", "--csv", "cells.csv", "--target", "kind"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "Warning: column 'Id' is named like an identifier and holds 645 distinct integers in 699 "
        "rows; ignored (list it under numeric to use it)" in lines
    )
    assert (
        "Warning: column 'flag' holds the same value ('0') in every row, nothing to learn from; "
        "ignored (list it under numeric or categorical to use it)" in lines
    )
    text = Path("studies/cells.toml").read_text()
    assert (
        '"Id",    # is named like an identifier and holds 645 distinct integers in 699 rows' in text
    )
    assert "\"flag\",  # holds the same value ('0') in every row, nothing to learn from" in text
    cfg = load_config("studies/cells.toml")
    assert cfg.data.ignore == ("Id", "flag")
    assert cfg.data.numeric == ("size", "visits") and cfg.data.categorical == ("shape",)


def test_init_warns_about_classes_too_small_to_validate_or_test_on(tmp_path: Path) -> None:
    td.write(_real_table(), tmp_path / "cells.csv")
    result = CliRunner().invoke(cli, ["init", "--csv", "cells.csv", "--target", "kind"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "Warning: class 'd' of target 'kind' has only 10 rows (about 2 in the validation split "
        "and 2 in the test split): too few to validate or test on; collect more rows of it, or "
        "merge it with a similar class" in lines
    )
    assert (
        "Warning: class 'e' of target 'kind' has only 13 rows (about 3 in the validation split "
        "and 3 in the test split): too few to validate or test on; collect more rows of it, or "
        "merge it with a similar class" in lines
    )
    assert not any("class 'c'" in line for line in lines)  # 30 rows
    text = Path("studies/cells.toml").read_text()
    assert (
        '# Classes with fewer than 20 rows: "d" (10 rows), "e" (13 rows). About 20 % of a '
        "class's rows\n" in text
    )
    assert (
        "# land in the validation split and 20 % in the test split: too few to validate or test "
        "on.\n" in text
    )
    assert (
        'target = "kind"  # multiclass: a (400, 57.2 %), b (246, 35.2 %), c (30, 4.3 %), d (10, '
        "1.4 %), e (13, 1.9 %)" in text
    )
    assert load_config("studies/cells.toml").data.target == "kind"  # the comments keep it loadable


def test_init_shows_tiny_shares_with_enough_digits(tmp_path: Path) -> None:
    import pandas as pd

    rows = 12_000
    rng = np.random.default_rng(0)
    label = np.zeros(rows, dtype=int)
    label[rng.choice(rows, 10, replace=False)] = 1
    td.write(pd.DataFrame({"x": rng.normal(size=rows).round(3), "y": label}), tmp_path / "rare.csv")
    with pytest.warns(DataWarning, match="class '1' of target 'y' has only 10 rows"):
        result = init_study("rare.csv", "y")
    assert (
        'target = "y"  # binary: 0 (11,990, > 99.9 %), 1 (10, < 0.1 %)' in result.path.read_text()
    )
    assert any("class '1'" in w for w in result.warnings)


@pytest.mark.slow
def test_the_readme_csv_workflow_with_four_workers(tmp_path: Path, store: str) -> None:
    """`tuner init` → `tuner run --workers 4` → `tuner report` → `tuner predict`, the study file
    as written, on a table with an id, a constant column, categories and gaps."""
    import pandas as pd

    frame = td.patients(rows=600, positive_rate=0.2)
    frame["unit"] = "ward-3"
    td.write(frame, tmp_path / "data" / "patients.csv")
    assert _invoke("init", "--csv", "data/patients.csv", "--target", "stroke").exit_code == 0
    run = _invoke(
        "run",
        "--study",
        "patients",
        "--trials",
        "8",
        "--epochs",
        "5",
        "--workers",
        "4",
        "--storage",
        store,
        "--quiet",
    )
    assert run.exit_code == 0, run.output
    study = optuna.load_study(study_name="patients", storage=store)
    finished = [
        t
        for t in study.trials
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert len(finished) == 8
    assert len({t.user_attrs.get(WORKER) for t in finished}) >= 2  # the work was shared
    report = _invoke("report", "--study", "patients", "--storage", store)
    assert report.exit_code == 0, report.output
    frame.drop(columns=["stroke"]).head(50).to_csv("new.csv", index=False)
    scored = _predict("--study", "patients", "--storage", store)
    assert scored.exit_code == 0, scored.output
    out = pd.read_csv("scored.csv")
    assert list(out.columns) == ["prediction", "probability_0", "probability_1"] and len(out) == 50
