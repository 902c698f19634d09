"""CSV tables: reading, typing, task inference, in-model preprocessing, bad input, importance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tabular_data as td

from tuner.config.parse import config_from_dict, load_config
from tuner.config.schema import StudyConfig
from tuner.data.datasets import load_splits
from tuner.data.table_schema import fit_schema
from tuner.data.tables import load_table, read_csv
from tuner.errors import ConfigError, DatasetError, DataWarning
from tuner.ml.training import predict, train
from tuner.predict import predict_table
from tuner.report.importance import permutation_importance_table

PARAMS = {
    "n_layers": 1,
    "units_0": 16,
    "dropout": 0.0,
    "activation": "relu",
    "learning_rate": 1e-2,
    "batch_size": 32,
    "optimizer": "adam",
}


def _study(tmp_path: Path, frame: pd.DataFrame, target: str, **kwargs) -> StudyConfig:
    csv = td.write(frame, tmp_path / "data" / "table.csv")
    return load_config(td.csv_study(tmp_path / "table.toml", f"data/{csv.name}", target, **kwargs))


# --------------------------------------------------------------------------- study files


def test_relative_path_is_relative_to_the_study_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    td.write(td.patients(), tmp_path / "proj" / "data" / "p.csv")
    study = td.csv_study(tmp_path / "proj" / "p.toml", "data/p.csv", "stroke")
    monkeypatch.chdir(tmp_path)  # elsewhere: the path must not depend on the working directory
    cfg = load_config(study)
    assert cfg.data.path == str((tmp_path / "proj" / "data" / "p.csv").resolve())
    assert cfg.objective.task == "binary" and cfg.data.task == "binary"


def test_config_round_trips_through_the_store_as_json(tmp_path: Path) -> None:
    cfg = _study(
        tmp_path,
        td.patients(),
        "stroke",
        data='categorical = ["smoker"]\nignore = ["id"]\nclass_weight = { 1 = 12.5 }',
        objective='metric = "pr_auc"\nsize_objective = "n_params"',
    )
    stored = json.loads(json.dumps(cfg.to_dict()))
    assert stored["data"]["class_weight"] == {"1": 12.5} and stored["data"]["ignore"] == ["id"]
    again = config_from_dict(stored)
    assert again == cfg
    assert again.objective.directions == ("maximize", "minimize") and again.search.pruner == "none"


def test_built_in_studies_store_the_same_dict_as_before() -> None:
    cfg = load_config(Path(__file__).parent.parent / "studies" / "iris.toml")
    stored = cfg.to_dict()
    assert set(stored["data"]) == {
        "dataset",
        "validation_fraction",
        "test_fraction",
        "split_seed",
        "n_samples",
    }
    assert set(stored["objective"]) == {"task", "metric", "direction"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            'path = "x.csv"',
            r'\[data\] target is missing; dataset = "csv" needs target = "column to predict"',
        ),
        (
            'target = "y"',
            r"\[data\] path is missing; dataset = \"csv\" needs path = \"table.csv\" \(relative "
            r"to the study file's folder\)",
        ),
        (
            'path = "x.csv"\ntarget = "y"\nnumeric = ["a"]\ncategorical = ["a"]',
            r"\[data\] column 'a' is listed under both numeric and categorical; keep it in one "
            r"list",
        ),
        (
            'path = "x.csv"\ntarget = "y"\nnumeric = ["y"]',
            r"\[data\] numeric lists the target column 'y'; the target is predicted, not an "
            r"input — remove it from numeric",
        ),
        (
            'path = "x.csv"\ntarget = "y"\nclass_weight = "even"',
            r"\[data\] class_weight must be \"balanced\" or a table of class → weight",
        ),
        (
            'path = "x.csv"\ntarget = "y"\nclass_weight = { a = -1 }',
            r"\[data\] class_weight for class 'a' must be a positive number, got -1",
        ),
    ],
)
def test_bad_csv_fields_are_refused_up_front(tmp_path: Path, data: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[data]\ndataset = "csv"\n{data}\n[objective]\ntask = "binary"\n')
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_table_fields_only_apply_to_csv_and_class_weight_only_to_classes(tmp_path: Path) -> None:
    path = tmp_path / "iris.toml"
    path.write_text('[data]\ndataset = "iris"\ntarget = "x"\n')
    with pytest.raises(
        ConfigError, match=r'\[data\] target only applies to dataset = "csv"; remove it'
    ):
        load_config(path)
    path.write_text('[data]\ndataset = "diabetes"\nclass_weight = "balanced"\n')
    with pytest.raises(
        ConfigError,
        match=(
            r"\[data\] class_weight applies to classification, and this study is a regression; "
            r"remove class_weight"
        ),
    ):
        load_config(path)


def test_size_objective_refuses_a_pruner(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(
        '[data]\ndataset = "iris"\n[objective]\nsize_objective = "n_params"\n[search]\npruner = '
        '"median"\n'
    )
    with pytest.raises(
        ConfigError,
        match=(
            r"\[search\] pruner 'median' cannot be used with \[objective\] size_objective: "
            r"Optuna cannot prune two-objective trials; remove pruner or set pruner = \"none\""
        ),
    ):
        load_config(path)
    path.write_text('[data]\ndataset = "iris"\n[objective]\nsize_objective = "n_params"\n')
    assert load_config(path).search.pruner == "none"


# ------------------------------------------------------------------------ task inference and labels


def test_breast_cancer_frame_is_binary_with_every_column_numeric(tmp_path: Path) -> None:
    cfg = _study(tmp_path, td.breast_cancer(), "target")
    splits = load_splits(cfg.data)
    assert cfg.objective.task == "binary" and splits.class_names == ("0", "1")
    assert len(splits.feature_names) == 30 and not splits.table.categorical
    assert splits.n_features == 30  # no gaps, so no indicators
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 569


def test_diabetes_frame_is_a_regression(tmp_path: Path) -> None:
    cfg = _study(tmp_path, td.diabetes(), "target")
    splits = load_splits(cfg.data)
    assert cfg.objective.task == "regression" and cfg.objective.metric == "rmse"
    assert splits.y_train.dtype == np.float32 and splits.class_names == ()


def test_text_labels_keep_their_names(tmp_path: Path) -> None:
    cfg = _study(tmp_path, td.iris_named(), "species")
    splits = load_splits(cfg.data)
    assert cfg.objective.task == "multiclass"
    assert splits.class_names == ("setosa", "versicolor", "virginica")
    assert sorted(np.unique(splits.y_train)) == [0, 1, 2]


def test_positive_class_is_the_second_class(tmp_path: Path) -> None:
    frame = td.patients()
    frame["stroke"] = np.where(frame["stroke"] == 1, "yes", "no")
    cfg = _study(tmp_path, frame, "stroke", data='positive_class = "no"\nignore = ["id"]')
    splits = load_splits(cfg.data)
    assert splits.class_names == ("yes", "no")
    assert splits.y_train.mean() > 0.9  # "no" (index 1) is the common class


def test_integer_codes_are_classes_and_many_numbers_a_regression(tmp_path: Path) -> None:
    frame = td.patients()
    frame["grade"] = (frame["age"] // 25).astype(int)  # 4 integer values
    assert load_table(td.write(frame, tmp_path / "g.csv"), "grade").task == "multiclass"
    assert load_table(tmp_path / "g.csv", "age").task == "regression"


def test_a_declared_task_must_fit_the_target(tmp_path: Path) -> None:
    path = td.write(td.iris_named(), tmp_path / "iris.csv")
    with pytest.raises(
        DatasetError,
        match=(
            r'\[objective\] task = "binary" but target column \'species\' has 3 classes '
            r'\(setosa, versicolor, virginica\); set task = "multiclass", or remove task to '
            r"infer it"
        ),
    ):
        load_table(path, "species", task="binary")
    with pytest.raises(
        DatasetError,
        match=(
            r"\[objective\] task = \"regression\" but target column 'species' holds 'setosa' on "
            r"line 2; regression needs numbers"
        ),
    ):
        load_table(path, "species", task="regression")


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    td.csv_study(tmp_path / "s.toml", "nowhere.csv", "stroke")
    with pytest.raises(DatasetError) as err:
        load_config(tmp_path / "s.toml")
    assert str(err.value) == (
        f"CSV file {tmp_path / 'nowhere.csv'} does not exist; fix [data] path (a relative "
        "path is relative to the study file's folder)"
    )


def test_target_column_absent(tmp_path: Path) -> None:
    path = td.write(td.patients(), tmp_path / "p.csv")
    with pytest.raises(DatasetError) as err:
        load_table(path, "strok")
    assert str(err.value) == (
        f"target column 'strok' is not in {path} (did you mean 'stroke'?); its columns are: "
        "id, age, bmi, smoker, city, stroke"
    )


def test_target_with_one_class(tmp_path: Path) -> None:
    frame = td.patients()
    frame["stroke"] = 0
    path = td.write(frame, tmp_path / "p.csv")
    with pytest.raises(DatasetError) as err:
        load_table(path, "stroke")
    assert str(err.value) == (
        f"target column 'stroke' in {path} has a single value ('0') in all 400 rows; there "
        "is nothing to learn — a target needs at least two classes (or varying numbers)"
    )


def test_all_missing_column_is_ignored_with_a_warning_or_refused_when_listed(
    tmp_path: Path,
) -> None:
    frame = td.patients()
    frame["notes"] = None
    path = td.write(frame, tmp_path / "p.csv")
    table = load_table(path, "stroke")
    assert "column 'notes' is empty in every row; ignored" in table.notes
    assert "notes" not in table.arrays
    with pytest.raises(DatasetError) as err:
        load_table(path, "stroke", numeric=["notes"])
    assert str(err.value) == (
        f"column 'notes' in {path} is listed under numeric but is empty in every row; list "
        "it under ignore or remove it from numeric"
    )


def test_text_with_thousands_of_values_is_ignored_with_a_warning(tmp_path: Path) -> None:
    frame = td.patients(rows=2000)
    frame["name"] = [f"patient {i:05d}" for i in range(2000)]
    cfg = _study(tmp_path, frame, "stroke")
    message = (
        "column 'name' is text with 2,000 distinct values, too many to one-hot encode (more than "
        "100); ignored (list it under categorical to encode it anyway, or under ignore to "
        "silence this)"
    )
    with pytest.warns(DataWarning) as record:
        splits = load_splits(cfg.data)
    assert message in [str(w.message) for w in record]
    assert (
        "column 'id' holds a different integer in every row, like an identifier; ignored (list "
        "it under numeric to use it)" in [str(w.message) for w in record]
    )
    assert "name" not in splits.feature_names and "id" not in splits.feature_names


def test_non_numeric_value_in_a_numeric_column(tmp_path: Path) -> None:
    frame = td.patients()
    frame["age"] = frame["age"].astype(object)
    frame.loc[3, "age"] = "old"
    path = td.write(frame, tmp_path / "p.csv")
    with pytest.raises(DatasetError) as err:
        load_table(path, "stroke", numeric=["age"])
    assert str(err.value) == (
        f"column 'age' in {path} is listed under numeric but holds non-numeric values ('old' "
        "on line 5; 1 row in all); fix them, leave those cells empty to mark them missing, "
        "or list the column under categorical"
    )
    assert load_table(path, "stroke").kinds["age"] == "categorical"  # unlisted: typed as text


def test_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DatasetError) as err:
        load_table(path, "stroke")
    assert str(err.value) == (
        f"CSV file {path} is empty; it needs a header row naming the columns, then one row "
        "per example"
    )


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("age,smoker,stroke\n")
    with pytest.raises(DatasetError) as err:
        load_table(path, "stroke")
    assert str(err.value) == (
        f"CSV file {path} has a header but no data rows; add one row per example below the header"
    )
    td.csv_study(tmp_path / "h.toml", "header.csv", "stroke")
    with pytest.raises(DatasetError, match="has a header but no data rows"):
        load_config(tmp_path / "h.toml")  # task inference reads the target column too


def test_listed_column_absent_and_unknown_class_weight(tmp_path: Path) -> None:
    path = td.write(td.patients(), tmp_path / "p.csv")
    with pytest.raises(DatasetError) as err:
        load_table(path, "stroke", categorical=["smokr"])
    assert str(err.value) == (
        f"column 'smokr' listed under [data] categorical is not in {path} (did you mean "
        "'smoker'?); its columns are: id, age, bmi, smoker, city, stroke"
    )
    cfg = _study(
        tmp_path, td.patients(), "stroke", data='class_weight = { maybe = 2 }\nignore = ["id"]'
    )
    with pytest.raises(
        DatasetError,
        match=(
            r"\[data\] class_weight names the class 'maybe', which the target does not have; its "
            r"classes are: 0, 1"
        ),
    ):
        load_splits(cfg.data)


def test_semicolon_separated_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    td.patients().to_csv(path, sep=";", index=False)
    assert read_csv(path).columns.tolist() == ["id", "age", "bmi", "smoker", "city", "stroke"]


# -------------------------------------------------------------------- preprocessing fitted on train


def test_schema_is_fitted_on_the_training_rows_only(tmp_path: Path) -> None:
    frame = td.patients()
    frame.loc[7, "city"] = "atlantis"  # one row: in the vocabulary only if it lands in train
    cfg = _study(tmp_path, frame, "stroke", data='ignore = ["id"]')
    splits = load_splits(cfg.data)
    age = next(c for c in splits.table.numeric if c.name == "age")
    assert age.mean == pytest.approx(float(np.nanmean(splits.x_train["age"])))
    assert age.mean != pytest.approx(float(frame["age"].mean()), abs=1e-9)
    bmi = next(c for c in splits.table.numeric if c.name == "bmi")
    assert bmi.indicator and not age.indicator  # only columns with gaps get an indicator
    city = next(c for c in splits.table.categorical if c.name == "city")
    in_train = "atlantis" in set(splits.x_train["city"].ravel())
    assert ("atlantis" in city.vocabulary) == in_train
    assert set(city.vocabulary) == {v for v in splits.x_train["city"].ravel() if v}
    # 2 numeric + 1 indicator + (3 smoker values + 1) + (city values + 1)
    smoker = next(c for c in splits.table.categorical if c.name == "smoker")
    assert splits.n_features == 3 + len(smoker.vocabulary) + 1 + len(city.vocabulary) + 1


def test_fit_schema_drops_columns_without_training_values() -> None:
    train = {
        "a": np.array([[1.0], [np.nan]], dtype=np.float32),
        "b": np.array([[np.nan], [np.nan]], dtype=np.float32),
        "c": np.array([[""], [""]], dtype=object),
    }
    schema, notes = fit_schema(
        train, {"a": "numeric", "b": "numeric", "c": "categorical"}, has_missing=["a", "b"]
    )
    assert schema.columns == ("a",) and schema.numeric[0].indicator
    assert notes == [
        "column 'b' is empty in every training row; ignored",
        "column 'c' is empty in every training row; ignored",
    ]


def test_class_weight_reaches_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuner.ml.backend import load_keras

    cfg = _study(
        tmp_path, td.patients(), "stroke", data='class_weight = "balanced"\nignore = ["id"]'
    )
    splits = load_splits(cfg.data)
    counts = np.bincount(splits.y_train)
    assert splits.class_weight == pytest.approx(
        {0: len(splits.y_train) / (2 * counts[0]), 1: len(splits.y_train) / (2 * counts[1])}
    )
    seen = {}
    keras = load_keras()
    original = keras.Model.fit

    def spy(self, *args, **kwargs):
        seen.update(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    train(PARAMS, splits, cfg, seed=0, max_epochs=1)
    assert seen["class_weight"] == splits.class_weight


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A model trained on the made-up patients table (missing indicators off)."""
    folder = tmp_path_factory.mktemp("trained")
    frame = td.patients(rows=600)
    csv = td.write(frame, folder / "p.csv")
    cfg = load_config(
        td.csv_study(
            folder / "p.toml",
            "p.csv",
            "stroke",
            data='ignore = ["id"]\nmissing_indicator = false',
            objective='metric = "f1_macro"',
            epochs=4,
        )
    )
    splits = load_splits(cfg.data)
    result = train(PARAMS, splits, cfg, seed=0)
    return result, splits, cfg, read_csv(csv)


