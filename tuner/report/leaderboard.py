"""The report's leaderboard, and how far its parameter importances can be trusted.

Optuna's fANOVA importances fit a random forest to the completed trials; on fewer than about
:data:`MIN_IMPORTANCE_TRIALS` of them they are mostly noise, and the report says so.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner import keys
from tuner.studies import leaderboard

#: Completed trials below which parameter importances are flagged as unreliable.
MIN_IMPORTANCE_TRIALS = 10
#: Rows of the report's leaderboard.
LEADERBOARD_SIZE = 10


def leaderboard_rows(study: optuna.Study, n: int = LEADERBOARD_SIZE) -> list[dict[str, Any]]:
    """The ``n`` best completed trials as JSON-ready rows, each with its rank (1 = best)."""
    return [{"rank": rank, **asdict(row)} for rank, row in enumerate(leaderboard(study, n), 1)]


def importance_reliability(study: optuna.Study) -> dict[str, Any]:
    """How many completed trials the parameter importances rest on, and a note when too few."""
    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    reliable = n >= MIN_IMPORTANCE_TRIALS
    note = (
        None
        if reliable
        else f"based on {n} completed trial{'s' if n != 1 else ''} only (fewer than "
        f"{MIN_IMPORTANCE_TRIALS}): fANOVA importances on so few trials are mostly noise"
    )
    return {
        "completed_trials": n,
        "min_trials": MIN_IMPORTANCE_TRIALS,
        "reliable": reliable,
        "note": note,
    }


def study_extras(study: optuna.Study, keep_models: int) -> dict[str, Any]:
    """``summary.json``'s leaderboard, importance reliability and saved-model retention."""
    packed = any(
        (t.user_attrs.get(keys.PACKED) or 1) > 1
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )
    others = (
        "of the others, those trained packed cannot be reported (a packed trial is exported "
        "from its saved weights only) and the rest are re-trained from their seed when reported"
        if packed
        else "others are re-trained from their seed when reported"
    )
    kept = (
        "every completed trial's model is kept"
        if keep_models == 0
        else f"only the models of the {keep_models} best completed trials are kept; {others}"
    )
    return {
        "leaderboard": leaderboard_rows(study),
        "param_importances": importance_reliability(study),
        "saved_models": {
            "keep_models": keep_models,
            "note": f"[search] keep_models = {keep_models}: {kept}",
        },
    }


__all__ = [
    "LEADERBOARD_SIZE",
    "MIN_IMPORTANCE_TRIALS",
    "importance_reliability",
    "leaderboard_rows",
    "study_extras",
]
