"""Choose the Keras backend and import Keras once per process, quietly.

Keras 3 runs on TensorFlow (the default), JAX or PyTorch, and reads ``KERAS_BACKEND`` once, at
its first import: :func:`use_backend` sets it before that import and refuses a second backend
in the same process. Everything that depends on the backend lives here, with an equivalent or
a no-op for each backend: the quiet import, thread settings, GPU settings, string tensors and
TensorFlow's gradient registry.

TensorFlow's C++ runtime prints start-up lines (oneDNN, CUDA probing) straight to file
descriptor 2 while it is imported; ``TF_CPP_MIN_LOG_LEVEL`` no longer hides all of them. We
silence that descriptor for the import alone, and TensorFlow's Python warnings about
retracing (each trial builds a new model). Set ``TUNER_TF_LOG=1`` to see them.

This is the one module that names TensorFlow: everything else reaches it through Keras or
through the small functions here, which import the backend when first called so that
importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from tuner.errors import ConfigError

#: The Keras backends tuner runs on; the first is the default.
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"
#: The Python package each backend needs, and the extra that installs it.
_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
_EXTRAS = {"tensorflow": "tuner", "jax": "'tuner[jax]'", "torch": "'tuner[torch]'"}


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor (e.g. captured stderr): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# --------------------------------------------------------------------------- choosing the backend


def resolve_backend(flag: str | None = None, configured: str | None = None) -> str:
    """The backend to use: ``flag``, else the study file's, else ``$KERAS_BACKEND``, else
    TensorFlow."""
    name = flag or configured or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ConfigError(
            f"unknown Keras backend '{name}' (from "
            f"{'the flag or study file' if flag or configured else '$KERAS_BACKEND'}); choose one "
            f"of: {', '.join(BACKENDS)}"
        )
    return name


def check_installed(name: str) -> None:
    """Raise a one-line :class:`ConfigError` if ``name``'s package is not installed."""
    if importlib.util.find_spec(_PACKAGES[name]) is None:
        raise ConfigError(
            f"the Keras backend '{name}' needs the {_PACKAGES[name]} package, which is not "
            f"installed; install it with: pip install {_EXTRAS[name]}"
        )


def imported_backend() -> str | None:
    """The backend Keras was imported with in this process, or None before Keras is imported."""
    if "keras" not in sys.modules:
        return None
    return sys.modules["keras"].backend.backend()


def use_backend(name: str) -> None:
    """Make ``name`` the Keras backend of this process (before Keras is imported).

    Raises :class:`ConfigError` if the backend's package is missing, or if Keras is already
    imported here with another backend (Keras cannot switch backends within a process).
    """
    if name not in BACKENDS:
        raise ConfigError(f"unknown Keras backend '{name}'; choose one of: {', '.join(BACKENDS)}")
    current = imported_backend()
    if current is not None and current != name:
        raise ConfigError(
            f"Keras was already imported with backend {current} in this process; start a new "
            f"process or set KERAS_BACKEND={name}"
        )
    check_installed(name)
    os.environ["KERAS_BACKEND"] = name


def active_backend() -> str:
    """The backend Keras uses (or will use) in this process."""
    return imported_backend() or resolve_backend()


def load_keras() -> ModuleType:
    """The ``keras`` module on the chosen backend, imported without TensorFlow's log noise."""
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
    if "keras" not in sys.modules:
        backend = os.environ["KERAS_BACKEND"]
        if backend in BACKENDS:
            check_installed(backend)
        # Keras imports TensorFlow on every backend where it is installed (e.g. to seed it), so
        # it is imported here, quietly, whatever the backend.
        if (
            "tensorflow" not in sys.modules
            and os.environ.get("TUNER_TF_LOG") != "1"
            and importlib.util.find_spec("tensorflow") is not None
        ):
            with _quiet_fd2():
                import tensorflow  # noqa: F401
            # e.g. "5 out of the last 17 calls ... triggered tf.function retracing": every trial
            # builds a new model, so retracing is expected, not a problem worth a warning.
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import keras

    return keras


