"""Data loaders: sizes as published, checksums, clear errors for missing/corrupt files."""

import gzip
import shutil

import numpy as np
import pytest

from physlearning.tasks import datasets
from physlearning.tasks.datasets import DataError


def test_optdigits_sizes(shared_data):
    xtr, ytr, xte, yte = datasets.optdigits_raw(shared_data / "optdigits")
    assert xtr.shape == (3823, 64) and xte.shape == (1797, 64)  # UCI: 3,823 train / 1,797 test
    assert xtr.min() == 0 and xtr.max() == 16 and set(np.unique(ytr)) == set(range(10))
    sp = datasets.optdigits(shared_data / "optdigits", seed=0, val_frac=0.1)
    assert len(sp.x_train) + len(sp.x_val) == 3823 and sp.x_train.max() <= 1.0


def test_mnist_10k_split(shared_data):
    sp = datasets.mnist(shared_data / "mnist", seed=0, n_test=2000, val_frac=0.1)
    assert len(sp.x_test) == 2000 and len(sp.x_train) + len(sp.x_val) == 8000
    assert sp.x_train.shape[1] == 784 and 0 <= sp.x_train.min() and sp.x_train.max() <= 1
    assert np.bincount(sp.y_test).min() > 150  # stratified
    sub = datasets.mnist(shared_data / "mnist", classes=(0, 1, 2), val_frac=0.0)
    assert set(np.unique(sub.y_train)) == {0, 1, 2} and sub.n_classes == 3


def test_missing_and_corrupt_files(shared_data, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        datasets.mnist(tmp_path / "absent")
    d = tmp_path / "mnist"
    d.mkdir()
    with pytest.raises(DataError, match="missing data file"):
        datasets.mnist(d)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data / "mnist" / name, d / name)
    raw = gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DataError, match="corrupt"):
        datasets.mnist(d)
    with pytest.raises(DataError, match="truncated"):
        datasets.mnist(d, check=False)
    o = tmp_path / "opt"
    o.mkdir()
    (o / "optdigits.tra").write_text("1,2,3\n")
    with pytest.raises(DataError, match="corrupt"):
        datasets.optdigits(o)


def test_digits_split_is_stratified_and_fixed():
    a = datasets.sklearn_digits(seed=3)
    b = datasets.sklearn_digits(seed=3)
    assert np.array_equal(a.y_test, b.y_test) and len(a.x_test) == 360
    assert datasets.xor()[0].shape == (4, 2)