def test_raw_rows_in_any_column_order_give_identical_predictions(trained) -> None:
    result, splits, _, raw = trained
    rows = raw.head(50)
    base = predict_table(result.model, rows, task="binary", class_names=splits.class_names)
    shuffled = rows[["city", "stroke", "bmi", "id", "smoker", "age"]].copy()
    shuffled["extra"] = "ignored"
    again = predict_table(result.model, shuffled, task="binary", class_names=splits.class_names)
    pd.testing.assert_frame_equal(base, again)
    assert list(base.columns) == ["prediction", "probability_0", "probability_1"]
    assert set(base["prediction"]) <= {"0", "1"}


def test_threshold_labels_and_missing_columns(trained) -> None:
    result, splits, _, raw = trained
    rows = raw.head(50)
    p = predict_table(result.model, rows, task="binary", class_names=splits.class_names)[
        "probability_1"
    ].to_numpy()
    cut = float(np.median(p))
    labelled = predict_table(
        result.model, rows, task="binary", class_names=splits.class_names, threshold=cut
    )
    assert (labelled["prediction"] == np.where(p >= cut, "1", "0")).all()
    with pytest.raises(DatasetError) as err:
        predict_table(
            result.model,
            rows.drop(columns=["smoker"]),
            task="binary",
            class_names=splits.class_names,
            source="new.csv",
        )
    assert str(err.value) == (
        "new.csv lacks the column 'smoker' that the model needs; it needs: age, bmi, smoker, city"
    )