# --------------------------------------------------------------------------- threads and devices


def thread_env(backend: str, threads: int) -> dict[str, str]:
    """Environment variables that cap a fresh process's threads, read when its libraries load."""
    env = {
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    if backend == "tensorflow":
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    elif backend == "jax":
        flags = re.sub(
            r"--(xla_cpu_multi_thread_eigen|intra_op_parallelism_threads)=\S+",
            "",
            os.environ.get("XLA_FLAGS", ""),
        ).split()
        flags += [
            f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}",
            f"intra_op_parallelism_threads={threads}",
        ]
        env["XLA_FLAGS"] = " ".join(flags)
    return env


def gpu_env(backend: str, gpu: str) -> dict[str, str]:
    """Environment for a process that uses GPU ``gpu``, possibly beside other processes."""
    env = {"CUDA_VISIBLE_DEVICES": gpu}
    if backend == "tensorflow":
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # several workers may share one GPU
    elif backend == "jax":
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # JAX would take 75% of the GPU at start
    return env


def worker_env(backend: str, threads: int, gpu: str | None) -> dict[str, str]:
    """Everything a spawned worker sets before it imports anything heavy."""
    env = {"KERAS_BACKEND": backend, **thread_env(backend, threads)}
    if gpu is not None:
        env.update(gpu_env(backend, gpu))
    return env


def set_threads(intra_op: int, inter_op: int = 1) -> None:
    """Cap the backend's thread pools; call it before the backend runs its first operation.

    JAX reads its threads from ``XLA_FLAGS`` at import only (see :func:`thread_env`).
    """
    keras = load_keras()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    elif backend == "torch":
        import torch

        torch.set_num_threads(intra_op)
        with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
            torch.set_num_interop_threads(inter_op)


def gpu_count() -> int:
    """How many GPUs the Keras backend can use in this process."""
    keras = load_keras()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    return 0


def visible_gpus() -> list[str]:
    """CUDA device ids a worker may use here (honouring ``$CUDA_VISIBLE_DEVICES``).

    Read from the NVIDIA device files, so no backend is imported (nor a GPU claimed) to learn it.
    """
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    found = (re.fullmatch(r"nvidia(\d+)", p.name) for p in Path("/dev").glob("nvidia[0-9]*"))
    return [str(i) for i in sorted(int(m.group(1)) for m in found if m)]


# --------------------------------------------------------------------------- TensorFlow only


def as_tensors(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Column arrays as tensors (Keras refuses NumPy arrays of strings); tensors pass through.

    Only TensorFlow has string tensors; on the other backends the arrays pass unchanged.
    """
    keras = load_keras()
    if keras.backend.backend() != "tensorflow":
        return dict(columns)
    import tensorflow as tf

    return {k: v if tf.is_tensor(v) else tf.constant(v) for k, v in columns.items()}


@contextlib.contextmanager
def forget_traced_gradients() -> Iterator[None]:
    """Drop the gradient functions TensorFlow registers while the block traces a training step.

    Keras' TensorFlow optimizer sums gradients with ``all_reduce``, whose custom gradient is
    registered under a new name in TensorFlow's process-wide gradient registry at every trace
    and never removed. Each registration holds the whole traced training graph, so a process
    running many trials would keep every trial's graph (megabytes each). Registrations are only
    read while a step is traced, so the ones the block made are dropped when it ends. Not for
    blocks that run beside another thread tracing a training step. A no-op on other backends.
    """
    registry = _gradient_registry() if imported_backend() == "tensorflow" else None
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        if registry is not None:
            for name in set(registry) - before:
                if name.startswith("CustomGradient"):
                    registry.pop(name, None)


def _gradient_registry() -> dict[str, Any] | None:
    """TensorFlow's private registry of gradient functions (no public API lists or drops them)."""
    try:
        from tensorflow.python.framework import ops
    except ImportError:
        return None
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None
