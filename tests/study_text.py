"""Tiny study files for tests (small ranges, few epochs, one fixed seed) and tiny trial params."""

from __future__ import annotations

import textwrap


def tiny_study_text(
    name: str,
    *,
    data: str,
    objective: str = "",
    space_extra: str = "",
    epochs: int = 2,
    search: str,
    lr_low: str = "1e-3",
) -> str:
    """A study file; ``data`` and ``search`` are the bodies of those tables."""
    return textwrap.dedent(
        f"""
[study]
name = "{name}"

[data]
{data}

[objective]
{objective}

[space]
n_layers = [1, 2]
units = {{ low = 4, high = 16, log = true }}
dropout = [0.0, 0.2]
activation = ["relu", "tanh"]
learning_rate = {{ low = {lr_low}, high = 3e-2, log = true }}
batch_size = [32]
optimizer = ["adam"]
{space_extra}

[training]
max_epochs = {epochs}
patience = 2

[search]
{search}
"""
    )


def builtin_study_text(
    name: str,
    *,
    dataset: str = "iris",
    objective: str = "",
    data_extra: str = "",
    space_extra: str = "",
    epochs: int = 2,
    trials: int = 3,
    sampler: str = "tpe",
    pruner: str = "median",
    search_extra: str = "",
) -> str:
    """A tiny study of a built-in dataset."""
    search = f'trials = {trials}\nsampler = "{sampler}"\npruner = "{pruner}"\nseed = 0'
    if search_extra:
        search += f"\n{search_extra}"
    return tiny_study_text(
        name,
        data=f'dataset = "{dataset}"\n{data_extra}',
        objective=objective,
        space_extra=space_extra,
        epochs=epochs,
        search=search,
    )


def tiny_params(**changes: object) -> dict[str, object]:
    """One trial's parameters for a small two-layer model; ``changes`` replace fields."""
    params: dict[str, object] = {
        "n_layers": 2,
        "units_0": 16,
        "units_1": 8,
        "dropout": 0.1,
        "activation": "relu",
        "learning_rate": 1e-2,
        "batch_size": 32,
        "optimizer": "adam",
    }
    return {**params, **changes}
