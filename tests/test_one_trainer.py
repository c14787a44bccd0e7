"""One trainer: no optax update loop outside ``physlearning.train``; the device-network and DDPM
fits that moved onto the Trainer still learn."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.errors import DivergenceError
from physlearning.runs import runner

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "physlearning"
EXAMPLES = ROOT / "examples"

_ARG = r"[^,()\[\]{}=*\s]+"  # one plain positional argument (a name or attribute; no keyword, no unpacking)
OPTAX_UPDATE_PATTERNS = {
    "optax.apply_updates": re.compile(
        r"\boptax\s*\.\s*apply_updates\b|\bfrom\s+optax\s+import\b[^\n]*\bapply_updates\b"),
    # GradientTransformation.update(grads, state[, params]): two positional arguments or more;
    # dict.update takes at most one (plus keywords), so it never matches; jax.config.update(name, value)
    # (a JAX option, not an optimiser) is excluded
    ".update(grads, state, ...)": re.compile(rf"(?<!config)\.\s*update\s*\(\s*{_ARG}\s*,\s*{_ARG}\s*[,)]"),
    # init / update on a name that holds an optimiser (opt, optimizer, tx, adam_opt, ...)
    "optimiser.init/update(": re.compile(
        r"\b(?:opt|optim|optimi[sz]er|tx|\w+_(?:opt|optim|optimi[sz]er|tx))\s*\.\s*(?:init|update)\s*\("),
    # init / update straight on a constructed transformation: optax.adam(lr).init(params)
    "optax.<transform>(...).init/update(": re.compile(
        r"\boptax\s*\.\s*[\w.]+\s*\((?:[^()]|\([^()]*\))*\)\s*\.\s*(?:init|update)\s*\("),
}


def optax_update_calls(text: str) -> list[tuple[int, str, str]]:
    """``(line, pattern names, line text)`` for each line of Python source ``text`` where an optax
    update call starts (comments ignored; a call may span lines)."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    lines = text.splitlines()
    hits: dict[int, list[str]] = {}
    for what, pattern in OPTAX_UPDATE_PATTERNS.items():
        for m in pattern.finditer(code):
            hits.setdefault(code.count("\n", 0, m.start()) + 1, []).append(what)
    return [(n, ", ".join(whats), lines[n - 1].strip()) for n, whats in sorted(hits.items())]


OLD_LOOPS = {  # the two loops that moved onto the Trainer (as they were), and one-line variants
    "ddpm": """
    opt = optax.adam(optax.cosine_decay_schedule(lr, train_steps))
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))
        loss, g = eqx.filter_value_and_grad(loss_fn)(model)
        upd, state = opt.update(g, state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, upd), state, loss
""",
    "reservoir network": """
    opt = optax.adam(tc.lr)
    state = opt.init(params)
        upd, s = opt.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss
""",
    "variants": """
    s = optax.chain(optax.clip(1.0), optax.sgd(lr)).init(params)
    updates, tx_state = transform.update(
        grads, tx_state, params)
    from optax import apply_updates
""",
}


def test_scanner_catches_the_old_loops_and_not_dict_update():
    assert [n for n, _, _ in optax_update_calls(OLD_LOOPS["ddpm"])] == [3, 5]
    assert [n for n, _, _ in optax_update_calls(OLD_LOOPS["reservoir network"])] == [3, 4, 5]
    assert [n for n, _, _ in optax_update_calls(OLD_LOOPS["variants"])] == [2, 3, 5]
    clean = """
    rec.update({f"aux_{k}": v for k, v in means.items()})
    rec.update(epoch=1, loss=2.0)
    out.update(score("ddpm_", sd))
    d.update(other, **extra)
    d.update(a, b=2)
    state = rule.init(model)  # opt.update(g, s, p) in a comment
    h.update(data)
    """
    assert optax_update_calls(clean) == []


def test_no_optax_update_outside_train():
    """Every training loop runs through ``physlearning.train.Trainer``: no optax ``init`` /
    ``update`` / ``apply_updates`` in the package outside ``src/physlearning/train/``."""
    train = SRC / "train"
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if train in path.parents:
            continue
        for n, what, line in optax_update_calls(path.read_text()):
            found.append(f"{path.relative_to(ROOT)}:{n}: {line}  [{what}]")
    assert not found, "optax update calls outside src/physlearning/train/ (use the Trainer):\n" + "\n".join(found)


# ----------------------------------------------------------------------------- device network


def _network_setup(steps: int, lr: float = 0.01, kinds=("delay", "mtj")):
    from physlearning.experiments.reservoir import _standardize, _task_data, build_network

    exp, cfg = runner.load(EXAMPLES / "reservoir_network.toml", [
        'task.name="sine_square"', "task.period=20", "nodes=6", f"kinds={list(kinds)!r}".replace("'", '"'),
        "task.washout=50", "task.n_train=300", "task.n_val=100", "task.n_test=100", "train.chunk=80",
        "train.chunk_washout=20", "train.batch=4", f"train.steps={steps}", f"train.lr={lr}", "n_seeds=1",
        "compare_single=false"])
    t = cfg.task
    u_raw, y = _task_data(t, cfg.nodes, 0)
    w, a = t.washout, t.washout + t.n_train
    u, _, _ = _standardize(u_raw, a)
    y_tr = (y[w:a] - y[w:a].mean(0)) / y[w:a].std(0)
    net = build_network(cfg, list(cfg.kinds), 0)
    net = eqx.tree_at(lambda m: m.w_out, net, jnp.zeros((1, net.n_features + 1)))
    return exp, cfg, net, u[w:a], y_tr


