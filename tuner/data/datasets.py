"""Dataset registry (name → loader), and each dataset's train/validation/test splits.

Splits are fixed by ``[data] split_seed`` (:mod:`tuner.data.splits`) and built once per
process (:func:`load_splits` is cached), so every trial of a study trains and validates on the
same rows, and the test rows are never seen by the objective.
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tuner.data.splits import Splits, class_weights, split_arrays
from tuner.data.tables import CSV_DATASET, load_table_splits
from tuner.errors import DatasetError, first_line

if TYPE_CHECKING:
    from tuner.config.schema import DataConfig

#: Environment variable naming a folder with dataset files (same as ``--data-dir``).
DATA_DIR_ENV = "TUNER_DATA_DIR"
#: Set to 1 to never try a download.
OFFLINE_ENV = "TUNER_OFFLINE"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class LoadedData:
    """A dataset as loaded: features as float32 rows, labels as int64 (or float32 targets)."""

    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] = ()
    x_test: np.ndarray | None = None  # a predefined test split, if the dataset has one
    y_test: np.ndarray | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    task: str | None  # None: inferred from the data (CSV tables)
    description: str
    loader: Callable[[DataConfig, Path | None], LoadedData] | None
    #: Builds the splits itself (CSV tables: named columns, preprocessing fitted on train).
    splitter: Callable[[DataConfig], Splits] | None = None


# --------------------------------------------------------------------------- loaders


def _sklearn(loader_name: str) -> Callable[[DataConfig, Path | None], LoadedData]:
    def load(cfg: DataConfig, data_dir: Path | None) -> LoadedData:
        import sklearn.datasets  # on first use: listing or reading studies needs none of it

        bunch = getattr(sklearn.datasets, loader_name)()
        names = tuple(str(n) for n in bunch.feature_names)
        classes = tuple(str(c) for c in getattr(bunch, "target_names", ()))
        y = bunch.target.astype(np.float32 if not classes else np.int64)
        return LoadedData(bunch.data.astype(np.float32), y, names, classes)

    return load


def _blobs_xor(cfg: DataConfig, data_dir: Path | None) -> LoadedData:
    """Four Gaussian clusters at the corners of a square; opposite corners share a class (XOR)."""
    import sklearn.datasets

    centers = [(-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0)]
    x, blob = sklearn.datasets.make_blobs(
        n_samples=cfg.n_samples or 1000,
        centers=centers,
        cluster_std=0.4,
        random_state=cfg.split_seed,
    )
    return LoadedData(x.astype(np.float32), (blob >= 2).astype(np.int64), ("x1", "x2"), ("0", "1"))


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(
            f"{path} is truncated: expected {int(np.prod(dims))} values, found {data.size}"
        )
    return data.reshape(dims)


def _find_idx(folder: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in _IDX_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
            if missing:
                raise DatasetError(
                    f"{path} lacks the arrays {sorted(missing)}; it needs x_train, y_train, "
                    "x_test, y_test"
                )
            return {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not a readable .npz file ({exc})") from None


def keras_cache_dir() -> Path:
    """Keras' dataset cache (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _download(name: str) -> dict[str, np.ndarray]:
    """Fetch an image dataset through Keras (which caches it for next time)."""
    import keras  # deferred: Keras (and its backend) loads only when a download is needed

    module = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _image_arrays(name: str, data_dir: Path | None) -> dict[str, np.ndarray]:
    npz_name = f"{name}.npz"
    idx_folder = "fashion-mnist" if name == "fashion_mnist" else name
    folders: list[Path] = []
    if data_dir is not None:
        folders += [data_dir, data_dir / idx_folder]
    if name == "fashion_mnist":
        folders.append(FASHION_MNIST_SYSTEM_DIR)
    folders += [keras_cache_dir(), keras_cache_dir() / idx_folder]
    for folder in folders:
        if (folder / npz_name).is_file():
            return _read_npz(folder / npz_name)
        idx = _find_idx(folder)
        if idx is not None:
            return {key: _read_idx(path) for key, path in idx.items()}
    where = (
        f"{data_dir}/"
        if data_dir is not None
        else f"{keras_cache_dir()}/ (or a folder given by --data-dir or {DATA_DIR_ENV})"
    )
    if os.environ.get(OFFLINE_ENV) == "1":
        reason = f"{OFFLINE_ENV}=1 forbids downloads"
    else:
        try:
            return _download(name)
        except Exception as exc:  # any network or cache failure: explain where files go
            reason = f"download failed: {type(exc).__name__}: {first_line(exc, default='')}".rstrip(
                ": "
            )
    extra = " or install Debian's dataset-fashion-mnist package" if name == "fashion_mnist" else ""
    raise DatasetError(
        f"{name} is not cached and cannot be downloaded ({reason}); put {npz_name} or the four IDX "
        f"files ({', '.join(s + '.gz' for s in _IDX_FILES.values())}) in {where}{extra}"
    )


