"""K trials trained at once in one compiled JAX program ("packed" trials), on one device.

Each slot of the pack holds one trial's MLP, the network :func:`tuner.ml.model.build_model`
builds for a matrix dataset, padded to the widest and deepest network of the search space (see
:mod:`tuner.ml.packed_program`). Slots differ in widths, depth, activation, dropout, learning
rate, optimizer (Keras' own, stepped statelessly) and batch size: the pack steps through
micro-batches of the greatest common divisor of the space's batch sizes, and a slot with batch
size ``m * micro`` applies the mean gradient of ``m`` micro-batches. All slots see the same
shuffled rows each epoch. One program per pack: assigning a trial to a slot writes arrays, it
never recompiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import ConfigError
from tuner.ml import packed_program as program
from tuner.ml.backend import active_backend, load_keras
from tuner.ml.model import ModelSpec, build_model, layer_widths, make_optimizer, n_outputs

if TYPE_CHECKING:
    import keras

    from tuner.config.schema import SearchSpace


#: Standard deviation of a standard normal truncated at two standard deviations (what Keras'
#: VarianceScaling divides by).
_TRUNCATED_STDDEV = 0.87962566103423978

#: The output layer :func:`tuner.ml.model.build_model` names for each task (regression's is
#: "standardized", before its rescaling).
_OUTPUT_LAYERS = {"binary": "probability", "multiclass": "probabilities"}


@dataclass(frozen=True)
class PackShape:
    """What fixes the shapes of a pack's program: slots, padding, micro-batch, choices."""

    slots: int
    max_layers: int
    max_units: int
    micro_batch: int
    activations: tuple[str, ...]
    optimizers: tuple[str, ...]

    @classmethod
    def for_space(cls, space: SearchSpace, slots: int) -> PackShape:
        """The shape that fits every network ``space`` can sample."""
        return cls(
            slots=slots,
            max_layers=space.n_layers.high,
            max_units=space.units.high,
            micro_batch=math.gcd(*space.batch_size),
            activations=tuple(space.activation),
            optimizers=tuple(space.optimizer),
        )


def _check_params(shape: PackShape, params: dict[str, Any]) -> list[int]:
    """The hidden widths of ``params``; ConfigError if they do not fit the pack."""
    widths = layer_widths(params)
    problems = []
    if not 1 <= len(widths) <= shape.max_layers:
        problems.append(f"{len(widths)} layers (the pack holds 1 to {shape.max_layers})")
    if any(not 1 <= w <= shape.max_units for w in widths):
        problems.append(f"widths {widths} (the pack holds 1 to {shape.max_units} units)")
    if params["activation"] not in shape.activations:
        problems.append(f"activation {params['activation']!r}")
    if params["optimizer"] not in shape.optimizers:
        problems.append(f"optimizer {params['optimizer']!r}")
    if int(params["batch_size"]) % shape.micro_batch:
        problems.append(
            f"batch size {params['batch_size']} (not a multiple of {shape.micro_batch})"
        )
    if problems:
        raise ConfigError(
            f"these parameters do not fit the packed trials' search space: {'; '.join(problems)}"
        )
    return widths


