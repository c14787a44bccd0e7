"""Bad input and faults: clear errors naming the value and what is allowed."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.config import ConfigError
from physlearning.experiments.thermo import DataRangeError, check_range
from physlearning.runs import registry, runner
from physlearning.substrates.langevin import LangevinComputer, NonFiniteStateError, StabilityError, generate


def _cfg(name, **over):
    return runner.with_overrides(registry.get(name), over)


@pytest.mark.parametrize("key,value,msg", [
    ("device.kT", 0.0, r"device.kT = 0.0: allowed values are > 0"),
    ("device.kT", -1.0, r"device.kT = -1.0: allowed values are > 0"),
    ("device.mu", 0.0, r"device.mu = 0.0: allowed values are > 0"),
    ("device.couplings", "all",
     r"device.couplings = 'all': allowed values are \['dense', 'bipartite', 'hidden_only'\]"),
    ("data.toy", "spiral", r"data.toy = 'spiral': allowed values are"),
    ("device.dt", 0.2, r"device.dt = 0.2 is beyond Euler-Maruyama stability.*allowed: dt < 0.0"),
    ("device.n_slices", 7, r"device.n_steps = 100 must be a multiple of device.n_slices = 7"),
    ("device.n_steps", 20, r"too short to noise the data: 2 mu J2 t = 0.8 < 3"),
    ("device.j2_hidden", -1.0, None),
    ("device.hidden_loading", "pca",
     r"device.hidden_loading = 'pca': allowed values are \['settle', 'kmeans', 'kmeans_held'\]"),
])
def test_config_errors_name_the_value(key, value, msg):
    if msg is None:  # double-well hidden units are allowed when J4 > 0
        _cfg("thermo_toy2d", **{key: value})
        with pytest.raises(ConfigError, match=r"device.j2_hidden = -1.0 with device.j4_hidden = 0"):
            _cfg("thermo_toy2d", **{key: value, "device.j4_hidden": 0.0})
        return
    with pytest.raises(ConfigError, match=msg):
        _cfg("thermo_toy2d", **{key: value})


def test_digits_config_errors():
    with pytest.raises(ConfigError, match="source = 'mnist' needs the directory"):
        _cfg("thermo_digits", **{"data.source": "mnist"})
    with pytest.raises(ConfigError, match="device.n_hidden = 0: hidden_loading = 'kmeans' needs >= 1"):
        _cfg("thermo_digits", **{"device.hidden_loading": "kmeans", "device.n_hidden": 0})
    with pytest.raises(ConfigError, match=r"data.classes = \[3\]: give at least two"):
        _cfg("thermo_digits", **{"data.classes": [3]})
    with pytest.raises(ConfigError, match=r"data.classes = \[0, 11\]: allowed values are >= 0 and <= 9"):
        _cfg("thermo_digits", **{"data.classes": [0, 11]})
    with pytest.raises(ConfigError, match="directory does not exist"):
        _cfg("thermo_digits", **{"data.source": "mnist", "data.dir": "/no/such/dir"})


def test_substrate_errors():
    kw = dict(n_slices=2, n_steps=10, dt=0.01)
    with pytest.raises(ValueError, match=r"kT = 0: must be > 0"):
        LangevinComputer(2, 0, kT=0, **kw)
    with pytest.raises(ValueError, match=r"mu = -1.0: mobility must be > 0"):
        LangevinComputer(2, 0, mu=-1.0, **kw)
    with pytest.raises(ValueError, match=r"n_steps = 10 is not a multiple of n_slices = 3"):
        LangevinComputer(2, 0, n_slices=3, n_steps=10, dt=0.01)
    with pytest.raises(ValueError, match=r"j2_hidden = -1.0 with j4_hidden = 0"):
        LangevinComputer(2, 1, j2_hidden=-1.0, **kw)
    c = LangevinComputer(2, 0, n_slices=2, n_steps=10, dt=0.6)
    with pytest.raises(StabilityError, match=r"dt = 0.6 is beyond Euler-Maruyama stability.*use dt < 0.5"):
        c.check_stability(1.0)


def test_non_finite_generation_names_the_step():
    c = LangevinComputer(2, 0, n_slices=2, n_steps=40, dt=0.05)
    # an anti-confining second half of the protocol: x grows by (1 + 2e3 * 0.05) per step
    c = eqx.tree_at(lambda s: s.J2, c, jnp.array([[1.0, 1.0], [-2e3, -2e3]]))
    with pytest.raises(NonFiniteStateError, match=r"non-finite states at time step (2\d|3\d) of 40 \(slice 1\)"):
        generate(c, jax.random.PRNGKey(0), 8)


def test_data_outside_declared_range():
    check_range(np.array([[0.5, -2.9]]), 3.0, "x")
    msg = r"training data: values span \[-1, 4\], outside the declared range \[-3, 3\]"
    with pytest.raises(DataRangeError, match=msg):
        check_range(np.array([[4.0, -1.0]]), 3.0, "training data")
    with pytest.raises(DataRangeError, match="outside"):
        check_range(np.array([[np.nan]]), 3.0, "x")


def test_ddpm_batch_larger_than_the_training_set_is_refused():
    """The DDPM baseline's batch is not silently cut to the data (config.toml would record the other value)."""
    from physlearning.experiments.thermo import ToyConfig, ToyData
    from physlearning.experiments.thermo.sections import DDPM

    with pytest.raises(ConfigError, match=r"ddpm.batch_size = 5000: larger than the training set \(4000 rows\)"):
        ToyConfig(data=ToyData(n_train=4000), ddpm=DDPM(batch_size=5000)).validate()
    ToyConfig(data=ToyData(n_train=4000), ddpm=DDPM(batch_size=5000, enabled=False)).validate()