def _image_loader(
    name: str, classes: tuple[str, ...]
) -> Callable[[DataConfig, Path | None], LoadedData]:
    def load(cfg: DataConfig, data_dir: Path | None) -> LoadedData:
        arrays = _image_arrays(name, data_dir)
        x_train = arrays["x_train"].reshape(len(arrays["x_train"]), -1).astype(np.float32)
        x_test = arrays["x_test"].reshape(len(arrays["x_test"]), -1).astype(np.float32)
        if x_train.shape[1] != x_test.shape[1]:
            raise DatasetError(
                f"{name}: train and test images differ in size ({x_train.shape[1]} vs "
                f"{x_test.shape[1]} pixels)"
            )
        names = tuple(f"pixel_{i}" for i in range(x_train.shape[1]))
        return LoadedData(
            x_train,
            arrays["y_train"].astype(np.int64),
            names,
            classes,
            x_test,
            arrays["y_test"].astype(np.int64),
        )

    return load


_FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec(
            "mnist",
            "multiclass",
            "handwritten digits, 28×28 (60k train, 10k test)",
            _image_loader("mnist", tuple(str(i) for i in range(10))),
        ),
        DatasetSpec(
            "fashion_mnist",
            "multiclass",
            "Zalando clothing images, 28×28 (60k train, 10k test)",
            _image_loader("fashion_mnist", _FASHION),
        ),
        DatasetSpec(
            "digits", "multiclass", "scikit-learn's 8×8 digits (1797 rows)", _sklearn("load_digits")
        ),
        DatasetSpec(
            "iris", "multiclass", "iris flowers (150 rows, 3 classes)", _sklearn("load_iris")
        ),
        DatasetSpec(
            "wine", "multiclass", "wine cultivars (178 rows, 3 classes)", _sklearn("load_wine")
        ),
        DatasetSpec(
            "breast_cancer",
            "binary",
            "Wisconsin breast cancer (569 rows)",
            _sklearn("load_breast_cancer"),
        ),
        DatasetSpec(
            "diabetes", "regression", "diabetes progression (442 rows)", _sklearn("load_diabetes")
        ),
        DatasetSpec(
            "blobs_xor", "binary", "four 2-D Gaussian blobs, XOR labels (synthetic)", _blobs_xor
        ),
        DatasetSpec(
            CSV_DATASET,
            None,
            "your own CSV table ([data] path and target)",
            None,
            load_table_splits,
        ),
    )
}


# --------------------------------------------------------------------------- splits


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """``--data-dir`` if given, else ``$TUNER_DATA_DIR``, else None."""
    value = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DatasetError(
            f"data directory {path} does not exist; create it or fix --data-dir / {DATA_DIR_ENV}"
        )
    return path


@functools.lru_cache(maxsize=8)
def _cached_splits(cfg: DataConfig, data_dir: Path | None) -> Splits:
    spec = DATASETS[cfg.dataset]
    if spec.splitter is not None:
        return spec.splitter(cfg)
    data = spec.loader(cfg, data_dir)
    classify = spec.task != "regression"
    parts = split_arrays(cfg, data.x, data.y, classify, data.x_test, data.y_test)
    splits = Splits(
        *(np.ascontiguousarray(a) for a in parts),
        task=spec.task,
        feature_names=data.feature_names,
        class_names=data.class_names,
        class_weight=class_weights(cfg.class_weight, parts[1], data.class_names)
        if classify
        else None,
    )
    if classify:
        labels = np.unique(splits.y_train)
        if labels.min() < 0 or labels.max() >= max(len(splits.class_names), 1):
            raise DatasetError(
                f"{cfg.dataset}: labels must be 0..{len(splits.class_names) - 1}, found "
                f"{labels.min()}..{labels.max()}"
            )
    return splits


def load_splits(cfg: DataConfig, data_dir: str | os.PathLike[str] | None = None) -> Splits:
    """Load ``cfg.dataset`` and split it into train / validation / test (cached per process)."""
    return _cached_splits(cfg, resolve_data_dir(data_dir))
