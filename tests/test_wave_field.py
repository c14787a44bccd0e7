"""WaveField: the continuum (grid) form of the HEB machine, i dPsi/dt = (beta/2) Lap Psi + (chi theta +
g |Psi|^2) Psi, theta' = Omega pi, pi' = -chi |Psi|^2 (substrates/wave_field.py).

References used here, each independent of the module's eigendecomposition and split step:
* the discrete Laplacian written out again from the grid's neighbour list, and its closed-form
  spectrum -(4/h^2) sin^2(k pi / (2(L+1))) (Dirichlet), -(4/h^2) sin^2(pi k / L) (periodic);
* ``scipy.linalg.expm(-i (beta/2) Lap t)``: the exact linear propagator (chi = g = 0), and the
  free drift theta(t) = theta0 + Omega pi0 t;
* the exact plane-wave solution on a periodic grid (chi = 0): Psi(t) = Psi(0) exp(-i w t),
  w = (beta/2) lambda_k + g |A|^2;
* H written by hand from (theta, pi, Psi), with Theta = (theta + i pi)/sqrt(2) converted here;
* classical RK4 of the equations of motion in Psi, theta, pi (by hand, not Theta), dt 50x below the
  smallest fitted step: the reference for the global-order fit;
* time-reversal symmetry (real coefficients): evolve, conj, evolve, conj is the identity;
* gradients: BPTT (``jax.grad`` through ``predict``) and central finite differences in Re and Im of
  each site of theta0, against the centred Hamiltonian echo of rules/echo.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from physlearning.rules.autodiff import Autodiff
from physlearning.rules.echo import HamiltonianEcho, ModulusSquaredError, _cost_grad, echo_gradient
from physlearning.substrates.wave_field import WaveField
from test_echo import _cost_of_theta  # C(theta0) = |psi_out - target|^2 through predict


def _slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _lap_by_hand(shape, h, boundary):
    """(Lap f)_x = sum over the 2 dim neighbours (f_y - f_x) / h^2, ghost sites 0 (Dirichlet) or wrapped."""
    coords = list(np.ndindex(*shape))
    index = {c: i for i, c in enumerate(coords)}
    m = np.zeros((len(coords), len(coords)))
    for c in coords:
        i = index[c]
        for ax in range(len(shape)):
            for step in (-1, 1):
                nb = list(c)
                nb[ax] += step
                m[i, i] -= 1.0 / h**2
                if 0 <= nb[ax] < shape[ax]:
                    m[i, index[tuple(nb)]] += 1.0 / h**2
                elif boundary == "periodic":
                    nb[ax] %= shape[ax]
                    m[i, index[tuple(nb)]] += 1.0 / h**2
    return m


def _cplx(rng, size, scale=0.5):
    return scale * (rng.normal(size=size) + 1j * rng.normal(size=size))


def _random_fields(rng, shape, scale=0.5):
    return scale * rng.normal(size=shape), scale * rng.normal(size=shape), _cplx(rng, shape, scale)


def _model(shape=(3, 4), boundary="dirichlet", **kw):
    args = {"h": 0.8, "beta": -1.0, "chi": 0.7, "g": 0.9, "Omega": 1.3, "dt": 0.05, "boundary": boundary}
    args.update(kw)
    return WaveField(shape, len(shape), **args)


def _h_by_hand(beta, chi, g, omega, lap, theta, pi, psi):
    p, q, r = psi.ravel(), theta.ravel(), pi.ravel()
    n = np.abs(p) ** 2
    return float(np.real(0.5 * beta * np.conj(p) @ lap @ p) + chi * q @ n + 0.5 * g * n @ n + 0.5 * omega * r @ r)


@pytest.mark.parametrize(("shape", "boundary"), [((5,), "dirichlet"), ((6,), "periodic"),
                                                 ((3, 4), "dirichlet"), ((4, 3), "periodic")])
def test_laplacian_by_hand_and_its_closed_form_spectrum(shape, boundary):
    h = 0.7
    model = WaveField(shape, len(shape), h=h, boundary=boundary)
    lap = _lap_by_hand(shape, h, boundary)
    np.testing.assert_allclose(model.laplacian(), lap, atol=1e-14)
    per_axis = []
    for n in shape:
        k = np.arange(1, n + 1) if boundary == "dirichlet" else np.arange(n)
        arg = k * np.pi / (2 * (n + 1)) if boundary == "dirichlet" else np.pi * k / n
        per_axis.append(-(4 / h**2) * np.sin(arg) ** 2)
    want = np.sort(np.add.outer(*per_axis).ravel() if len(shape) == 2 else per_axis[0])
    np.testing.assert_allclose(np.linalg.eigvalsh(lap), want, atol=1e-12)


@pytest.mark.parametrize(("shape", "boundary"), [((6,), "dirichlet"), ((3, 4), "periodic")])
def test_echo_returns_the_initial_state(x64, shape, boundary):
    """Time-reversal symmetry (H real, conj-invariant): forward n, conj, forward n, conj = identity."""
    model = _model(shape, boundary, g=1.4)
    x0 = model.from_fields(*_random_fields(np.random.default_rng(0), shape, 0.6))
    n = 200
    fwd = jax.jit(lambda s: model.evolve(s, n))
    x1 = fwd(x0)
    assert float(jnp.max(jnp.abs(model.split(x1)[1] - model.split(x0)[1]))) > 1e-1  # the signal moved
    back = model.time_reverse(fwd(model.time_reverse(x1)))
    assert float(jnp.max(jnp.abs(back - x0))) <= 1e-10
    # conj is the inverse of one step as well
    one = model.time_reverse(model.evolve(model.time_reverse(model.evolve(x0, 1)), 1))
    assert float(jnp.max(jnp.abs(one - x0))) <= 1e-14


def test_norm_is_conserved_and_energy_matches_the_hand_written_hamiltonian(x64):
    model = _model((3, 4), "periodic", g=2.0)
    theta, pi, psi = _random_fields(np.random.default_rng(2), (3, 4), 0.7)
    x0 = model.from_fields(theta, pi, psi)
    lap = _lap_by_hand((3, 4), model.h, "periodic")
    want = _h_by_hand(model.beta, model.chi, model.g, model.Omega, lap, theta, pi, psi)
    assert abs(float(model.energy(x0)) - want) <= 1e-12 * abs(want)
    x1 = model.evolve(x0, 500)
    assert abs(float(model.norm(x1) - model.norm(x0))) <= 1e-12 * float(model.norm(x0))
    assert float(model.norm(x0)) == pytest.approx(float(np.sum(np.abs(psi) ** 2)), rel=1e-14)


@pytest.mark.parametrize(("shape", "boundary"), [((7,), "dirichlet"), ((3, 4), "periodic")])
def test_linear_limit_is_expm_and_a_free_drift(x64, shape, boundary):
    """chi = g = 0: Psi(t) = expm(-i (beta/2) Lap t) Psi(0) (Lap by hand), theta = theta0 + Omega pi0 t."""
    model = _model(shape, boundary, chi=0.0, g=0.0, dt=0.07, beta=-1.7)
    theta, pi, psi = _random_fields(np.random.default_rng(3), shape)
    n = 57
    t = n * model.dt
    q, p, out = (np.asarray(f) for f in model.fields(model.evolve(model.from_fields(theta, pi, psi), n)))
    lap = _lap_by_hand(shape, model.h, boundary)
    exact = scipy.linalg.expm(-0.5j * model.beta * lap * t) @ psi.ravel()
    assert np.max(np.abs(out.ravel() - exact)) <= 1e-10
    np.testing.assert_allclose(p, pi, atol=1e-14)
    np.testing.assert_allclose(q, theta + model.Omega * pi * t, atol=1e-12)


def test_plane_wave_is_the_exact_nonlinear_solution(x64):
    """Periodic grid, chi = 0: Psi = A exp(i k.x) stays a plane wave, Psi(t) = Psi(0) exp(-i w t) with
    w = (beta/2) lambda_k + g |A|^2, lambda_k = -(4/h^2) sum_a sin^2(k_a h / 2)."""
    shape, h = (4, 6), 0.5
    model = _model(shape, "periodic", h=h, chi=0.0, g=1.7, beta=-0.9, dt=0.09)
    k = (2 * np.pi * 1 / (4 * h), 2 * np.pi * 2 / (6 * h))
    xs = np.meshgrid(np.arange(4) * h, np.arange(6) * h, indexing="ij")
    amp = 0.8 * np.exp(0.3j)
    psi = amp * np.exp(1j * (k[0] * xs[0] + k[1] * xs[1]))
    lam = -(4 / h**2) * (np.sin(k[0] * h / 2) ** 2 + np.sin(k[1] * h / 2) ** 2)
    w = 0.5 * model.beta * lam + model.g * abs(amp) ** 2
    n = 40
    out = np.asarray(model.fields(model.evolve(model.from_fields(np.zeros(shape), np.zeros(shape), psi), n))[2])
    np.testing.assert_allclose(out, psi * np.exp(-1j * w * n * model.dt), atol=1e-12)


def _rk4(lap, beta, chi, g, omega, theta, pi, psi, t, n):
    """Classical RK4 on dPsi/dt = -i((beta/2) Lap Psi + (chi theta + g|Psi|^2) Psi), theta' = Omega pi,
    pi' = -chi |Psi|^2 (flat fields), n steps to time t."""
    h = t / n

    def f(y):
        q, p, s = y
        n2 = np.abs(s) ** 2
        return omega * p, -chi * n2, -1j * (0.5 * beta * lap @ s + (chi * q + g * n2) * s)

    y = (theta.ravel(), pi.ravel(), psi.ravel())
    for _ in range(n):
        k1 = f(y)
        k2 = f(tuple(a + 0.5 * h * b for a, b in zip(y, k1, strict=True)))
        k3 = f(tuple(a + 0.5 * h * b for a, b in zip(y, k2, strict=True)))
        k4 = f(tuple(a + h * b for a, b in zip(y, k3, strict=True)))
        y = tuple(a + h / 6 * (b1 + 2 * b2 + 2 * b3 + b4) for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4, strict=True))
    return y