class PackedTrainer:
    """Trains up to ``shape.slots`` trials side by side on ``x_train``; scores them on ``x_val``.

    ``traces`` counts how often the epoch program was traced (once per trainer).
    """

    def __init__(
        self,
        shape: PackShape,
        spec: ModelSpec,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray,
        *,
        sample_weight: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        if spec.table is not None:
            raise ConfigError(
                "packed trials need a matrix dataset; set [training] pack = 1 for CSV tables"
            )
        if active_backend() != "jax":
            raise ConfigError('packed trials need the JAX backend; set [training] backend = "jax"')
        if len(x_train) < shape.micro_batch:
            raise ConfigError(
                f"the training split has {len(x_train)} rows, fewer than one micro-batch "
                f"({shape.micro_batch}); use smaller batch sizes"
            )
        import jax

        self.shape, self.spec = shape, spec
        self.n_out = n_outputs(spec.task, spec.n_classes)
        self.traces = 0
        self._rng = np.random.default_rng(seed)
        self._x = jax.device_put(self._normalize(x_train))
        self._x_val = jax.device_put(self._normalize(x_val))
        self._y = jax.device_put(self._labels(y_train))
        weights = np.ones(len(x_train)) if sample_weight is None else sample_weight
        self._w = jax.device_put(np.asarray(weights, dtype=np.float32).reshape(-1))
        self._optimizers = [self._built_optimizer(name) for name in shape.optimizers]
        # Where each optimizer keeps its learning rate among its variables (one per slot here).
        self._lr_index = [
            next(i for i, v in enumerate(opt.variables) if v is opt.learning_rate)
            for opt in self._optimizers
        ]
        self._build_state()
        forward = program.make_forward(
            shape.max_layers, shape.activations, spec.task, (spec.target_mean, spec.target_std)
        )
        self._predict = program.make_predict(forward)
        self._epoch = program.make_epoch(
            forward,
            program.make_loss(spec.task),
            program.make_apply(self._optimizers),
            self._count_trace,
        )
        self._set_slot = program.set_slot_program()

    # ------------------------------------------------------------------ setup

    def _count_trace(self) -> None:
        self.traces += 1

    def _normalize(self, x: np.ndarray) -> np.ndarray:
        """Keras' Normalization layer, applied once to the data instead of in every step."""
        x = np.asarray(x, dtype=np.float32)
        mean = np.asarray(self.spec.mean, dtype=np.float32)
        std = np.maximum(np.sqrt(np.asarray(self.spec.variance, dtype=np.float32)), 1e-7)
        return (x - mean) / std

    def _labels(self, y: np.ndarray) -> np.ndarray:
        if self.spec.task == "multiclass":
            return np.asarray(y).reshape(-1).astype(np.int32)
        return np.asarray(y, dtype=np.float32).reshape(-1, 1)

    def _padded_shapes(self) -> list[tuple[int, ...]]:
        """One slot's weight shapes: ``[kernel_0, bias_0, …, out_kernel, out_bias]``."""
        units, shapes = self.shape.max_units, []
        for i in range(self.shape.max_layers):
            shapes += [(self.spec.n_features if i == 0 else units, units), (units,)]
        return [*shapes, (units, self.n_out), (self.n_out,)]

    def _built_optimizer(self, name: str) -> keras.optimizers.Optimizer:
        keras = load_keras()
        optimizer = make_optimizer(name, 1e-3)
        optimizer.build(
            [
                keras.Variable(np.zeros(s, dtype=np.float32), name=f"w{i}")
                for i, s in enumerate(self._padded_shapes())
            ]
        )
        return optimizer

    def _build_state(self) -> None:
        """Idle slots: zero weights, fresh optimizer states, nothing active."""
        import jax
        import jax.numpy as jnp

        k, shape = self.shape.slots, self.shape
        self._weights = [jnp.zeros((k, *s), dtype="float32") for s in self._padded_shapes()]
        self._opt_states = [
            [jnp.stack([v.value] * k) for v in opt.variables] for opt in self._optimizers
        ]
        self._keys = jnp.stack([jax.random.PRNGKey(0)] * k)
        self._cfg = {
            "unit_mask": np.zeros((k, shape.max_layers, shape.max_units), dtype=np.float32),
            "layer_on": np.zeros((k, shape.max_layers), dtype=bool),
            "act": np.zeros(k, dtype=np.int32),
            "dropout": np.zeros(k, dtype=np.float32),
            "opt": np.zeros(k, dtype=np.int32),
            "accum": np.ones(k, dtype=np.int32),
            "active": np.zeros(k, dtype=bool),
        }

    # ------------------------------------------------------------------ slots

    def _fresh_weights(
        self, widths: list[int], activation: str, seeds: np.ndarray
    ) -> list[np.ndarray]:
        """Initial weights of the real network (one seed per layer), zero-padded.

        Keras' initializers (``glorot_uniform``; ``lecun_normal`` for selu) are variance
        scalings of a fixed draw: uniform on [-1, 1] times sqrt(6 / (fan_in + fan_out)), or a
        standard normal truncated at 2 times sqrt(1 / fan_in) / 0.8796 (the truncated normal's
        standard deviation). Drawing at the padded shape, which every trial of the pack shares,
        and scaling the real corner compiles Keras' random program once per pack: an
        initializer called at each trial's own shape would compile anew for every new width.
        """
        keras = load_keras()
        padded = [np.zeros(s, dtype=np.float32) for s in self._padded_shapes()]
        fan_in = self.spec.n_features
        for i, width in enumerate([*widths, self.n_out]):
            j = 2 * i if i < len(widths) else len(padded) - 2
            shape, seed = padded[j].shape, int(seeds[i])
            if i < len(widths) and activation == "selu":  # lecun_normal
                draw = keras.random.truncated_normal(shape, stddev=1.0, seed=seed)
                scale = math.sqrt(1.0 / fan_in) / _TRUNCATED_STDDEV
            else:  # glorot_uniform, also Keras' Dense default for the output layer
                draw = keras.random.uniform(shape, minval=-1.0, maxval=1.0, seed=seed)
                scale = math.sqrt(6.0 / (fan_in + width))
            padded[j][:fan_in, :width] = np.asarray(draw)[:fan_in, :width] * scale
            fan_in = width
        return padded

    def _write(self, slot: int, weights: list[np.ndarray]) -> None:
        self._weights = self._set_slot(self._weights, slot, weights)

    def assign(self, slot: int, params: dict[str, Any], seed: int) -> None:
        """Start trial ``params`` in ``slot``: fresh seeded weights and fresh optimizer states."""
        import jax

        widths = _check_params(self.shape, params)
        # One seed per layer's initializer, and the last for the slot's dropout masks.
        seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=len(widths) + 2)
        self._write(slot, self._fresh_weights(widths, params["activation"], seeds))
        lr = np.float32(params["learning_rate"])
        states = [
            [lr if i == index else v.value for i, v in enumerate(opt.variables)]
            for opt, index in zip(self._optimizers, self._lr_index, strict=True)
        ]
        self._opt_states = self._set_slot(self._opt_states, slot, states)
        self._keys = self._set_slot(self._keys, slot, jax.random.PRNGKey(int(seeds[-1])))
        cfg = self._cfg
        cfg["unit_mask"][slot] = 0.0
        for i, width in enumerate(widths):
            cfg["unit_mask"][slot, i, :width] = 1.0
        cfg["layer_on"][slot] = np.arange(self.shape.max_layers) < len(widths)
        cfg["act"][slot] = self.shape.activations.index(params["activation"])
        cfg["dropout"][slot] = float(params["dropout"])
        cfg["opt"][slot] = self.shape.optimizers.index(params["optimizer"])
        cfg["accum"][slot] = int(params["batch_size"]) // self.shape.micro_batch
        cfg["active"][slot] = True

    def release(self, slot: int) -> None:
        """Leave ``slot`` idle: its weights stop changing until the next :meth:`assign`."""
        self._cfg["active"][slot] = False

    @property
    def active(self) -> list[bool]:
        return [bool(a) for a in self._cfg["active"]]

    # ------------------------------------------------------------------ training

    def run_epoch(self) -> np.ndarray:
        """One epoch of every active slot; each slot's mean training loss (NaN when idle).

        A diverged slot's loss stays NaN or infinite; the other slots are not affected.
        """
        micro = self.shape.micro_batch
        n_steps = len(self._w) // micro
        rows = self._rng.permutation(len(self._w))[: n_steps * micro].astype(np.int32)
        self._weights, self._opt_states, self._keys, losses = self._epoch(
            self._weights,
            self._opt_states,
            self._keys,
            {k: v.copy() for k, v in self._cfg.items()},
            rows.reshape(n_steps, micro),
            self._x,
            self._y,
            self._w,
        )
        losses = np.asarray(losses, dtype=np.float64)
        return np.where(self._cfg["active"], losses, np.nan)

    def predict_val(self) -> np.ndarray:
        """(slots, n_val, n_outputs): every slot's outputs on ``x_val`` (no dropout)."""
        return np.asarray(self._predict(self._weights, self._cfg, self._x_val))

    # ------------------------------------------------------------------ learning rate, weights

    def learning_rate(self, slot: int) -> float:
        k = int(self._cfg["opt"][slot])
        return float(self._opt_states[k][self._lr_index[k]][slot])

    def set_learning_rate(self, slot: int, value: float) -> None:
        """Set ``slot``'s learning rate (e.g. a plateau reduction); other slots keep theirs."""
        for k, index in enumerate(self._lr_index):
            rates = self._opt_states[k][index]
            self._opt_states[k][index] = rates.at[slot].set(np.asarray(value, dtype=rates.dtype))

    def snapshot(self, slot: int) -> list[np.ndarray]:
        """A host copy of ``slot``'s (padded) weights."""
        return [np.array(w[slot]) for w in self._weights]

    def restore(self, slot: int, snap: list[np.ndarray]) -> None:
        """Put back weights from :meth:`snapshot` (the optimizer state is kept)."""
        self._write(slot, snap)

    def to_keras(self, slot: int, params: dict[str, Any]) -> keras.Model:
        """The compiled Keras model of ``params`` holding ``slot``'s weights."""
        widths = _check_params(self.shape, params)
        weights = self.snapshot(slot)
        model = build_model(params, self.spec)
        fan_in = self.spec.n_features
        for i, width in enumerate(widths):
            kernel, bias = weights[2 * i][:fan_in, :width], weights[2 * i + 1][:width]
            model.get_layer(f"dense_{i}").set_weights([kernel, bias])
            fan_in = width
        model.get_layer(_OUTPUT_LAYERS.get(self.spec.task, "standardized")).set_weights(
            [weights[-2][:fan_in], weights[-1]]
        )
        return model
