"""Bad input fails at load time, naming the key, the value and what is allowed."""

import pytest

from physlearning.config import ConfigError
from physlearning.runs import runner

BASE = {"experiment": "ep_hopfield", "seed": 0}

CASES = [
    # (raw config, override list, fragments the message must contain)
    ({**BASE, "colour": "red"}, [], ["unknown config key colour", "allowed keys"]),
    ({**BASE, "train": {"epochs": 3, "lr_typo": 1}}, [], ["train.lr_typo", "allowed keys"]),
    ({**BASE, "rule": {"beta": 0.0}}, [], ["rule.beta = 0.0", "> 0"]),
    ({**BASE, "rule": {"beta": -0.5}}, [], ["rule.beta = -0.5", "> 0"]),
    ({**BASE, "train": {"batch_size": 0}}, [], ["train.batch_size = 0", ">= 1"]),
    ({**BASE, "train": {"epochs": "ten"}}, [], ["train.epochs = 'ten'", "expected int"]),
    ({**BASE, "train": {"epochs": 2.5}}, [], ["train.epochs = 2.5", "expected int"]),
    ({**BASE, "train": {"optimizer": "adagrad"}}, [], ["train.optimizer = 'adagrad'", "'adam'"]),
    ({**BASE, "rule": {"estimator": "two_sided"}}, [], ["rule.estimator = 'two_sided'", "'symmetric'"]),
    ({**BASE, "data": {"name": "mnist", "dir": "/no/such/dir"}}, [], ["data.dir = '/no/such/dir'", "does not exist"]),
    ({**BASE, "data": {"name": "mnist"}}, [], ["data.dir = ''", "needs the directory"]),
    ({**BASE, "model": {"hidden": [64, 0]}}, [], ["model.hidden = [64, 0]", ">= 1"]),
    ({**BASE, "train": {"lr": float("nan")}}, [], ["train.lr", "finite"]),
    ({**BASE, "rule": {"damping": 1.5}}, [], ["rule.damping = 1.5", "<= 1"]),
    ({**BASE, "seed": -1}, [], ["seed = -1", ">= 0"]),
    ({**BASE, "data": 3}, [], ["data must be a table"]),
    ({"seed": 0}, [], ["no 'experiment' key", "ep_hopfield"]),
    ({"experiment": "ep_hopfeld"}, [], ["experiment = 'ep_hopfeld'", "allowed values"]),
    (dict(BASE), ["rule.beta=-1"], ["rule.beta = -1", "> 0"]),
    (dict(BASE), ["train.batch_size"], ["expected key=value"]),
]


@pytest.mark.parametrize("raw,overrides,fragments", CASES)
def test_bad_config_is_rejected_with_a_clear_message(raw, overrides, fragments):
    with pytest.raises(ConfigError) as e:
        runner.resolve(raw, overrides)
    for frag in fragments:
        assert frag in str(e.value), (frag, str(e.value))


def test_good_config_and_overrides_resolve():
    exp, cfg = runner.resolve(dict(BASE), ["rule.beta=0.2", "model.hidden=[32, 16]", "train.lr=1"])
    assert exp.name == "ep_hopfield"
    assert cfg.rule.beta == 0.2 and cfg.model.hidden == (32, 16)
    assert isinstance(cfg.train.lr, float)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        runner.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("experiment = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        runner.load(bad)