def _chunk_mse(net, u, y, chunk: int) -> float:
    from physlearning.substrates.reservoirs.network import WashoutMSE

    starts = range(0, len(u) - chunk + 1, chunk // 2)
    ub = jnp.asarray(np.stack([u[s:s + chunk] for s in starts]), jnp.float32)
    yb = jnp.asarray(np.stack([y[s:s + chunk] for s in starts]), jnp.float32)
    return float(jnp.mean(jax.vmap(WashoutMSE(net.washout))(net.predict(ub), yb)))


def test_device_network_trains_through_the_trainer():
    """Sine to square, a 6-node delay -> SMTJ network: 40 Adam steps through the device models
    (two epochs of 20) lower the training MSE after the washout (all half-overlapping chunks)."""
    from physlearning.experiments.reservoir import _train_network

    _, cfg, net, u, y = _network_setup(40)
    assert _train_network(net, u, y, dataclasses.replace(cfg.train, steps=0), 0) is net  # no steps: untouched
    logged = []
    trained = _train_network(net, u, y, cfg.train, 0, lambda step, mse: logged.append((step, mse)), name="t")
    assert [s for s, _ in logged] == [20, 40]  # the total is exactly train.steps
    before, after = _chunk_mse(net, u, y, cfg.train.chunk), _chunk_mse(trained, u, y, cfg.train.chunk)
    assert before > 0.5 and after < 0.6 * before, (before, after)
    assert logged[-1][1] < logged[0][1]


def test_device_network_divergence_names_the_learning_rate():
    from physlearning.experiments.reservoir import _train_network

    _, cfg, net, u, y = _network_setup(20, lr=1e5, kinds=("esn",))
    with pytest.raises(DivergenceError, match=r"training diverged .*lower train\.lr \(= 100000\.0\)"):
        _train_network(net, u, y, cfg.train, 0, name="network[esn]-seed0")


def test_network_run_keeps_one_fit_state_per_model_and_seed(tmp_path):
    exp, cfg, _, _, _ = _network_setup(20)
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    assert summary["status"] == "ok" and np.isfinite(summary["nrmse"])
    assert sorted(p.name for p in (path / "train").glob("*.json")) == ["network_delay+mtj__deep__-seed0.json"]
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if r.get("fit") == "network[delay+mtj (deep)]-seed0"] == [1]
    assert [r["step"] for r in rows if "train_mse" in r] == [20]


# ----------------------------------------------------------------------------- DDPM


def test_ddpm_baseline_learns_a_correlated_gaussian():
    """DDPM (Trainer + DenoisingScoreMatching) on a correlated 2-D Gaussian: the per-epoch loss
    falls, and the samples' mean and covariance move to the data's (from the untrained model's)."""
    from physlearning.baselines import ddpm
    from physlearning.core import Substrate

    rng = np.random.default_rng(0)
    mean, cov = np.array([1.0, -0.5]), np.array([[0.5, 0.3], [0.3, 0.4]])
    x = rng.multivariate_normal(mean, cov, 2048).astype(np.float32)
    model, losses = ddpm.train(x, jax.random.PRNGKey(0), n_steps=40, width=32, train_steps=400, batch_size=256,
                               lr=3e-3)
    assert isinstance(model, Substrate)
    assert len(losses) == math.ceil(400 / (2048 // 256)) and losses[-1] < 0.7 * losses[0]
    fresh = ddpm.Denoiser(2, 32, 2, 40, jax.random.PRNGKey(5))
    err = {}
    for name, m in (("untrained", fresh), ("trained", model)):
        s = np.asarray(ddpm.sample(m, jax.random.PRNGKey(1), 4000, 2))
        err[name] = (np.abs(s.mean(0) - mean).max(), np.abs(np.cov(s.T) - cov).max())
    assert err["trained"][0] < 0.12 and err["trained"][1] < 0.12, err
    assert err["trained"][0] < err["untrained"][0] and err["trained"][1] < err["untrained"][1], err


def test_denoiser_is_a_substrate_and_small_data_clamps_the_batch():
    from physlearning.baselines import ddpm

    m = ddpm.Denoiser(2, 8, 2, 10, jax.random.PRNGKey(0), cond_dim=3)
    got = jax.tree_util.tree_leaves(m.params())
    want = jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_inexact_array))
    assert len(got) == len(want) == 6 and all(a is b for a, b in zip(got, want))
    with pytest.raises(ValueError, match="conditioned"):
        m.predict(jnp.zeros((1, 2)))
    u = ddpm.Denoiser(2, 8, 2, 10, jax.random.PRNGKey(0))  # predict: noise x_T -> sample, as sample() draws it
    k0, k1 = jax.random.split(jax.random.PRNGKey(3))
    np.testing.assert_allclose(u.predict(jax.random.normal(k0, (5, 2)), k1),
                               ddpm.sample(u, jax.random.PRNGKey(3), 5, 2), rtol=1e-6)
    x = np.random.default_rng(0).standard_normal((40, 1)).astype(np.float32)
    c = np.sign(np.random.default_rng(1).standard_normal((40, 2))).astype(np.float32)
    model, losses = ddpm.train(x, jax.random.PRNGKey(0), n_steps=10, width=8, train_steps=5, batch_size=256,
                               cond=c)  # 256 > 40 samples: one full batch a step, 5 epochs
    assert len(losses) == 5 and all(np.isfinite(losses))
    assert np.all(np.isfinite(np.asarray(ddpm.sample(model, jax.random.PRNGKey(1), 40, 1, jnp.asarray(c)))))
