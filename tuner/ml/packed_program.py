"""The compiled programs of :mod:`tuner.ml.packed`: K padded MLPs trained side by side in JAX.

Every array of the pack has a leading slot axis. One slot's weights are the list
``[kernel_0, bias_0, …, kernel_{L-1}, bias_{L-1}, out_kernel, out_bias]`` (the order of a Keras
model's trainable variables), each padded to ``max_units`` columns (and rows): a per-slot unit
mask zeroes the padded units' activations, so they receive zero gradients and their weights stay
exactly zero. A hidden layer a slot does not have passes its input through unchanged.

A slot's configuration (``cfg``) is a dict of per-slot arrays, passed to the programs as data, so
re-assigning a slot never retraces them:

``unit_mask`` (K, L, U) float, ``layer_on`` (K, L) bool, ``act`` (K,) int (index into the pack's
activations), ``dropout`` (K,) float, ``opt`` (K,) int (index into the pack's optimizers),
``accum`` (K,) int (micro-batches per optimizer step), ``active`` (K,) bool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tuner.ml.backend import load_keras

#: Per-slot configuration arrays, each with a leading slot axis (see the module docstring).
CFG_KEYS = ("unit_mask", "layer_on", "act", "dropout", "opt", "accum", "active")


def _per_slot(mask: Any, like: Any) -> Any:
    """``mask`` (K,) reshaped to broadcast against ``like`` (K, …)."""
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


def _select(mask: Any, new: list[Any], old: list[Any]) -> list[Any]:
    """Per slot: ``new`` where ``mask`` holds, else ``old``."""
    import jax.numpy as jnp

    return [jnp.where(_per_slot(mask, o), n, o) for n, o in zip(new, old, strict=True)]


def make_forward(
    n_layers: int, activations: Sequence[str], task: str, target: tuple[float, float]
) -> Callable[..., Any]:
    """One slot's network: ``forward(weights, cfg, x, key, training) -> outputs``.

    ``x`` is already normalized. Outputs are what the Keras model returns: class probabilities
    (softmax), the positive-class probability (sigmoid), or the value in the target's units.
    """
    import jax
    import jax.numpy as jnp

    keras = load_keras()
    act_fns = [keras.activations.get(name) for name in activations]
    target_mean, target_std = target

    def forward(weights: list[Any], cfg: dict[str, Any], x: Any, key: Any, training: bool) -> Any:
        h = x
        keys = jax.random.split(key, n_layers)
        for i in range(n_layers):
            z = h @ weights[2 * i] + weights[2 * i + 1]
            a = jax.lax.switch(cfg["act"], act_fns, z) * cfg["unit_mask"][i]
            if training:  # Keras' Dropout: keep with probability 1 - rate, scale the kept
                keep_prob = 1.0 - cfg["dropout"]
                keep = jax.random.bernoulli(keys[i], keep_prob, a.shape)
                a = jnp.where(keep, a / keep_prob, 0.0)
            h = a if i == 0 else jnp.where(cfg["layer_on"][i], a, h)
        out = h @ weights[-2] + weights[-1]
        if task == "multiclass":
            return keras.activations.softmax(out)
        if task == "binary":
            return keras.activations.sigmoid(out)
        return out * target_std + target_mean

    return forward


def make_loss(task: str) -> Callable[[Any, Any], Any]:
    """Per-row loss of (labels, outputs), Keras' own loss functions."""
    keras = load_keras()
    if task == "multiclass":
        return keras.losses.sparse_categorical_crossentropy
    if task == "binary":
        return keras.losses.binary_crossentropy
    return keras.losses.mean_squared_error


