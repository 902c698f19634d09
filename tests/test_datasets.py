"""Datasets and the fixed train/validation/test split, including MNIST-format files offline."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tuner.config.schema import DataConfig
from tuner.data.datasets import FASHION_MNIST_SYSTEM_DIR, _cached_splits, load_splits
from tuner.errors import DatasetError


def _rows(a: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in a}


def test_splits_are_disjoint_deterministic_and_stratified() -> None:
    cfg = DataConfig("digits", validation_fraction=0.2, test_fraction=0.2, split_seed=3)
    s = load_splits(cfg)
    n = len(s.x_train) + len(s.x_val) + len(s.x_test)
    assert n == 1797
    assert abs(len(s.x_test) - 0.2 * n) <= 1 and abs(len(s.x_val) - 0.2 * n) <= 1
    assert not _rows(s.x_test) & _rows(s.x_val)
    # the same seed in a fresh computation gives the same rows
    again = _cached_splits.__wrapped__(cfg, None)  # computed afresh, not from the cache
    assert np.array_equal(again.x_test, s.x_test)
    # stratified: every class in every split, in similar proportions
    for y in (s.y_train, s.y_val, s.y_test):
        share = np.bincount(y, minlength=10) / len(y)
        assert share.min() > 0.07
    other = load_splits(DataConfig("digits", split_seed=4))
    assert not np.array_equal(other.x_test, s.x_test)


def test_regression_targets_stay_float() -> None:
    s = load_splits(DataConfig("diabetes"))
    assert s.task == "regression" and s.y_train.dtype == np.float32 and s.n_classes == 0


def test_blobs_xor_is_not_linearly_separable() -> None:
    from sklearn.linear_model import LogisticRegression

    s = load_splits(DataConfig("blobs_xor", n_samples=800))
    assert len(s.x_train) + len(s.x_val) + len(s.x_test) == 800
    linear = LogisticRegression().fit(s.x_train, s.y_train).score(s.x_val, s.y_val)
    assert linear < 0.7


def _mnist_arrays(n_train: int = 300, n_test: int = 100):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y_train = np.arange(n_train, dtype=np.uint8) % 10
    x_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_test = np.arange(n_test, dtype=np.uint8) % 10
    return x_train, y_train, x_test, y_test


def test_mnist_from_an_npz_in_the_data_dir(tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = _mnist_arrays()
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    s = load_splits(DataConfig("mnist", validation_fraction=0.2), data_dir=tmp_path)
    assert s.n_features == 784 and s.n_classes == 10
    assert len(s.x_train) == 240 and len(s.x_val) == 60
    assert np.array_equal(
        s.x_test, x_test.reshape(100, -1).astype(np.float32)
    )  # the official test split


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def test_mnist_from_idx_files_in_the_keras_cache(tmp_path: Path) -> None:
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    x_train, y_train, x_test, y_test = _mnist_arrays(200, 50)
    for stem, arr in [
        ("train-images-idx3-ubyte", x_train),
        ("train-labels-idx1-ubyte", y_train),
        ("t10k-images-idx3-ubyte", x_test),
        ("t10k-labels-idx1-ubyte", y_test),
    ]:
        _write_idx(cache / f"{stem}.gz", arr)
    s = load_splits(DataConfig("mnist", split_seed=1))
    assert len(s.x_test) == 50 and len(s.x_train) + len(s.x_val) == 200
    assert s.x_train.max() <= 255


def test_mnist_missing_and_offline_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_splits(DataConfig("mnist", split_seed=9))
    message = str(err.value)
    assert (
        "mnist is not cached and cannot be downloaded (TUNER_OFFLINE=1 forbids downloads)"
        in message
    )
    assert "put mnist.npz or the four IDX files" in message
    assert str(tmp_path / "keras_home" / "datasets") in message


def test_mnist_download_failure_is_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tuner.data.datasets as ds

    def no_network(name: str):
        raise OSError("Name or service not known")

    monkeypatch.delenv("TUNER_OFFLINE")
    monkeypatch.setattr(ds, "_download", no_network)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(
        DatasetError,
        match=(
            r"download failed: OSError: Name or service not known\); "
            r"put mnist.npz .* in .*/data/"
        ),
    ):
        load_splits(DataConfig("mnist", split_seed=8), data_dir=data_dir)


def test_truncated_idx_file_is_refused(tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = _mnist_arrays(20, 10)
    for stem, arr in [
        ("train-images-idx3-ubyte", x_train),
        ("train-labels-idx1-ubyte", y_train),
        ("t10k-images-idx3-ubyte", x_test),
        ("t10k-labels-idx1-ubyte", y_test),
    ]:
        _write_idx(tmp_path / f"{stem}.gz", arr)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "rb") as fh:
        raw = fh.read()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(raw[:-100])
    with pytest.raises(DatasetError, match=r"is truncated"):
        load_splits(DataConfig("mnist", split_seed=7), data_dir=tmp_path)


def test_missing_data_dir_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"data directory .*nope does not exist"):
        load_splits(DataConfig("mnist"), data_dir=tmp_path / "nope")


@pytest.mark.skipif(
    not FASHION_MNIST_SYSTEM_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_fashion_mnist_reads_the_debian_package() -> None:
    s = load_splits(DataConfig("fashion_mnist", validation_fraction=0.2, n_samples=2000))
    assert s.n_features == 784 and s.class_names[0] == "T-shirt/top"
    assert len(s.x_train) + len(s.x_val) == 2000 and len(s.x_test) == 2000