def test_declared_order_is_fitted(x64):
    """Global error at T = 2 vs RK4 of (Psi, theta, pi) (dt = T/4000), and max |H(t) - H(0)|: both ~ dt^2."""
    shape, T = (3, 4), 2.0
    base = _model(shape, "dirichlet", g=1.5)
    theta, pi, psi = _random_fields(np.random.default_rng(5), shape, 0.6)
    lap = _lap_by_hand(shape, base.h, "dirichlet")
    ref = np.concatenate(_rk4(lap, base.beta, base.chi, base.g, base.Omega, theta, pi, psi, T, 4000))
    dts, errs, drifts = [], [], []
    for n in (10, 20, 40, 80):
        model = _model(shape, "dirichlet", g=1.5, dt=T / n)
        x0 = model.from_fields(theta, pi, psi)
        xs = jax.lax.scan(lambda x, _: (model.evolve(x, 1),) * 2, x0, None, length=n)[1]
        h = jax.vmap(model.energy)(xs)
        got = np.concatenate([np.ravel(f) for f in model.fields(xs[-1])])
        dts.append(T / n)
        errs.append(float(np.max(np.abs(got - ref))))
        drifts.append(float(jnp.max(jnp.abs(h - model.energy(x0)))))
    assert abs(_slope(dts, errs) - WaveField.order) <= 0.2, (dts, errs)
    assert abs(_slope(dts, drifts) - WaveField.order) <= 0.2, (dts, drifts)