def make_predict(forward: Callable[..., Any]) -> Callable[..., Any]:
    """Jitted ``(weights, cfg, x) -> (K, n, n_out)`` outputs of every slot (training=False)."""
    import jax

    def one(weights: list[Any], cfg: dict[str, Any], x: Any) -> Any:
        return forward(weights, cfg, x, jax.random.PRNGKey(0), False)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def make_apply(optimizers: Sequence[Any]) -> Callable[..., Any]:
    """``apply(weights, opt_states, grads, ready, opt_idx) -> (weights, opt_states)``.

    Every optimizer of the pack steps every slot (Keras' ``stateless_apply``, vmapped); a slot
    keeps the step of its own optimizer, and only where ``ready`` holds.
    """
    import jax

    steps = [jax.vmap(lambda s, g, p, opt=opt: opt.stateless_apply(s, g, p)) for opt in optimizers]

    def apply(weights, opt_states, grads, ready, opt_idx):
        new_weights, new_states = weights, list(opt_states)
        for k, step in enumerate(steps):
            stepped, state = step(opt_states[k], grads, weights)
            take = ready & (opt_idx == k)
            new_weights = _select(take, stepped, new_weights)
            new_states[k] = _select(take, state, opt_states[k])
        return new_weights, new_states

    return apply


def make_epoch(
    forward: Callable[..., Any],
    loss_fn: Callable[[Any, Any], Any],
    apply: Callable[..., Any],
    on_trace: Callable[[], None],
) -> Callable[..., Any]:
    """The jitted epoch: one ``lax.scan`` over the micro-batches ``rows`` (n_steps, micro).

    ``epoch(weights, opt_states, keys, cfg, rows, x, y, w) -> (weights, opt_states, keys,
    losses)``: each slot sums the gradients of ``cfg['accum']`` micro-batches, then applies
    their mean with its optimizer; what is left at the end is applied as a shorter batch.
    ``losses`` (K,) is each slot's mean micro-batch loss. ``on_trace`` runs at each trace.
    """
    import jax
    import jax.numpy as jnp

    def slot_loss(weights, cfg, xb, yb, wb, key):
        pred = forward(weights, cfg, xb, key, True)
        per_row = jnp.reshape(loss_fn(yb, pred), (-1,))
        # Keras' "sum_over_batch_size": the weighted sum over the batch, / its rows.
        return jnp.sum(per_row * wb) / per_row.shape[0]

    grad_fn = jax.vmap(jax.value_and_grad(slot_loss), in_axes=(0, 0, None, None, None, 0))

    def epoch(weights, opt_states, keys, cfg, rows, x, y, w):
        on_trace()
        active, accum = cfg["active"], cfg["accum"]

        def step(carry, r):
            weights, opt_states, keys, acc, count = carry
            pairs = jax.vmap(jax.random.split)(keys)
            keys, sub = pairs[:, 0], pairs[:, 1]
            loss, grads = grad_fn(weights, cfg, x[r], y[r], w[r], sub)
            acc = [a + g for a, g in zip(acc, grads, strict=True)]
            count = count + 1
            ready = active & (count >= accum)
            mean = [a / _per_slot(count, a).astype(a.dtype) for a in acc]
            weights, opt_states = apply(weights, opt_states, mean, ready, cfg["opt"])
            acc = _select(ready, [jnp.zeros_like(a) for a in acc], acc)
            count = jnp.where(ready, 0, count)
            return (weights, opt_states, keys, acc, count), loss

        acc0 = [jnp.zeros_like(v) for v in weights]
        count0 = jnp.zeros(active.shape, dtype="int32")
        carry = (weights, opt_states, keys, acc0, count0)
        (weights, opt_states, keys, acc, count), losses = jax.lax.scan(step, carry, rows)
        leftover = active & (count > 0)
        divisor = jnp.maximum(count, 1)
        mean = [a / _per_slot(divisor, a).astype(a.dtype) for a in acc]
        weights, opt_states = apply(weights, opt_states, mean, leftover, cfg["opt"])
        return weights, opt_states, keys, jnp.mean(losses, axis=0)

    return jax.jit(epoch, donate_argnums=(0, 1, 2))


def set_slot_program() -> Callable[..., Any]:
    """Jitted ``(tree, slot, values) -> tree`` with slot ``slot`` of every leaf replaced."""
    import jax

    def set_slot(tree, slot, values):
        return jax.tree_util.tree_map(lambda a, v: a.at[slot].set(v), tree, values)

    return jax.jit(set_slot)
