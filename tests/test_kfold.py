"""Cross-validation (``[data] validation = "kfold"``): folds, fold means, pruning at fold steps."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from tuner.config.parse import load_config
from tuner.data.datasets import load_splits
from tuner.data.splits import Splits, fold_splits
from tuner.errors import ConfigError
from tuner.keys import BEST_EPOCH, CV_MEAN, CV_STD, FOLD_BEST_EPOCHS, FOLD_VALUES
from tuner.ml.training import TrainResult
from tuner.run.runner import run_study
from tuner.search.cv import CVResult

KFOLD = 'validation = "kfold"\nfolds = 3'


def test_folds_cover_the_non_test_rows_once_and_never_the_test_rows(make_study) -> None:
    config = load_config(make_study(data_extra=KFOLD))
    ids = np.arange(150, dtype=np.float32)[:, None]  # each row is its own number
    y = np.repeat(np.arange(3), 50)
    splits = Splits(
        ids[:90],
        y[:90],
        ids[90:120],
        y[90:120],
        ids[120:],
        y[120:],
        task="multiclass",
        feature_names=("id",),
        class_names=("a", "b", "c"),
    )
    folds = fold_splits(splits, config.data)
    assert len(folds) == 3
    seen = np.concatenate([f.x_val for f in folds]).ravel()
    assert sorted(seen) == list(range(120))  # every non-test row validates exactly once
    for fold in folds:
        assert fold.x_train.max() < 120 and fold.x_val.max() < 120  # test rows never in a fold
        assert not set(fold.x_train.ravel()) & set(fold.x_val.ravel())
        assert len(fold.x_train) + len(fold.x_val) == 120
        assert np.array_equal(fold.x_test, splits.x_test)
    counts = np.array(
        [np.bincount(f.y_val, minlength=3) for f in folds]
    )  # stratified: 50, 50, 20 rows
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all()


def test_trial_value_is_the_mean_of_its_recorded_folds(make_study, store: str) -> None:
    run_study(make_study(data_extra=KFOLD, trials=2, epochs=2, pruner="none"), storage=store)
    trials = optuna.load_study(study_name="tiny", storage=store).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:
        values = t.user_attrs[FOLD_VALUES]
        assert len(values) == 3 and len(t.user_attrs[FOLD_BEST_EPOCHS]) == 3
        assert t.value == pytest.approx(np.mean(values))
        assert t.user_attrs[CV_MEAN] == pytest.approx(t.value)
        assert t.user_attrs[CV_STD] == pytest.approx(np.std(values))
        assert t.user_attrs[BEST_EPOCH] == round(np.mean(t.user_attrs[FOLD_BEST_EPOCHS]))
        assert sorted(t.intermediate_values) == [1, 2, 3]  # the running mean after each fold


def test_a_trial_is_pruned_at_a_fold_step(make_study, store: str) -> None:
    path = make_study(data_extra=KFOLD, trials=1, epochs=2, pruner="none")
    run_study(path, storage=store)
    study = optuna.load_study(
        study_name="tiny", storage=store, pruner=optuna.pruners.ThresholdPruner(lower=1.1)
    )
    config = load_config(path)
    from tuner.search.objective import Objective

    study.optimize(Objective(config, load_splits(config.data), base_seed=0), n_trials=1)
    pruned = study.trials[-1]
    assert pruned.state == TrialState.PRUNED
    assert list(pruned.intermediate_values) == [1]  # stopped after the first fold
    assert len(pruned.user_attrs[FOLD_VALUES]) == 1


def test_csv_preprocessing_is_fitted_on_each_folds_training_rows(tmp_path) -> None:
    import tabular_data as td

    td.write(td.patients(rows=200), tmp_path / "patients.csv")
    config = load_config(
        td.csv_study(
            tmp_path / "p.toml",
            "patients.csv",
            "stroke",
            data='validation = "kfold"\nfolds = 4\nclass_weight = "balanced"',
        )
    )
    splits = load_splits(config.data)
    folds = fold_splits(splits, config.data)
    assert len(folds) == 4 and sum(len(f.y_val) for f in folds) == len(splits.y_val) + len(
        splits.y_train
    )
    for fold in folds:
        age = next(c for c in fold.table.numeric if c.name == "age")
        assert age.mean == pytest.approx(
            float(np.nanmean(fold.x_train["age"]))
        )  # this fold's training rows
        assert sum(
            fold.class_weight[k] * np.sum(fold.y_train == k) for k in fold.class_weight
        ) == pytest.approx(len(fold.y_train))  # "balanced" on this fold
    assert len({next(c.mean for c in f.table.numeric if c.name == "age") for f in folds}) == 4


def test_the_pruners_resource_is_the_number_of_folds(make_study) -> None:
    from tuner.search.cv import pruner_resource

    assert pruner_resource(load_config(make_study(data_extra=KFOLD, epochs=7))) == 3
    assert pruner_resource(load_config(make_study(epochs=7))) == 7


def test_folds_field_is_checked(make_study) -> None:
    with pytest.raises(ConfigError, match=r"\[data\] folds must be <= 20, got 21"):
        load_config(make_study(data_extra='validation = "kfold"\nfolds = 21'))
    with pytest.raises(ConfigError, match=r"\[data\] folds applies to cross-validation"):
        load_config(make_study(data_extra="folds = 3"))
    with pytest.raises(ConfigError, match=r"\[data\] validation has unknown value 'cv'"):
        load_config(make_study(data_extra='validation = "cv"'))


def test_holdout_studies_store_no_new_fields(make_study) -> None:
    stored = load_config(make_study()).to_dict()
    assert "validation" not in stored["data"] and "folds" not in stored["data"]
    assert "monitor" not in stored["training"] and "start" not in stored["search"]


def test_report_of_a_kfold_study_exports_a_refit_model_that_loads_in_safe_mode(
    make_study, store: str, tmp_path
) -> None:
    import json

    from tuner.ml.backend import load_keras
    from tuner.report.build import build_report

    refit = KFOLD + '\nkfold_model = "refit"'
    run_study(make_study(data_extra=refit, trials=1, epochs=2, pruner="none"), storage=store)
    result = build_report("tiny", storage=store, out=tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    model = summary["model"]
    check = model["validation_check"]
    assert model["source"] == "refit" and check["kind"] == "refit"
    assert check["refit_rows"] == 120 and check["folds"] == 3  # every non-test row of iris
    assert (
        check["statement"].startswith("cross-validated accuracy ")
        and "over 3 folds; exported model refit on 120 rows for " in check["statement"]
    )
    assert check["difference"] <= check["tolerance"]
    assert check["cv_mean"] == pytest.approx(summary["best_value"])
    assert result.recorded_value == pytest.approx(
        summary["best_value"]
    )  # the trial's value: the fold mean
    loaded = load_keras().saving.load_model(
        tmp_path / "report" / "model.keras", safe_mode=True, compile=False
    )
    assert loaded.count_params() == model["n_params"]
    assert set(result.test_metrics) >= {"accuracy"}


def test_a_kfold_trials_history_is_the_mean_over_the_folds_that_ran_each_epoch() -> None:
    def fold(history: dict[str, list[float]]) -> TrainResult:
        return TrainResult(None, 0.0, 0, len(history["loss"]), 0.0, {}, history)

    result = CVResult(
        [
            fold({"loss": [1.0, 0.5, 0.25], "val_accuracy": [0.5, 0.6, 0.7], "lr": [1e-3] * 3}),
            fold({"loss": [3.0, 1.5], "val_accuracy": [0.7, 0.8]}),
        ]
    )
    merged = result.history()
    assert merged["loss"] == pytest.approx([2.0, 1.0, 0.25])  # epoch 3: the first fold alone
    assert merged["val_accuracy"] == pytest.approx([0.6, 0.7, 0.7])
    assert "lr" not in merged  # not every fold has it


def test_a_kfold_study_can_stand_for_its_fold_models_averaged(
    make_study, store: str, tmp_path
) -> None:
    import json

    from tuner.artifacts import fetch_trial_model, resolve_artifacts_dir
    from tuner.ml.backend import load_keras
    from tuner.ml.training import predict
    from tuner.report.build import build_report

    path = make_study(
        data_extra=KFOLD + '\nkfold_model = "average"', trials=1, epochs=3, pruner="none"
    )
    run_study(path, storage=store)
    result = build_report("tiny", storage=store, out=tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    model, check = summary["model"], summary["model"]["validation_check"]
    assert model["source"] == "folds" and check["kind"] == "folds" and check["folds"] == 3
    # the folds trained again reproduce the trial's value (the mean of its recorded folds)
    assert check["reproduced"] == pytest.approx(summary["best_value"], abs=1e-6)
    assert check["fold_values"] == pytest.approx(
        optuna.load_study(study_name="tiny", storage=store).best_trial.user_attrs[FOLD_VALUES],
        abs=1e-6,
    )
    assert result.recorded_value == pytest.approx(summary["best_value"])
    keras = load_keras()
    exported = keras.saving.load_model(
        tmp_path / "report" / "model.keras", safe_mode=True, compile=False
    )
    members = [layer for layer in exported.layers if layer.name.startswith("fold_")]
    assert sorted(m.name for m in members) == ["fold_0", "fold_1", "fold_2"]
    x = load_splits(load_config(path).data).x_test
    np.testing.assert_allclose(
        predict(exported, x), np.mean([predict(m, x) for m in members], axis=0), atol=1e-5
    )
    # while running, the completed trials saved that same kind of model, not a refit
    storage = optuna.storages.RDBStorage(store)
    best = optuna.load_study(study_name="tiny", storage=storage).best_trial
    fetched = fetch_trial_model(storage, best, resolve_artifacts_dir(store), tmp_path / "dl")
    assert fetched is not None
    saved = keras.saving.load_model(fetched[0], safe_mode=True, compile=False)
    assert sorted(layer.name for layer in saved.layers if layer.name.startswith("fold_")) == [
        "fold_0",
        "fold_1",
        "fold_2",
    ]


def test_kfold_model_is_checked(make_study) -> None:
    with pytest.raises(ConfigError, match="kfold_model"):
        load_config(make_study(data_extra=KFOLD + '\nkfold_model = "mean"'))
    with pytest.raises(ConfigError, match="applies to cross-validation"):
        load_config(make_study(data_extra='kfold_model = "average"'))


@pytest.mark.slow  # the iris fold-average test above covers the export in the default tier
def test_a_csv_kfold_study_on_tensorflow_exports_its_folds_averaged_for_raw_rows(
    tmp_path, store: str
) -> None:
    import pandas as pd
    import tabular_data as td

    from tuner.predict import predict_file
    from tuner.report.build import build_report

    frame = td.patients(rows=200)
    td.write(frame, tmp_path / "patients.csv")
    path = td.csv_study(
        tmp_path / "p.toml", "patients.csv", "stroke", data='validation = "kfold"\nfolds = 3'
    )
    run_study(path, storage=store)
    result = build_report("table", storage=store, out=tmp_path / "report")
    assert result.model_source == "folds"
    assert result.reproduced_value == pytest.approx(result.recorded_value, abs=1e-6)
    rows = frame.drop(columns=["stroke"]).head(7)
    rows.to_csv(tmp_path / "new.csv", index=False)
    predict_file(
        tmp_path / "new.csv", tmp_path / "out.csv", model=tmp_path / "report" / "model.keras"
    )
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 7 and set(out["prediction"].astype(str)) <= {"0", "1"}