def test_step_injects_at_the_input_sites_and_predict_observes_the_outputs(x64):
    model = _model((3, 4), "dirichlet", n_steps=7, inputs=(0, 5, 11), outputs=(2, 9))
    drive = jnp.array([0.3, -0.2j, 0.1 + 0.4j])
    a = model.step(model.init_state(), drive, None)
    field = np.zeros(12, complex)
    field[[0, 5, 11]] = np.asarray(drive)
    b = model.evolve(model.join(model.theta0, field), 7)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-14)
    np.testing.assert_allclose(np.asarray(model.init_state(drive)), np.asarray(model.join(model.theta0, field)))
    theta, psi = model.split(a)
    assert theta.shape == (3, 4) and psi.shape == (12,)
    np.testing.assert_allclose(np.asarray(model.join(theta, psi)), np.asarray(a))
    np.testing.assert_allclose(np.asarray(model.observe(a)), np.asarray(psi)[[2, 9]])
    q, p, s = model.fields(a)
    np.testing.assert_allclose(np.asarray(model.from_fields(q, p, s)), np.asarray(a), atol=1e-15)
    np.testing.assert_allclose(np.asarray(q + 1j * p) / np.sqrt(2), np.asarray(theta), atol=1e-15)
    x = jnp.stack([drive, 2 * drive])[:, None, :]  # (B, T=1, n_inputs)
    y = model.predict(x)
    assert y.shape == (2, 1, 2)
    np.testing.assert_allclose(np.asarray(y[0, 0]), np.asarray(model.observe(a)), atol=1e-14)
    assert model.param_filter().theta0 is True
    assert jnp.conj(model.time_reverse(a)) is not None and np.allclose(model.time_reverse(a), np.conj(a))


