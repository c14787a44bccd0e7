"""Classification data sets: XOR, scikit-learn digits, UCI optdigits, MNIST (IDX).

Loaders read a directory the user names (no network). Known files are checked against
their published SHA-256; a missing or corrupt file raises :class:`DataError` naming it.
All loaders return float arrays in [0, 1] (``x``) and integer labels (``y``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import warnings
from pathlib import Path

import numpy as np

from physlearning.errors import DataError  # noqa: E402  (one error base class: physlearning.errors)

SHA256 = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    # the uncompressed form: SHA-256 of the published .gz files' content (``gzip -dc FILE.gz | sha256sum``)
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "optdigits.hol": "4e93dfa93f501c29e4b6e1db417db68be20a7acafd85e52939e04369ecde386a",
    "optdigits.tes": "94d7b3c067125a5f6a6d51cf1dc8e95de7d731e41c7f1e714897330242949464",
    "optdigits.tra": "a6d20dd0016ea85e8e207860d7b59411b07ddd18981ab250fa0ce37525570ab7",
}


@dataclasses.dataclass(frozen=True)
class Split:
    """Train / validation / test arrays; ``x`` in [0, 1], ``y`` integer class labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, int] | None = None
    note: str = ""


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _need_dir(directory: str | Path, what: str) -> Path:
    d = Path(directory).expanduser()
    if not str(directory):
        raise DataError(f"{what}: no data directory given (set data.dir)")
    if not d.is_dir():
        raise DataError(f"{what}: data directory {str(d)!r} does not exist")
    return d


UNVERIFIED = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte",
              "train-labels-idx1-ubyte")
"""Files read without a checksum: physlearning knows no published SHA-256 for the MNIST training split
(a warning says so when ``check`` is on)."""


def _checked(d: Path, name: str, check: bool = True) -> Path:
    p = d / name
    if not p.is_file():
        raise DataError(f"missing data file {str(p)!r}")
    if check and name in SHA256:
        digest = _sha256(p)
        if digest != SHA256[name]:
            other = [k for k, v in SHA256.items() if v == digest]
            if other:
                raise DataError(f"data file {str(p)!r} holds the content of {other[0]!r} (SHA-256 "
                                f"{digest[:12]}...): are files swapped or renamed? Give each file its published name")
            raise DataError(f"data file {str(p)!r} is corrupt: SHA-256 does not match the published "
                            f"{SHA256[name][:12]}...")
    elif check and name in UNVERIFIED:
        warnings.warn(f"data file {str(p)!r}: no published SHA-256 is known for {name}; it is read without a "
                      "checksum (its IDX header, size and label range are still checked)", stacklevel=3)
    return p


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points in {0,1}^2 and their labels."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    return x, np.array([0, 1, 1, 0])


def stratified_split(x: np.ndarray, y: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, ...]:
    """Split off ``frac`` of the samples, stratified by label, fixed seed."""
    from sklearn.model_selection import train_test_split

    # derived seeds (seed + 1) may reach 2**32, beyond scikit-learn's random_state: fold them back
    a, b, ya, yb = train_test_split(x, y, test_size=frac, stratify=y, random_state=seed % 2**32)
    return a, ya, b, yb


