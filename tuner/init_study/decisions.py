"""What ``tuner init`` decides from a table: the metric, class weights and cautions.

A target's balance picks the metric and class weights; classes too small to validate or test
on, and a positive class that will be scarce in the validation split, are worth a warning.
"""

from __future__ import annotations

import numpy as np

from tuner.data.csv_file import rows_text
from tuner.data.tables import Table

#: A binary target whose minority class is rarer than this is "imbalanced": PR-AUC, class weights.
IMBALANCED_SHARE = 0.2
#: A multiclass target whose smallest class is below this fraction of the largest is imbalanced.
IMBALANCED_RATIO = 0.5
#: A class with fewer rows than this is too small to validate or test on (a warning says so).
MIN_CLASS_ROWS = 20
#: The split fractions the written study file uses.
VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.2


def objective_choice(table: Table) -> tuple[str, str | None, str | None]:
    """(metric, class_weight, positive class) suited to the target's balance."""
    counts = np.array(table.class_counts())
    if table.task == "regression":
        return "rmse", None, None
    if table.task == "binary":
        minority = int(counts.argmin())
        if counts.min() / counts.sum() < IMBALANCED_SHARE:
            return "pr_auc", "balanced", table.class_names[minority]
        return "roc_auc", None, table.class_names[1]
    if counts.min() / counts.max() < IMBALANCED_RATIO:
        return "balanced_accuracy", "balanced", None
    return "accuracy", None, None


def small_classes(table: Table) -> list[tuple[str, str]]:
    """(class, warning) for each class with fewer than :data:`MIN_CLASS_ROWS` rows."""
    out = []
    for name, count in zip(table.class_names, table.class_counts(), strict=True):
        if count < MIN_CLASS_ROWS:
            held = (
                f"about {round(count * VALIDATION_FRACTION)} in the validation split and "
                f"{round(count * TEST_FRACTION)} in the test split"
            )
            out.append(
                (
                    name,
                    (
                        f"class '{name}' of target '{table.target}' has only {rows_text(count)} "
                        f"({held}): too few to validate or test on; collect more rows of it, or "
                        "merge it with a similar class"
                    ),
                )
            )
    return out


def share(count: int, total: int) -> str:
    """``count`` as a percentage of ``total``, with enough digits that a small share is not
    "0.0 %"."""
    if total <= 0 or count <= 0:
        return "0 %"
    if count >= total:
        return "100 %"
    percent = 100 * count / total
    if percent < 0.1:
        return "< 0.1 %"
    if percent > 99.9:
        return "> 99.9 %"
    return f"{percent:.1f} %"


def init_notes(table: Table, positive: str | None) -> list[str]:
    notes = []
    small = {name for name, _ in small_classes(table)}
    if positive is not None and positive not in small:  # a small class has its own warning
        count = table.class_counts()[table.class_names.index(positive)]
        in_val = round(count * VALIDATION_FRACTION)
        if in_val < 10:
            notes.append(
                f"only about {in_val} rows of class '{positive}' will be in the validation split; "
                "validation metrics will be noisy (more rows, or a larger "
                "validation_fraction, help)"
            )
    return notes


__all__ = [
    "IMBALANCED_RATIO",
    "IMBALANCED_SHARE",
    "MIN_CLASS_ROWS",
    "TEST_FRACTION",
    "VALIDATION_FRACTION",
    "init_notes",
    "objective_choice",
    "share",
    "small_classes",
]