def _echo_setup():
    """1D Dirichlet line of 6 sites, inputs at one end, outputs at the other, chi and g nonzero, T = 3."""
    rng = np.random.default_rng(3)
    theta0 = _cplx(rng, (6,))
    lat = WaveField(6, 1, h=0.9, beta=-1.0, chi=0.8, g=0.6, Omega=1.2, dt=0.05, n_steps=60,
                    inputs=(0, 1), outputs=(4, 5), theta0=theta0)
    return lat, jnp.asarray(_cplx(rng, 2, 0.8)), jnp.asarray(_cplx(rng, 2))


def _rel(a, b):
    return float(jnp.linalg.norm((a - b).ravel()) / jnp.linalg.norm(b.ravel()))


def test_centred_echo_matches_bptt_and_finite_differences(x64):
    lat, psi_in, target = _echo_setup()

    def by_hand(psi, tgt):  # dC/dPsi* of C = sum_outputs |Psi - target|^2, 0 away from the outputs
        return jnp.zeros_like(psi).at[jnp.array([4, 5])].set(psi[jnp.array([4, 5])] - tgt)

    lifted = lat.lift_cost_grad(_cost_grad(ModulusSquaredError()))
    psi_probe = jnp.asarray(_cplx(np.random.default_rng(9), 6))
    np.testing.assert_allclose(np.asarray(lifted(psi_probe, target)), np.asarray(by_hand(psi_probe, target)),
                               atol=1e-15)

    # the echo rules lift the output-site error dC/dpsi_out* = psi_out - target onto the field themselves
    g, count = jax.jit(lambda: echo_gradient(lat, psi_in, target, lambda p, tgt: p - tgt, 1e-4))()
    assert count == 3 and g.shape == (6,) and jnp.iscomplexobj(g)
    c = _cost_of_theta(lat, psi_in, target)
    bptt = jnp.conj(jax.grad(c)(lat.theta0))  # jax.grad gives dC/dRe - i dC/dIm
    assert float(jnp.linalg.norm(bptt)) > 1e-1  # a nontrivial gradient
    assert float(jnp.min(jnp.abs(bptt))) > 1e-4  # every site feels the output (signal crossed the line)
    assert _rel(g, bptt) <= 1e-6

    cj, h = jax.jit(c), 1e-5
    t0 = np.asarray(lat.theta0)
    fd = np.zeros(t0.shape, complex)
    for idx in np.ndindex(t0.shape):
        for unit in (1.0, 1j):
            e = np.zeros(t0.shape, complex)
            e[idx] = h * unit
            fd[idx] += unit * float(cj(jnp.asarray(t0 + e)) - cj(jnp.asarray(t0 - e))) / (2 * h)
    assert _rel(g, jnp.asarray(fd)) <= 1e-6
    g_cost, _ = echo_gradient(lat, psi_in, target, _cost_grad(ModulusSquaredError()), 1e-4)
    assert _rel(g_cost, g) <= 1e-9  # the same error signal from the cost's Wirtinger gradient