def sklearn_digits(seed: int = 0, test_frac: float = 0.2, val_frac: float = 0.1) -> Split:
    """scikit-learn's 8x8 digits (1,797 images), stratified train/val/test, fixed seed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    xtr, ytr, xte, yte = stratified_split(x, d.target, test_frac, seed)
    if val_frac > 0:
        xtr, ytr, xva, yva = stratified_split(xtr, ytr, val_frac / (1 - test_frac), seed + 1)
    else:
        xva, yva = xtr[:0], ytr[:0]
    return Split(
        xtr,
        ytr,
        xva,
        yva,
        xte,
        yte,
        10,
        (8, 8),
        f"sklearn digits: {len(xtr)} train / {len(xva)} val / {len(xte)} test (stratified, seed {seed})",
    )


def _read_optdigits(p: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [ln for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    try:
        a = np.array([[int(v) for v in ln.split(",")] for ln in rows])
    except ValueError as e:
        raise DataError(f"data file {str(p)!r} is not in the optdigits format: {e}") from e
    if a.ndim != 2 or a.shape[1] != 65:
        raise DataError(f"data file {str(p)!r}: expected 65 comma-separated columns, got {a.shape}")
    _check_range(p, "pixel count", a[:, :64], 16)
    _check_range(p, "label", a[:, 64], 9)
    return a[:, :64], a[:, 64]


def _check_range(p: Path, what: str, a: np.ndarray, high: int) -> None:
    """Raise :class:`DataError` naming file ``p`` when an entry of ``a`` is outside 0..high."""
    bad = np.flatnonzero((a < 0) | (a > high))
    if bad.size:
        i = np.unravel_index(bad[0], a.shape)
        where = f"row {i[0] + 1}" if a.ndim == 1 else f"row {i[0] + 1}, column {i[1] + 1}"
        raise DataError(f"data file {str(p)!r}: {what} {int(a[i])} at {where} ({bad.size} such values); "
                        f"allowed values are 0 to {high}")


def optdigits_raw(directory: str | Path, check: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """UCI optdigits: the training file (``optdigits.tra`` [+ ``optdigits.hol``], 3,823 rows)
    and the test file ``optdigits.tes`` (1,797 rows); pixel counts 0..16 (not rescaled)."""
    d = _need_dir(directory, "optdigits")
    parts = [_read_optdigits(_checked(d, "optdigits.tra", check))]
    if (d / "optdigits.hol").exists():
        parts.append(_read_optdigits(_checked(d, "optdigits.hol", check)))
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    xte, yte = _read_optdigits(_checked(d, "optdigits.tes", check))
    return xtr, ytr, xte, yte


VAL_SPLITS = ("stratified", "writer_block")
VAL_SPLIT_DOC = ("optdigits only: random stratified rows, or a contiguous block of rows "
                 "(held-out writers; block seed mod 10 at val_frac 0.1)")
WRITER_GUARD_ROWS = 80
"""Training rows dropped on each side of a writer-block validation split (see ``writer_block_split``)."""
WRITER_BLOCK_MAX_FRAC = 0.4


def writer_block_split(n: int, frac: float, seed: int, guard: int = WRITER_GUARD_ROWS) -> tuple[np.ndarray, ...]:
    """Row indices (train, val) of a validation split that holds out whole writers of the optdigits
    training file.

    The file carries no writer labels, but its rows are ordered by writer (Alpaydin & Kaynak: 30
    writers made the training file, 13 others the test file): images of the same digit lie
    closer together when their rows are near (mean squared distance 915 at row gaps 1-8, rising
    linearly to a plateau of about 1,390 beyond ~75 rows; ``tests/test_datasets.py``). So the
    validation set is the contiguous block ``seed mod k`` of ``k = n // n_val`` blocks of
    ``n_val = round(frac n)`` rows, and the ``guard`` rows on each side of it, which may share
    a writer with it, are used for neither training nor validation.
    """
    n_val = max(1, round(frac * n))
    k = n // n_val
    b = seed % k
    lo, hi = b * n_val, (b + 1) * n_val
    idx = np.arange(n)
    val = idx[lo:hi]
    train = idx[(idx < lo - guard) | (idx >= hi + guard)]
    if len(train) < n_val:
        raise ValueError(f"val_frac = {frac}: a writer block of {n_val} rows plus {guard} guard rows on each side "
                         f"leaves {len(train)} of {n} rows for training; allowed up to {WRITER_BLOCK_MAX_FRAC}")
    return train, val


def val_split_problem(name: str, val_split: str, val_frac: float) -> str | None:
    """Why the config keys ``data.name``/``data.val_split``/``data.val_frac`` do not fit together
    (None if they do): checked before a run starts."""
    if val_split != "stratified" and name != "optdigits":
        return (f"data.val_split = {val_split!r} needs data.name = 'optdigits' (its rows are ordered by writer); "
                f"data.name = {name!r} allows only 'stratified'")
    if val_split != "stratified" and val_frac == 0:
        return (f"data.val_split = {val_split!r} with data.val_frac = 0: there are no validation rows to hold out; "
                "give data.val_frac > 0 (e.g. 0.1) or leave data.val_split at 'stratified'")
    if val_split == "writer_block" and val_frac > WRITER_BLOCK_MAX_FRAC:
        return (f"data.val_frac = {val_frac} with data.val_split = 'writer_block': allowed up to "
                f"{WRITER_BLOCK_MAX_FRAC} (the block and its guard rows would leave too few training rows)")
    return None


def optdigits(directory: str | Path, seed: int = 0, val_frac: float = 0.1, check: bool = True,
              val_split: str = "stratified") -> Split:
    """UCI optdigits with a validation split carved from the training file: ``stratified``
    (random rows, stratified by label; the validation writers also wrote training rows) or
    ``writer_block`` (a contiguous block of rows, i.e. held-out writers, like the test file;
    see ``writer_block_split``)."""
    if val_split not in VAL_SPLITS:
        raise ValueError(f"val_split = {val_split!r}: allowed {VAL_SPLITS}")
    x, y, xte, yte = optdigits_raw(directory, check)
    x = x / 16.0
    how = val_split
    if val_frac <= 0:
        xtr, ytr, xva, yva = x, y, x[:0], y[:0]
        how = "no validation rows"
    elif val_split == "stratified":
        xtr, ytr, xva, yva = stratified_split(x, y, val_frac, seed)
    else:
        tr, va = writer_block_split(len(y), val_frac, seed)
        xtr, ytr, xva, yva = x[tr], y[tr], x[va], y[va]
        how = f"writer block rows {va[0]}-{va[-1]}, {WRITER_GUARD_ROWS} guard rows each side unused"
    return Split(
        xtr.astype(np.float32),
        ytr,
        xva.astype(np.float32),
        yva,
        (xte / 16.0).astype(np.float32),
        yte,
        10,
        (8, 8),
        f"UCI optdigits: {len(xtr)} train / {len(xva)} val (carved from the 3,823 training rows: {how},"
        f" seed {seed})"
        f" / {len(xte)} test",
    )


IDX_KINDS = {"images": 3, "labels": 1}
"""MNIST IDX files: images are 3-D (magic 0x00000803, n x 28 x 28), labels 1-D (magic 0x00000801)."""


def _read_idx(p: Path, kind: str | None = None) -> np.ndarray:
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"data file {str(p)!r} is unreadable: {e}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise DataError(f"data file {str(p)!r} is not an IDX ubyte file")
    ndim = data[3]
    if kind is not None and ndim != IDX_KINDS[kind]:
        other = {v: k for k, v in IDX_KINDS.items()}.get(ndim, f"{ndim}-D data")
        raise DataError(f"data file {str(p)!r} holds {other} (IDX magic 0x{int.from_bytes(data[:4], 'big'):08x}, "
                        f"{ndim}-D), but it is read as {kind} (magic 0x{0x800 + IDX_KINDS[kind]:08x}, "
                        f"{IDX_KINDS[kind]}-D): are the image and label files swapped?")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"data file {str(p)!r} is truncated: its IDX header needs {4 + 4 * ndim} bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and shape[1:] != (28, 28):
        raise DataError(f"data file {str(p)!r}: images of {shape[1]}x{shape[2]} pixels; allowed: 28x28 (MNIST)")
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"data file {str(p)!r} is truncated: {body.size} bytes for shape {shape}")
    return body.reshape(shape)


def _find(d: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (d / name).exists():
            return d / name
    raise DataError(f"missing data file {str(d / (stem + '.gz'))!r} (or uncompressed {stem})")


def require_files(name: str, directory: str | Path) -> None:
    """Cheap pre-flight check that ``directory`` holds the files data set ``name`` needs
    (``optdigits``: ``optdigits.tra`` and ``optdigits.tes``; ``mnist`` / ``fashion_mnist``:
    the t10k IDX files, gz or raw). Raises :class:`DataError` naming the missing file; reads
    nothing (checksums and formats are checked when the data are loaded)."""
    if name == "optdigits":
        d = _need_dir(directory, name)
        for f in ("optdigits.tra", "optdigits.tes"):
            _checked(d, f, check=False)
    elif name in ("mnist", "fashion_mnist"):
        d = _need_dir(directory, name)
        for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            _find(d, stem)


def mnist_raw(directory: str | Path, check: bool = True) -> dict[str, np.ndarray]:
    """MNIST IDX files in ``directory`` (gz or raw). Returns ``{"x_test", "y_test"}`` and,
    when the training files are there too, ``{"x_train", "y_train"}``; uint8 images."""
    d = _need_dir(directory, "mnist")
    out = {}
    for split, prefix in (("test", "t10k"), ("train", "train")):
        try:
            ip = _find(d, f"{prefix}-images-idx3-ubyte")
            lp = _find(d, f"{prefix}-labels-idx1-ubyte")
        except DataError:
            if split == "test":
                raise
            continue
        for p in (ip, lp):
            _checked(d, p.name, check)
        x, y = _read_idx(ip, "images"), _read_idx(lp, "labels")
        if len(x) != len(y):
            raise DataError(f"{str(ip)!r} has {len(x)} images but {str(lp)!r} has {len(y)} labels")
        _check_range(lp, "label", y, 9)
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out


def mnist(
    directory: str | Path,
    seed: int = 0,
    n_test: int = 2000,
    val_frac: float = 0.1,
    classes: tuple[int, ...] | None = None,
    check: bool = True,
) -> Split:
    """MNIST. With the 60k training files present: train (minus a validation share) / val /
    the official test. With only the 10k test split (as in ``shared/data``): a stratified
    split of it into ``10000 - n_test`` train (a validation share carved from it) and
    ``n_test`` held out, fixed seed, said in ``Split.note``."""
    raw = mnist_raw(directory, check)

    def prep(x, y):
        x = (x.reshape(len(x), -1) / 255.0).astype(np.float32)
        if classes is not None:
            keep = np.isin(y, classes)
            x, y = x[keep], y[keep]
            y = np.searchsorted(np.array(sorted(classes)), y)
        return x, y.astype(np.int64)

    nc = 10 if classes is None else len(classes)
    if "x_train" in raw:
        xtr, ytr = prep(raw["x_train"], raw["y_train"])
        xte, yte = prep(raw["x_test"], raw["y_test"])
        note = "MNIST official split"
    else:
        x, y = prep(raw["x_test"], raw["y_test"])
        lo, hi = mnist_n_test_range(len(y), nc, val_frac)
        if not lo <= n_test <= hi:
            raise DataError(f"mnist: n_test = {n_test}: {MNIST_N_TEST_WHY}; with the {len(y)} images read "
                            f"({'all classes' if classes is None else f'classes {list(classes)}'}, validation share "
                            f"{val_frac:g}) allowed values are {lo} to {hi}")
        frac = n_test / MNIST_TEST_ROWS
        xtr, ytr, xte, yte = stratified_split(x, y, frac, seed)
        note = f"MNIST 10k test split only: {len(xtr)} train / {len(xte)} held out (stratified, seed {seed})"
    if val_frac > 0:
        xtr, ytr, xva, yva = stratified_split(xtr, ytr, val_frac, seed + 1)
        note += f"; validation {len(xva)} carved from train"
    else:
        xva, yva = xtr[:0], ytr[:0]
    return Split(xtr, ytr, xva, yva, xte, yte, nc, (28, 28), note)


def _split_sizes(n: int, frac: float) -> tuple[int, int]:
    """(kept, split off) row counts of scikit-learn's ``train_test_split(test_size=frac)``."""
    k = math.ceil(frac * n)
    return n - k, k