def test_unseen_categories_and_missing_values(trained) -> None:
    result, splits, _, raw = trained
    rows = raw.head(5).copy()
    unseen, missing = rows.copy(), rows.copy()
    unseen["city"], missing["city"] = "atlantis", None
    p_unseen = predict_table(result.model, unseen, task="binary", class_names=splits.class_names)[
        "probability_1"
    ]
    p_missing = predict_table(result.model, missing, task="binary", class_names=splits.class_names)[
        "probability_1"
    ]
    assert np.isfinite(p_unseen).all()
    np.testing.assert_allclose(p_unseen, p_missing)  # both fall in the out-of-vocabulary slot
    mean_age = next(c.mean for c in splits.table.numeric if c.name == "age")
    gap, filled = rows.copy(), rows.copy()
    gap["age"], filled["age"] = None, mean_age
    np.testing.assert_allclose(
        predict_table(result.model, gap, task="binary", class_names=splits.class_names)[
            "probability_1"
        ],
        predict_table(result.model, filled, task="binary", class_names=splits.class_names)[
            "probability_1"
        ],
        rtol=1e-5,
    )
    bad = rows.copy()
    bad["age"] = "old"
    with pytest.raises(
        DatasetError,
        match=(
            r"the input: column 'age' must hold numbers, but holds 'old' on line 2; fix it or "
            r"leave the cell empty"
        ),
    ):
        predict_table(result.model, bad, task="binary", class_names=splits.class_names)


