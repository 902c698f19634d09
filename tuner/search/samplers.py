"""The registry of Optuna samplers and pruners: name → factory.

Study-file validation, the command line's choices and the runner all read these names, so a
sampler or pruner is added in one place. Optuna is imported by the factories, not at the top:
the command line reads the names at start-up, before any search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuner.errors import ConfigError

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler: how to build it from a seed, and whether it can optimise two objectives."""

    name: str
    make: Callable[[int | None], BaseSampler]
    multi_objective: bool = True


def _tpe(seed: int | None) -> BaseSampler:
    import optuna  # deferred here and below: see the module docstring

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def _random(seed: int | None) -> BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _cmaes(seed: int | None) -> BaseSampler:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _gp(seed: int | None) -> BaseSampler:
    import optuna

    try:
        import torch  # noqa: F401  (GPSampler needs PyTorch)
    except ImportError:
        raise ConfigError(
            "sampler 'gp' needs PyTorch; install it with: pip install 'tuner[gp]' (or choose tpe, "
            "random or cmaes)"
        ) from None
    return optuna.samplers.GPSampler(seed=seed, deterministic_objective=False)


#: Hyperband first judges a trial after this share of its most epochs (at least 1): 3 of 30.
#: Replaying the per-epoch curves of 65 unpruned Fashion-MNIST trials (30 epochs, three runs,
#: 100 orders each; ``benchmarks/pruner_replay.py``), a first judgment at epoch 3 instead of 1
#: kept each run's best trial 89 % of the time instead of 78 % and halved the mean regret
#: (0.0004 against 0.0008), for 55 % of the epochs instead of 49 %.
HYPERBAND_MIN_SHARE = 0.1


def hyperband_min_resource(max_resource: int) -> int:
    """Hyperband's smallest budget for a study whose trials report ``max_resource`` steps."""
    return max(1, int(max_resource * HYPERBAND_MIN_SHARE))


def _hyperband(max_epochs: int) -> BasePruner:
    import optuna

    return optuna.pruners.HyperbandPruner(
        min_resource=hyperband_min_resource(max_epochs),
        max_resource=max_epochs,
        reduction_factor=3,
    )


def _median(max_epochs: int) -> BasePruner:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def _sha(max_epochs: int) -> BasePruner:
    import optuna

    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


def _none(max_epochs: int) -> BasePruner:
    import optuna

    return optuna.pruners.NopPruner()


#: Sampler name → spec, in the order the choices are listed.
SAMPLERS: dict[str, SamplerSpec] = {
    s.name: s
    for s in (
        SamplerSpec("tpe", _tpe),
        SamplerSpec("random", _random),
        SamplerSpec("cmaes", _cmaes, multi_objective=False),
        SamplerSpec("gp", _gp),
    )
}
#: Pruner name → factory taking the study's ``max_epochs``.
PRUNERS: dict[str, Callable[[int], BasePruner]] = {
    "hyperband": _hyperband,
    "median": _median,
    "sha": _sha,
    "none": _none,
}

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
PRUNER_NAMES: tuple[str, ...] = tuple(PRUNERS)
#: Samplers that can optimise a metric and a size objective together.
MULTI_OBJECTIVE_SAMPLERS: tuple[str, ...] = tuple(
    name for name, spec in SAMPLERS.items() if spec.multi_objective
)


def make_sampler(name: str, seed: int | None) -> BaseSampler:
    """Optuna sampler by name: ``tpe`` (default), ``random``, ``cmaes`` or ``gp``."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{name}'; choose from: {', '.join(SAMPLER_NAMES)}")
    return SAMPLERS[name].make(seed)


def make_pruner(name: str, max_resource: int) -> BasePruner:
    """Optuna pruner by name: ``hyperband`` (default), ``median``, ``sha`` or ``none``.

    ``max_resource`` is the most steps a trial reports: its ``max_epochs``, or with
    ``[data] validation = "kfold"`` its number of folds (see
    :func:`tuner.search.cv.pruner_resource`).
    """
    if name not in PRUNERS:
        raise ConfigError(f"unknown pruner '{name}'; choose from: {', '.join(PRUNER_NAMES)}")
    return PRUNERS[name](max_resource)


__all__ = [
    "HYPERBAND_MIN_SHARE",
    "MULTI_OBJECTIVE_SAMPLERS",
    "PRUNERS",
    "PRUNER_NAMES",
    "SAMPLERS",
    "SAMPLER_NAMES",
    "SamplerSpec",
    "hyperband_min_resource",
    "make_pruner",
    "make_sampler",
]
