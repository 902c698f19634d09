"""Tables for the CSV tests: made up here, or the frames that ship with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from study_text import tiny_study_text


def patients(rows: int = 400, seed: int = 0, positive_rate: float = 0.05) -> pd.DataFrame:
    """A stroke-like table: an id, numbers with gaps, text categories with gaps, ~5 % positives.

    The target depends strongly on ``age`` and ``smoker``, so a tiny model learns it quickly.
    """
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 90, rows).round(0)
    smoker = rng.choice(["never", "former", "current"], rows, p=[0.5, 0.3, 0.2])
    score = (age - 20) / 70 + 0.6 * (smoker == "current") + rng.normal(0, 0.15, rows)
    stroke = np.zeros(rows, dtype=int)
    stroke[np.argsort(-score)[: max(2, round(positive_rate * rows))]] = 1
    frame = pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + rows),
            "age": age,
            "bmi": rng.normal(28, 5, rows).round(1),
            "smoker": smoker,
            "city": rng.choice(["north", "south", "east", "west"], rows),
            "stroke": stroke,
        }
    )
    frame["bmi"] = frame["bmi"].astype(object)
    frame.loc[rng.random(rows) < 0.1, "bmi"] = None
    frame["city"] = frame["city"].astype(object)
    frame.loc[rng.random(rows) < 0.05, "city"] = None
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


def iris_named() -> pd.DataFrame:
    """Iris with its species as text labels."""
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.copy()
    frame["species"] = np.asarray(bunch.target_names)[frame.pop("target")]
    return frame


def csv_study(
    path: Path,
    csv: str,
    target: str,
    *,
    name: str = "table",
    data: str = "",
    objective: str = "",
    search: str = "",
    epochs: int = 2,
) -> Path:
    """A tiny CSV study file (small ranges, few epochs) beside or above the CSV."""
    data_lines = f'dataset = "csv"\npath = "{csv}"\ntarget = "{target}"\n{data}'
    search_lines = f'trials = 3\nsampler = "random"\nseed = 0\n{search}'
    path.write_text(
        tiny_study_text(
            name,
            data=data_lines,
            objective=objective,
            epochs=epochs,
            search=search_lines,
            lr_low="3e-3",
        )
    )
    return path