def test_saved_model_loads_in_safe_mode_and_predicts_the_same(trained, tmp_path: Path) -> None:
    from tuner.ml.backend import load_keras

    keras = load_keras()
    result, splits, _, raw = trained
    path = tmp_path / "m.keras"
    clone = keras.models.clone_model(result.model)  # as an export does
    clone.set_weights(result.model.get_weights())
    clone.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(
        predict(loaded, splits.x_val), predict(result.model, splits.x_val), rtol=1e-6
    )
    assert predict_table(
        loaded, raw.head(20), task="binary", class_names=splits.class_names
    ).equals(
        predict_table(result.model, raw.head(20), task="binary", class_names=splits.class_names)
    )


def test_threshold_is_chosen_on_validation_for_f1(trained) -> None:
    from tuner.ml.metrics import score_at_threshold

    result, splits, _, _ = trained
    assert result.threshold is not None and 0.0 < result.threshold < 1.0
    p = predict(result.model, splits.x_val)
    chosen = score_at_threshold("f1_macro", splits.y_val, p, result.threshold)
    assert (
        chosen
        >= max(
            score_at_threshold("f1_macro", splits.y_val, p, t) for t in np.linspace(0.01, 0.99, 99)
        )
        - 1e-9
    )


def test_permutation_importance_finds_the_signal(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 500
    frame = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "color": rng.choice(["red", "blue"], n),
        }
    )
    frame["label"] = np.where(frame["signal"] > 0, "up", "down")
    cfg = _study(tmp_path, frame, "label", objective='metric = "accuracy"', epochs=5)
    splits = load_splits(cfg.data)
    result = train({**PARAMS, "learning_rate": 3e-2}, splits, cfg, seed=0)
    table = permutation_importance_table(result.model, splits, "accuracy", n_repeats=3)
    assert [r.column for r in table][0] == "signal"
    by = {r.column: r for r in table}
    assert (
        by["signal"].importance > 0.2
        and abs(by["noise"].importance) < 0.1
        and abs(by["color"].importance) < 0.1
    )
    assert by["signal"].std >= 0.0


# --------------------------------------------------------------------------- the command line


def test_run_reports_ignored_columns_and_bad_files_in_one_line(tmp_path: Path, store: str) -> None:
    from click.testing import CliRunner

    from tuner.cli import cli

    td.write(td.patients(), tmp_path / "p.csv")
    td.csv_study(tmp_path / "p.toml", "p.csv", "stroke", search='pruner = "none"')
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--study",
            str(tmp_path / "p.toml"),
            "--trials",
            "1",
            "--epochs",
            "1",
            "--storage",
            store,
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "Warning: column 'id' holds a different integer in every row, like an identifier; "
        "ignored (list it under numeric to use it)\n" in result.output
    )
    td.csv_study(tmp_path / "gone.toml", "gone.csv", "stroke", objective='task = "binary"')
    result = CliRunner().invoke(
        cli, ["run", "--study", str(tmp_path / "gone.toml"), "--storage", store]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: CSV file {tmp_path / 'gone.csv'} does not exist; fix [data] path (a "
        "relative path is relative to the study file's folder)\n"
    )