@pytest.mark.parametrize("outputs", [None, (2, 7)])
def test_hamiltonian_echo_rule_runs_and_matches_autodiff(x64, outputs):
    """Reference: the Autodiff rule through ``predict`` (which observes the output sites); every site
    read out, or two chosen output sites (the rule lifts the output error onto the field)."""
    rng = np.random.default_rng(7)
    lat = _model((3, 3), "periodic", n_steps=40, inputs=(0, 4), outputs=outputs, theta0=_cplx(rng, (3, 3)))
    x = jnp.asarray(_cplx(rng, (2, 1, 2), 0.8))
    t = jnp.asarray(_cplx(rng, (2, 1, 9 if outputs is None else len(outputs))))
    cost = ModulusSquaredError()
    grads, aux = jax.jit(lambda: HamiltonianEcho(eta=1e-4).estimate(lat, (x, t), cost, None))()
    ref, ref_aux = Autodiff().estimate(lat, (x, t), cost, None)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(ref)
    assert float(jnp.linalg.norm(ref.theta0)) > 1e-2
    assert _rel(grads.theta0, ref.theta0) <= 1e-6
    assert float(aux["loss"]) == pytest.approx(float(ref_aux["loss"]), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"L": 1}, "L=1"),
        ({"L": (3, 1), "dim": 2}, r"L=\(3, 1\)"),
        ({"L": 2.5}, "L=2.5"),
        ({"dim": 3}, "dim=3"),
        ({"dt": 0.0}, "dt=0.0"),
        ({"dt": -1.0}, "dt=-1.0"),
        ({"h": 0.0}, "h=0.0"),
        ({"beta": float("nan")}, "beta=nan"),
        ({"g": float("inf")}, "g=inf"),
        ({"chi": "x"}, "chi='x'"),
        ({"boundary": "open"}, "boundary='open'"),
        ({"n_steps": 0}, "n_steps=0"),
        ({"theta0": np.array([0, np.nan, 0, 0])}, "theta0=.*must be finite"),
        ({"theta0": np.zeros(3)}, "theta0 has shape"),
        ({"inputs": (0, 4)}, r"inputs=\(0, 4\)"),
        ({"inputs": (1, 1)}, r"inputs=\(1, 1\)"),
        ({"outputs": (-1,)}, r"outputs=\(-1,\)"),
    ],
)
def test_bad_constructor_values_are_named(kwargs, match):
    args = {"L": 4, "dim": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        WaveField(args.pop("L"), args.pop("dim"), **args)


def test_bad_inputs_are_named():
    model = WaveField(4, 1, inputs=(0, 1))
    with pytest.raises(ValueError, match=r"psi has shape \(3,\)"):
        model.init_state(jnp.zeros(3))
    with pytest.raises(ValueError, match="must be finite"):
        model.init_state(jnp.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"drive has shape \(4,\)"):
        model.step(model.init_state(), jnp.zeros(4), None)
    with pytest.raises(ValueError, match="n=-1"):
        model.evolve(model.init_state(), -1)
