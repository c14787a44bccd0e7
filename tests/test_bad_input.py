"""Bad values, sizes and data files: a clear error naming the key or file, the value and what is
allowed, raised at load time (before any long work), never a library traceback."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from physlearning import config
from physlearning.config import ConfigError
from physlearning.tasks import audio, datasets
from physlearning.tasks.datasets import DataError

try:
    from physlearning.runs import registry, runner
except ImportError:  # the older layout
    from physlearning.experiments import registry, runner

EXPERIMENTS = sorted(registry.experiments())  # every registered experiment


def _resolve(name: str, sets: dict):
    """Resolve experiment ``name`` with ``--set key=value`` overrides (values as TOML literals)."""
    return runner.resolve({"experiment": name}, [f"{k}={_toml(v)}" for k, v in sets.items()])


def _toml(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v).lower() if isinstance(v, bool) else repr(v)


def _refused(name: str, sets: dict, *fragments: str) -> str:
    with pytest.raises(ConfigError) as e:
        _resolve(name, sets)
    msg = str(e.value)
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


# ----------------------------------------------------------------------------- 1. seeds


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_every_experiment_refuses_seeds_outside_32_bits(name, seed):
    _refused(name, {"seed": seed}, f"seed = {seed}:", "allowed values are >= 0 and < 4294967296")


@pytest.mark.parametrize("name", ["scattering_digits", "scattering_robustness"])
def test_hardware_seed_is_checked(name):
    _refused(name, {"hardware.seed": -5}, "hardware.seed = -5:", ">= 0 and < 4294967296")


def test_largest_seed_is_accepted_and_its_derived_seeds_work():
    _, cfg = _resolve("ep_hopfield", {"seed": 2**32 - 1})
    assert cfg.seed == 2**32 - 1
    sp = datasets.sklearn_digits(seed=2**32 - 1)  # the validation split uses seed + 1 = 2**32
    assert len(sp.x_train) and len(sp.x_val)


def test_seed_ranges_of_several_runs():
    _refused("reservoir_network", {"seed": 2**32 - 2, "n_seeds": 5}, "seed = 4294967294, n_seeds = 5",
             "allowed: seed + n_seeds - 1 < 2**32")
    _refused("scattering_robustness", {"hardware.seed": 2**32 - 1, "sweep.seeds": 2}, "hardware.seed = 4294967295",
             "sweep.seeds = 2", "allowed: up to 2**32 - 1")


# ----------------------------------------------------------------------------- 2. sizes

HUGE = [
    ("ep_resistors", {}, "network.n_hidden", 10**12),
    ("ep_resistors", {}, "task.n_inputs", 10**12),
    ("ep_resistors", {}, "task.n_outputs", 10**12),
    ("ep_resistors", {}, "task.n_train", 10**12),
    ("ep_resistors_xor", {}, "network.n_hidden", 10**12),
    ("ep_springs", {}, "network.rows", 10**6),
    ("ep_hopfield", {}, "model.hidden", [10**12]),
    ("reservoir_timeseries", {}, "reservoir.units", 10**6),
    ("reservoir_timeseries", {}, "task.n_train", 10**12),
    ("reservoir_timeseries", {"reservoir.device": "delay"}, "reservoir.units", 10**6),
    ("reservoir_network", {}, "nodes", 10**6),
    ("reservoir_network", {}, "task.n_train", 10**12),
    ("scattering_digits", {}, "network.hidden", 10**6),
    ("scattering_robustness", {}, "network.hidden", 10**6),
    ("scattering_digits", {}, "network.duplicate", 10**6),
    ("thermo_toy2d", {}, "device.n_hidden", 10**6),
    ("thermo_toy2d", {}, "eval.n_samples", 10**9),
    ("thermo_toy2d", {}, "device.n_steps", 10**8),
    ("thermo_toy2d", {}, "data.n_train", 10**12),
    ("thermo_digits", {}, "device.n_hidden", 10**6),
    ("thermo_digits", {}, "eval.n_samples", 10**9),
    ("thermo_toy2d", {}, "ddpm.width", 10**9),  # the DDPM baseline's weights and Adam moments
    ("thermo_digits", {}, "ddpm.width", 10**9),
]


@pytest.mark.parametrize("name,base,key,value", HUGE)
def test_huge_sizes_are_refused_at_load_time_with_the_key_named(name, base, key, value):
    _refused(name, {**base, key: value}, f"{key} = {value!r}", "GiB", "more than the memory limit")


@pytest.mark.parametrize("key,value", [("data.max_frames", 10**7), ("reservoir.units", 10**6)])
def test_huge_fsdd_sizes_are_refused(shared_data, key, value):
    _refused("reservoir_fsdd", {"data.dir": str(shared_data / "fsdd"), key: value},
             f"{key} = {value!r}", "GiB", "more than the memory limit")


def test_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv(config.MEMORY_ENV, "0.001")
    msg = _refused("ep_hopfield", {}, "model.hidden = [256]", "memory limit of 0.001 GiB",
                   "PHYSLEARNING_MEMORY_LIMIT_GB = 0.001")
    assert "the largest part is" in msg
    monkeypatch.setenv(config.MEMORY_ENV, "lots")
    _refused("ep_hopfield", {}, "PHYSLEARNING_MEMORY_LIMIT_GB = 'lots'", "a number of GiB > 0")
    monkeypatch.setenv(config.MEMORY_ENV, "100000")
    _resolve("ep_resistors", {"network.n_hidden": 2000})  # allowed when the limit says so


def test_check_memory_names_keys_estimate_and_limit(monkeypatch):
    monkeypatch.delenv(config.MEMORY_ENV, raising=False)
    limit, source = config.memory_limit()
    assert limit > 0 and "physical memory" in source
    config.check_memory(1e3, "tiny arrays", {"a": 1})
    with pytest.raises(ConfigError) as e:
        config.check_memory(2 * limit, "big arrays", {"a": 1, "b": [2]}, parts={"x": 2 * limit, "y": 1.0})
    msg = str(e.value)
    for frag in ("a = 1, b = [2]", "big arrays need about", "the largest part is x", f"{limit / 2**30:.3g} GiB"):
        assert frag in msg, (frag, msg)
    with pytest.raises(ConfigError, match="need about 9.31e\\+290 GiB"):
        config.check_memory(10**400, "astronomic arrays", {"n": 10**200})


def test_examples_and_defaults_stay_within_memory():
    for name in EXPERIMENTS:
        if name != "reservoir_fsdd":
            _resolve(name, {})


# ----------------------------------------------------------------------------- 3. ranges left to libraries


def test_mnist_n_test_must_leave_training_rows(shared_data):
    d = str(shared_data / "mnist")
    for n_test in (10000, 9950, 5):
        _refused("ep_hopfield", {"data.name": "mnist", "data.dir": d, "data.n_test": n_test},
                 f"data.n_test = {n_test}:", "allowed values are 10 to 9909", "held out")
    _resolve("ep_hopfield", {"data.name": "mnist", "data.dir": d, "data.n_test": 9909})
    with pytest.raises(DataError, match=r"n_test = 10000: .*allowed values are 10 to 9909"):
        datasets.mnist(d, n_test=10000)
    with pytest.raises(DataError, match=r"n_test = 9995: .*allowed values are 10 to 9990"):
        datasets.mnist(d, n_test=9995, val_frac=0)


def _copy_optdigits(shared_data, tmp_path):
    d = tmp_path / "opt"
    d.mkdir()
    for name in ("optdigits.tra", "optdigits.tes"):
        shutil.copy(shared_data / "optdigits" / name, d / name)
    return d


@pytest.mark.parametrize("column,value,what,high", [(64, 12, "label", 9), (3, 17, "pixel count", 16),
                                                    (64, -1, "label", 9)])
def test_optdigits_values_out_of_range_name_the_file(shared_data, tmp_path, column, value, what, high):
    d = _copy_optdigits(shared_data, tmp_path)
    lines = (d / "optdigits.tes").read_text().splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#"))
    cells = lines[row].split(",")
    cells[column] = str(value)
    lines[row] = ",".join(cells)
    (d / "optdigits.tes").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        datasets.optdigits_raw(d, check=False)
    msg = str(e.value)
    for frag in (str(d / "optdigits.tes"), f"{what} {value} at row 1", f"allowed values are 0 to {high}"):
        assert frag in msg, (frag, msg)
    with pytest.raises(DataError, match="corrupt"):  # with the checksum on, the edit is caught first
        datasets.optdigits_raw(d)


def _raw_mnist(shared_data, tmp_path) -> tuple:
    d = tmp_path / "mnist"
    d.mkdir()
    out = []
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = gzip.decompress((shared_data / "mnist" / f"{stem}.gz").read_bytes())
        (d / stem).write_bytes(raw)
        out.append(d / stem)
    return d, *out


def test_raw_idx_files_are_checksummed_and_label_range_checked(shared_data, tmp_path):
    d, images, labels = _raw_mnist(shared_data, tmp_path)
    raw = datasets.mnist_raw(d)  # the uncompressed published files pass their checksum
    assert raw["x_test"].shape == (10000, 28, 28) and raw["y_test"].max() == 9
    data = bytearray(labels.read_bytes())
    data[8 + 5] = 11  # label of image 6
    labels.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte' is corrupt: SHA-256 does not match"):
        datasets.mnist_raw(d)
    with pytest.raises(DataError) as e:
        datasets.mnist_raw(d, check=False)
    for frag in (str(labels), "label 11 at row 6", "allowed values are 0 to 9"):
        assert frag in str(e.value), (frag, str(e.value))
    data = bytearray(images.read_bytes())
    data[100] ^= 0xFF
    images.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte' is corrupt"):
        datasets.mnist_raw(d)


@pytest.mark.parametrize("compressed", [True, False])
def test_swapped_image_and_label_files_are_named(shared_data, tmp_path, compressed):
    d = tmp_path / "swapped"
    d.mkdir()
    ext = ".gz" if compressed else ""
    src = {stem: gzip.decompress((shared_data / "mnist" / f"{stem}.gz").read_bytes())
           for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    if compressed:
        src = {k: (shared_data / "mnist" / f"{k}.gz").read_bytes() for k in src}
    (d / f"t10k-images-idx3-ubyte{ext}").write_bytes(src["t10k-labels-idx1-ubyte"])
    (d / f"t10k-labels-idx1-ubyte{ext}").write_bytes(src["t10k-images-idx3-ubyte"])
    with pytest.raises(DataError) as e:
        datasets.mnist_raw(d)
    msg = str(e.value)
    for frag in (str(d / f"t10k-images-idx3-ubyte{ext}"), f"holds the content of 't10k-labels-idx1-ubyte{ext}'",
                 "swapped"):
        assert frag in msg, (frag, msg)
    with pytest.raises(DataError) as e:  # without checksums (e.g. Fashion-MNIST) the IDX header tells
        datasets.mnist_raw(d, check=False)
    msg = str(e.value)
    for frag in (str(d / f"t10k-images-idx3-ubyte{ext}"), "holds labels (IDX magic 0x00000801, 1-D)",
                 "read as images (magic 0x00000803", "swapped"):
        assert frag in msg, (frag, msg)


def test_images_of_the_wrong_size_are_named(tmp_path):
    p = tmp_path / "t10k-images-idx3-ubyte"
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (8).to_bytes(4, "big") + (8).to_bytes(4, "big")
    p.write_bytes(header + bytes(2 * 64))
    with pytest.raises(DataError, match=r"images of 8x8 pixels; allowed: 28x28"):
        datasets._read_idx(p, "images")


def test_training_files_without_a_known_checksum_warn(shared_data, tmp_path):
    d, _, _ = _raw_mnist(shared_data, tmp_path)
    for stem in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        shutil.copy(d / f"t10k-{stem}", d / f"train-{stem}")
    with pytest.warns(UserWarning) as record:
        raw = datasets.mnist_raw(d)
    assert "x_train" in raw
    msgs = [str(w.message) for w in record]
    for stem in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        assert any(f"train-{stem}': no published SHA-256 is known" in m for m in msgs), msgs
    datasets.mnist_raw(d, check=False)  # no warning when checksums are off


# ----------------------------------------------------------------------------- 4. files


def test_config_that_is_not_utf8_names_the_file(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes('experiment = "ep_hopfield"\n# caf\u00e9 in Latin-1\nseed = 0\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as e:
        runner.load(p)
    assert str(p) in str(e.value) and "is not UTF-8" in str(e.value)


def test_fsdd_limit_too_small_names_data_limit(shared_data):
    d = str(shared_data / "fsdd")
    msg = _refused("reservoir_fsdd", {"data.dir": d, "data.limit": 3}, "data.limit = 3: the 3 recordings it reads",
                   "allowed: data.limit = 0 (all 3000 files) or data.limit >= ")
    k = int(msg.rsplit(">= ", 1)[1].split()[0].rstrip(";"))
    _resolve("reservoir_fsdd", {"data.dir": d, "data.limit": k})
    _refused("reservoir_fsdd", {"data.dir": d, "data.limit": k - 1}, f"data.limit = {k - 1}")
    _refused("reservoir_fsdd", {"data.dir": d, "data.n_mfcc": 40}, "data.n_mfcc = 40: allowed values are 1 to 26")


def _write_fsdd(tmp_path, rate: int = 8000, signal=None, names=("0_alice_0.wav",), subtype=None):
    import soundfile as sf

    d = tmp_path / "fsdd" / "recordings"
    d.mkdir(parents=True)
    t = np.arange(int(0.3 * rate)) / rate
    sig = 0.1 * np.sin(2 * np.pi * 440 * t) if signal is None else signal
    for name in names:
        sf.write(d / name, sig, rate, subtype=subtype)
    return d


def test_fsdd_split_of_the_files_themselves(tmp_path):
    d = _write_fsdd(tmp_path, names=("0_alice_0.wav", "1_alice_1.wav"))
    _refused("reservoir_fsdd", {"data.dir": str(d.parent)}, f"data.dir = {str(d.parent)!r}: its 2 recordings",
             "the standard split is empty")


@pytest.mark.parametrize("rate", [44100, 16000])
def test_fsdd_refuses_other_sample_rates(tmp_path, rate):
    d = _write_fsdd(tmp_path, rate=rate)
    with pytest.raises(DataError) as e:
        audio.load_fsdd(d.parent)
    for frag in (str(d / "0_alice_0.wav"), f"sampled at {rate} Hz", "allowed: 8000 Hz"):
        assert frag in str(e.value), (frag, str(e.value))


def test_fsdd_refuses_non_finite_audio(tmp_path):
    sig = np.zeros(2400)
    sig[100] = np.nan
    d = _write_fsdd(tmp_path, signal=sig, subtype="FLOAT")
    with pytest.raises(DataError) as e:
        audio.load_fsdd(d.parent)
    for frag in (str(d / "0_alice_0.wav"), "non-finite audio samples (first at sample 100"):
        assert frag in str(e.value), (frag, str(e.value))


def test_good_fsdd_file_still_loads(tmp_path):
    d = _write_fsdd(tmp_path)
    data = audio.load_fsdd(d.parent, max_frames=20)
    assert data.x.shape == (1, 20, 13) and np.all(np.isfinite(data.x))


@pytest.mark.parametrize("sets,fragments", [
    ({"device.kT": 1e-300}, ["device.kT = 1e-300 is too small", "thermal width", "before equilibrium",
                             "allowed: device.kT >= 0.00604"]),
    ({"device.kT": 1e-3}, ["device.kT = 0.001 is too small", "allowed: device.kT >= 0.00604"]),
    ({"device.kT": 1e-300, "device.n_steps": 1000},
     ["device.kT = 1e-300 is too small", "a thermal kick", "below 100 float32 rounding steps",
      "allowed: device.kT >= 3.2e-08"]),
])
def test_thermo_kT_has_a_physical_lower_bound(sets, fragments):
    _refused("thermo_toy2d", sets, *fragments)


def test_thermo_kT_near_the_bound():
    _resolve("thermo_toy2d", {"device.kT": 0.00604})  # the quoted bound itself is allowed
    _refused("thermo_digits", {"device.kT": 1e-300}, "device.kT = 1e-300 is too small")


@pytest.mark.parametrize("name", ["scattering_digits", "scattering_robustness"])
def test_scattering_temperature_keeps_softmax_finite(name):
    _refused(name, {"train.temperature": 1e-300}, "train.temperature = 1e-300: allowed values are >= 0.0226",
             "exp(2 / T)", "float32")
    _refused(name, {"train.temperature": 0.0225}, "train.temperature = 0.0225")
    _resolve(name, {"train.temperature": 0.0226})
