"""The pruners' settings: when Hyperband first judges a trial."""

from __future__ import annotations

import optuna
import pytest

from tuner.search.samplers import hyperband_min_resource, make_pruner


def _first_prunes(max_epochs: int, trials: int = 40) -> list[int | None]:
    """For trials far worse than 12 finished ones: the step each is first pruned at."""
    study = optuna.create_study(
        study_name="p", direction="maximize", pruner=make_pruner("hyperband", max_epochs)
    )
    for _ in range(12):
        trial = study.ask()
        for step in range(max_epochs):
            trial.report(0.9, step)
            assert not trial.should_prune()  # as a study asks each epoch (it records rungs)
        study.tell(trial, 0.9)
    firsts: list[int | None] = []
    for _ in range(trials):
        trial = study.ask()
        first = None
        for step in range(max_epochs):
            trial.report(0.1, step)
            if trial.should_prune():
                first = step
                break
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        firsts.append(first)
    return firsts


@pytest.mark.parametrize(("max_epochs", "smallest"), [(30, 3), (60, 6), (9, 1), (5, 1)])
def test_hyperband_judges_a_trial_first_after_a_tenth_of_its_epochs(
    max_epochs: int, smallest: int
) -> None:
    assert hyperband_min_resource(max_epochs) == smallest
    firsts = _first_prunes(max_epochs)
    pruned = [f for f in firsts if f is not None]
    assert len(pruned) >= len(firsts) // 2  # only the bracket that never stops early lets them run
    assert min(pruned) == smallest  # never sooner, and the most aggressive bracket that soon
