"""A whole training epoch as one compiled program, on Keras' JAX backend.

``model.fit`` dispatches every batch from Python: for a small MLP on an accelerator that
dispatch, not the arithmetic, is the epoch's cost. :func:`fit_fused` keeps the training split
on the device and runs each epoch as one jitted ``lax.scan`` over its batches, built from the
model's own ``stateless_call``, its compiled loss and its optimizer's ``stateless_apply``: the
same network, loss, optimizer and updates as ``fit``. The callbacks ``fit`` would get (the
validation metric, pruning, early stopping with best weights, the learning-rate reduction) get
the same calls at the end of each epoch, so they have the same effect.

Batches follow ``fit``'s: a new shuffle of the rows each epoch, the last batch shorter (padded
here with rows of weight zero, so the loss is the mean over its real rows), class weights as
per-row weights. The epoch program is cached by the model's architecture, optimizer, batch
size and data shapes: a trial whose network another trial already compiled reuses its program.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.data.splits import row_weights
from tuner.ml.backend import active_backend, load_keras

if TYPE_CHECKING:
    import keras

#: Epoch programs kept (least recently used dropped first).
CACHE_SIZE = 16
_programs: OrderedDict[tuple[Any, ...], Callable[..., Any]] = OrderedDict()
#: Programs compiled in this process (tests and benchmarks read it).
compiled_programs = 0


def available() -> bool:
    """Whether this process runs Keras on JAX (the only backend :func:`fit_fused` supports)."""
    return active_backend() == "jax"


def _metric_fn(task: str) -> Callable[[Any, Any], Any]:
    """Per-row training metric (accuracy, or the absolute error of a regression)."""
    import jax.numpy as jnp

    if task == "multiclass":
        return lambda y, p: (jnp.argmax(p, axis=-1) == y.reshape(-1)).astype("float32")
    if task == "binary":
        return lambda y, p: ((p.reshape(-1) > 0.5) == (y.reshape(-1) > 0.5)).astype("float32")
    return lambda y, p: jnp.abs(p.reshape(-1) - y.reshape(-1))


def _epoch_program(model: keras.Model, task: str) -> Callable[..., Any]:
    """The jitted epoch: (state, x, y, w, batches, mask) → (state, mean loss, mean metric)."""
    import jax
    import jax.numpy as jnp

    global compiled_programs
    compiled_programs += 1
    loss_fn, optimizer, metric = model.loss, model.optimizer, _metric_fn(task)

    def batch_loss(trainable, non_trainable, x, y, w, real):
        pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        per_row = loss_fn.call(y, pred).reshape(-1)
        # Keras' "sum_over_batch_size": weighted sum over the batch's real rows, / their count.
        loss = jnp.sum(per_row * w * real) / jnp.maximum(jnp.sum(real), 1.0)
        return loss, (non_trainable, pred)

    grad_fn = jax.value_and_grad(batch_loss, has_aux=True)

    def epoch(state, x, y, w, batches, mask):
        def step(state, batch):
            trainable, non_trainable, opt_vars = state
            rows, real = batch
            xb = jax.tree_util.tree_map(lambda a: a[rows], x)
            yb, wb = y[rows], w[rows]
            (loss, (non_trainable, pred)), grads = grad_fn(
                trainable, non_trainable, xb, yb, wb, real
            )
            trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
            n, weight = jnp.sum(real), wb * real
            scored = jnp.sum(metric(yb, pred) * weight) / jnp.maximum(jnp.sum(weight), 1e-12)
            return (trainable, non_trainable, opt_vars), (loss * n, scored * n, n)

        state, (losses, scores, counts) = jax.lax.scan(step, state, (batches, mask))
        total = jnp.sum(counts)
        return state, jnp.sum(losses) / total, jnp.sum(scores) / total

    return jax.jit(epoch)


def _program_key(model: keras.Model, task: str, batch_size: int, x: Any) -> tuple[Any, ...]:
    optimizer = model.optimizer
    # The learning rate is a variable (an argument of the program); the name a counter.
    opt_config = {
        k: v for k, v in optimizer.get_config().items() if k not in ("learning_rate", "name")
    }
    shapes = tuple(
        (k, tuple(v.shape), str(v.dtype))
        for k, v in (x.items() if isinstance(x, dict) else [("x", x)])
    )
    return (
        json.dumps(model.get_config(), sort_keys=True, default=str),
        type(optimizer).__name__,
        json.dumps(opt_config, sort_keys=True, default=str),
        type(model.loss).__name__,
        task,
        batch_size,
        shapes,
    )


def _program(model: keras.Model, task: str, batch_size: int, x: Any) -> Callable[..., Any]:
    key = _program_key(model, task, batch_size, x)
    if key in _programs:
        _programs.move_to_end(key)
        return _programs[key]
    program = _programs[key] = _epoch_program(model, task)
    while len(_programs) > CACHE_SIZE:
        _programs.popitem(last=False)
    return program


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, real-row mask), both (n_batches, batch_size): one shuffled epoch."""
    n_batches = -(-n // batch_size)
    rows = np.zeros(n_batches * batch_size, dtype=np.int32)
    rows[:n] = rng.permutation(n)
    mask = np.zeros(n_batches * batch_size, dtype=np.float32)
    mask[:n] = 1.0
    return rows.reshape(n_batches, batch_size), mask.reshape(n_batches, batch_size)


def _state(model: keras.Model) -> tuple[list[Any], list[Any], list[Any]]:
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
    )


def _write_state(model: keras.Model, state: tuple[list[Any], list[Any], list[Any]]) -> None:
    trainable, non_trainable, opt_vars = state
    for var, value in zip(model.trainable_variables, trainable, strict=True):
        var.assign(value)
    for var, value in zip(model.non_trainable_variables, non_trainable, strict=True):
        var.assign(value)
    for var, value in zip(model.optimizer.variables, opt_vars, strict=True):
        var.assign(value)


def fit_fused(
    model: keras.Model,
    x: Any,
    y: np.ndarray,
    *,
    task: str,
    batch_size: int,
    epochs: int,
    callbacks: list[Any],
    class_weight: dict[int, float] | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train ``model`` (compiled, optimizer built) like ``model.fit``; return its history.

    ``x`` is a matrix or a dict of input arrays; the history has ``loss``, the training metric
    (``accuracy`` or ``mae``) and whatever the callbacks add to each epoch's logs.
    """
    import jax

    keras = load_keras()
    metric_name = "mae" if task == "regression" else "accuracy"
    x_dev = jax.tree_util.tree_map(jax.device_put, x)
    y_dev = jax.device_put(np.asarray(y))
    w_dev = jax.device_put(row_weights(y, class_weight))
    n = len(y)
    program = _program(model, task, batch_size, x)
    rng = np.random.default_rng(seed)
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, model=model, epochs=epochs, verbose=0
    )
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        rows, mask = _batches(n, batch_size, rng)
        state, loss, score = program(_state(model), x_dev, y_dev, w_dev, rows, mask)
        _write_state(model, state)
        logs = {"loss": float(loss), metric_name: float(score)}
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return model.history.history
