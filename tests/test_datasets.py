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


def test_writer_block_split_holds_out_a_contiguous_block_with_guards():
    tr, va = datasets.writer_block_split(3823, 0.1, seed=3, guard=80)
    assert np.array_equal(va, np.arange(1146, 1528))  # block 3 of 10 blocks of 382 rows
    assert not set(tr) & set(range(1066, 1608)) and len(tr) == 3823 - 382 - 160
    tr0, va0 = datasets.writer_block_split(3823, 0.1, seed=10, guard=80)  # seed mod 10 -> block 0
    assert va0[0] == 0 and va0[-1] == 381 and tr0[0] == 462 and tr0[-1] == 3822
    with pytest.raises(ValueError, match="val_frac = 0.9: a writer block of 3441 rows"):
        datasets.writer_block_split(3823, 0.9, seed=0)


def test_optdigits_rows_are_ordered_by_writer(shared_data):
    """The evidence behind ``writer_block_split``: two images of the same digit are closer when
    their rows are near (same writer; Alpaydin & Kaynak 1998 built the file writer by writer)
    than when they are far apart. Random row order would give equal means."""
    x, y, _, _ = datasets.optdigits_raw(shared_data / "optdigits")
    x = x.astype(float)

    def mean_same_class_distance(gaps):
        d = [((x[:-g] - x[g:]) ** 2).sum(1)[y[:-g] == y[g:]] for g in gaps]
        return np.concatenate(d).mean()

    near, far = mean_same_class_distance(range(1, 9)), mean_same_class_distance(range(200, 300))
    assert near < 0.75 * far  # measured: 915 vs ~1,390
    sp = datasets.optdigits(shared_data / "optdigits", seed=0, val_frac=0.1, val_split="writer_block")
    assert len(sp.x_val) == 382 and len(sp.x_train) == 3823 - 382 - datasets.WRITER_GUARD_ROWS
    assert "writer block rows 0-381" in sp.note
    whole = datasets.optdigits(shared_data / "optdigits", val_frac=0, val_split="writer_block")
    assert len(whole.x_train) == 3823 and len(whole.x_val) == 0 and "no validation rows" in whole.note
    with pytest.raises(ValueError, match="val_split = 'writers'"):
        datasets.optdigits(shared_data / "optdigits", val_split="writers")


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
    whole = datasets.sklearn_digits(seed=3, val_frac=0)  # no validation rows: all 1,437 non-test rows train
    assert len(whole.x_train) == 1797 - 360 and len(whole.x_val) == 0 and np.array_equal(whole.y_test, a.y_test)
    assert datasets.xor()[0].shape == (4, 2)
