"""Write a realistic made-up patients table: categorical columns, missing values, ~5 % positives.

    python benchmarks/patients_csv.py data/patients.csv --rows 5000 --seed 0

The columns follow the public stroke-prediction tables the notebooks used: an identifier, two
numeric measurements (one with missing values written as "N/A"), 0/1 flags, five text columns
(one with gaps) and the 0/1 target ``stroke``, driven mostly by age, glucose and hypertension.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def make_patients(rows: int = 5000, seed: int = 0, positive_rate: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(45, 20, rows), 1, 90).round(0)
    gender = rng.choice(["Female", "Male", "Other"], rows, p=[0.58, 0.41, 0.01])
    hypertension = (rng.random(rows) < 0.04 + 0.2 * (age > 60)).astype(int)
    heart = (rng.random(rows) < 0.02 + 0.1 * (age > 65)).astype(int)
    married = np.where(age < 25, "No", rng.choice(["Yes", "No"], rows, p=[0.8, 0.2]))
    work = np.where(
        age < 16,
        "children",
        rng.choice(
            ["Private", "Self-employed", "Govt_job", "Never_worked"], rows, p=[0.6, 0.2, 0.17, 0.03]
        ),
    )
    residence = rng.choice(["Urban", "Rural"], rows)
    glucose = np.round(rng.lognormal(np.log(95), 0.3, rows) + 60 * (rng.random(rows) < 0.12), 2)
    bmi = np.round(np.clip(rng.normal(28.5, 7, rows), 12, 70), 1)
    smoking = rng.choice(
        ["never smoked", "formerly smoked", "smokes", "Unknown"], rows, p=[0.37, 0.17, 0.15, 0.31]
    )
    logit = (
        -5.2
        + 0.075 * (age - 45)
        + 0.9 * hypertension
        + 0.7 * heart
        + 0.011 * (glucose - 100)
        + 0.35 * (smoking == "smokes")
        + 0.15 * (bmi > 35)
    )
    # Shift the intercept so that the share of positives is close to positive_rate.
    shift = np.log(positive_rate / (1 - positive_rate)) - np.log(
        np.mean(1 / (1 + np.exp(-logit))) / (1 - np.mean(1 / (1 + np.exp(-logit))))
    )
    stroke = (rng.random(rows) < 1 / (1 + np.exp(-(logit + shift)))).astype(int)
    frame = pd.DataFrame(
        {
            "id": rng.permutation(np.arange(10_000, 10_000 + rows)),
            "gender": gender,
            "age": age,
            "hypertension": hypertension,
            "heart_disease": heart,
            "ever_married": married,
            "work_type": work,
            "Residence_type": residence,
            "avg_glucose_level": glucose,
            "bmi": bmi.astype(object),
            "smoking_status": smoking.astype(object),
            "stroke": stroke,
        }
    )
    frame.loc[rng.random(rows) < 0.04, "bmi"] = "N/A"
    frame.loc[rng.random(rows) < 0.02, "smoking_status"] = ""
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--positive-rate", type=float, default=0.05)
    args = parser.parse_args()
    frame = make_patients(args.rows, args.seed, args.positive_rate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(
        f"wrote {args.out}: {len(frame)} rows, {frame['stroke'].mean():.1%} positives, "
        f"{int((frame['bmi'] == 'N/A').sum())} missing bmi"
    )


if __name__ == "__main__":
    main()