MNIST_TEST_ROWS = 10000
MNIST_N_TEST_WHY = ("with only the 10k test split, n_test of its 10,000 images are held out for testing and the "
                    "rest (less a validation share) train, each part needing every class")


def mnist_n_test_range(n_rows: int = MNIST_TEST_ROWS, n_classes: int = 10, val_frac: float = 0.1) -> tuple[int, int]:
    """Allowed ``n_test`` (lowest, highest) of :func:`mnist` with only the 10k test split, of which
    ``n_rows`` images (of ``n_classes`` classes) are read: the share ``n_test / 10000`` is held out, and
    the held-out part, the training part and (``val_frac`` > 0) its validation share each need at
    least one image per class (stratified splits). ``lo > hi`` when no value works."""
    def ok(n_test: int) -> bool:
        n_tr, k = _split_sizes(n_rows, n_test / MNIST_TEST_ROWS)
        if min(n_tr, k) < n_classes:
            return False
        return val_frac <= 0 or min(_split_sizes(n_tr, val_frac)) >= n_classes

    lo = next((n for n in range(1, MNIST_TEST_ROWS) if ok(n)), MNIST_TEST_ROWS)
    hi = next((n for n in range(MNIST_TEST_ROWS - 1, 0, -1) if ok(n)), 0)
    return lo, hi


def has_mnist_train(directory: str | Path) -> bool:
    """Whether ``directory`` holds the 60k MNIST training files (gz or raw); then ``n_test`` is unused."""
    d = Path(directory).expanduser()
    return all((d / f"{stem}.gz").is_file() or (d / stem).is_file()
               for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"))


def one_hot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[np.asarray(y)]
