"""KerrLattice (the HEB wave substrate of Lopez-Pastor & Marquardt, PRX 13, 031020 (2023)).

References used here, each independent of the substrate's eigendecomposition and split step:
* the quadratic form M written out again below from the Hamiltonian (loops over lattice bonds);
* ``scipy.linalg.expm(-i M t)``: the exact linear propagator (g = 0);
* classical RK4 on ``i dPhi/dt = M Phi + g |Phi|^2 Phi`` (the equations of motion dH/dPhi*, written
  by hand), with a step 50x below the smallest fitted dt: the reference for the global-order fit;
* time-reversal symmetry of a Hamiltonian with real coefficients: conj maps the flow to its
  inverse, so evolve -> conj -> evolve -> conj is the identity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from physlearning.substrates.wave_lattice import KerrLattice


def _slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _m_by_hand(L, dim, J, kappa, detuning, omega, ports):
    """M of H = Phi^dag M Phi + (g/2) sum |Phi|^4, from the bond list (independent of the module)."""
    coords = [(i,) for i in range(L)] if dim == 1 else [(i, j) for i in range(L) for j in range(L)]
    n, p = len(coords), len(ports)
    m = np.zeros((n + p, n + p))
    for a, ca in enumerate(coords):
        for b, cb in enumerate(coords):
            if sum(abs(x - y) for x, y in zip(ca, cb, strict=True)) == 1:
                m[a, b] = J  # 2J Re(theta_a* theta_b) per bond = J (a*b + b*a)
        m[a, a] = np.ravel(detuning)[a]
    for k, site in enumerate(ports):
        m[n + k, site] = m[site, n + k] = kappa
        m[n + k, n + k] = omega[k]
    return m


def _random_state(rng, size, scale=0.5):
    return scale * (rng.normal(size=size) + 1j * rng.normal(size=size))


def _model(dim=2, L=3, g=0.7, dt=0.05, **kw):
    rng = np.random.default_rng(1)
    shape = (L,) * dim
    n_ports = 4 if dim == 2 else 2
    kw.setdefault("detuning", 0.3 * rng.normal(size=shape))
    kw.setdefault("omega", 0.5 * rng.normal(size=n_ports))
    return KerrLattice(L, dim, J=1.0, g=g, kappa=0.6, dt=dt, **kw)


@pytest.mark.parametrize("dim", [1, 2])
def test_echo_returns_the_initial_state(x64, dim):
    """Time-reversal symmetry (H has real coefficients): forward n, conj, forward n, conj = identity."""
    model = _model(dim=dim, L=4, g=1.3)
    x0 = jnp.asarray(_random_state(np.random.default_rng(0), model.n_sites + model.n_ports))
    n = 200
    fwd = jax.jit(lambda s: model.evolve(s, n))
    x1 = fwd(x0)
    assert float(jnp.max(jnp.abs(x1 - x0))) > 1e-2  # it did move
    back = model.time_reverse(fwd(model.time_reverse(x1)))
    assert float(jnp.max(jnp.abs(back - x0))) <= 1e-10


def test_norm_is_conserved(x64):
    """Each split substep is unitary (linear) or a pointwise phase (Kerr): sum |Phi|^2 is constant."""
    model = _model(dim=2, L=4, g=2.0)
    x0 = jnp.asarray(_random_state(np.random.default_rng(2), model.n_sites + model.n_ports))
    x1 = model.evolve(x0, 500)
    assert abs(float(model.norm(x1) - model.norm(x0))) <= 1e-12 * float(model.norm(x0))


def test_linear_limit_is_the_exact_propagator(x64):
    """g = 0: evolution equals scipy expm(-i M n dt), M written by hand from H."""
    model = _model(dim=2, L=3, g=0.0, dt=0.07)
    m = _m_by_hand(3, 2, 1.0, 0.6, model.detuning, model.omega, model.ports)
    np.testing.assert_allclose(model.linear_matrix(), m, atol=0)
    x0 = _random_state(np.random.default_rng(3), m.shape[0])
    n = 57
    exact = scipy.linalg.expm(-1j * m * model.dt * n) @ x0
    got = np.asarray(model.evolve(jnp.asarray(x0), n))
    assert np.max(np.abs(got - exact)) <= 1e-10


def test_energy_matches_the_hamiltonian_by_hand(x64):
    model = _model(dim=1, L=5, g=0.9)
    m = _m_by_hand(5, 1, 1.0, 0.6, model.detuning, model.omega, model.ports)
    x = _random_state(np.random.default_rng(4), m.shape[0])
    want = np.real(np.conj(x) @ m @ x) + 0.45 * np.sum(np.abs(x) ** 4)
    assert abs(float(model.energy(jnp.asarray(x))) - want) <= 1e-12 * abs(want)


def _rk4(m, g, x, t, n):
    """Classical RK4 on i dPhi/dt = M Phi + g |Phi|^2 Phi (dH/dPhi*), n steps to time t."""
    h = t / n

    def f(y):
        return -1j * (m @ y + g * np.abs(y) ** 2 * y)

    for _ in range(n):
        k1 = f(x)
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def test_declared_order_is_fitted(x64):
    """Global error at T = 2 vs an RK4 reference (dt = T/4000), and max |H(t) - H(0)|: both ~ dt^2."""
    g, T = 1.5, 2.0
    base = _model(dim=2, L=3, g=g)
    m = _m_by_hand(3, 2, 1.0, 0.6, base.detuning, base.omega, base.ports)
    x0 = _random_state(np.random.default_rng(5), m.shape[0], scale=0.6)
    ref = _rk4(m, g, x0, T, 4000)
    dts, errs, drifts = [], [], []
    for n in (10, 20, 40, 80):
        model = _model(dim=2, L=3, g=g, dt=T / n)
        xs = jax.lax.scan(lambda x, _: (model.evolve(x, 1),) * 2, jnp.asarray(x0), None, length=n)[1]
        h = jax.vmap(model.energy)(xs)
        dts.append(T / n)
        errs.append(float(np.max(np.abs(np.asarray(xs[-1]) - ref))))
        drifts.append(float(jnp.max(jnp.abs(h - model.energy(jnp.asarray(x0))))))
    assert abs(_slope(dts, errs) - KerrLattice.order) <= 0.3, (dts, errs)
    assert abs(_slope(dts, drifts) - KerrLattice.order) <= 0.3, (dts, drifts)


def test_step_injects_the_drive_and_predict_vmaps(x64):
    model = _model(dim=2, L=3, g=0.5, n_steps=7)
    psi = jnp.array([0.3, -0.2j, 0.1, 0.4 + 0.1j])
    s0 = model.init_state()
    a = model.step(s0, psi, None)
    b = model.evolve(model.init_state(psi), 7)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-14)
    theta, out = model.split(a)
    assert theta.shape == (3, 3) and out.shape == (4,)
    np.testing.assert_allclose(np.asarray(model.join(theta, out)), np.asarray(a))
    x = jnp.stack([psi, 2 * psi])[:, None, :]  # (B, T=1, n_ports)
    y = model.predict(x)
    assert y.shape == (2, 1, 4)
    np.testing.assert_allclose(np.asarray(y[0, 0]), np.asarray(model.observe(a)), atol=1e-14)
    flags = model.param_filter()
    assert flags.theta0 is True and flags.detuning is False


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"L": 1}, "L=1"),
        ({"L": 2.5}, "L=2.5"),
        ({"dim": 3}, "dim=3"),
        ({"dt": 0.0}, "dt=0.0"),
        ({"dt": -1.0}, "dt=-1.0"),
        ({"g": float("nan")}, "g=nan"),
        ({"J": float("inf")}, "J=inf"),
        ({"kappa": "x"}, "kappa='x'"),
        ({"n_steps": 0}, "n_steps=0"),
        ({"ports": (0, 0)}, "ports=\\(0, 0\\)"),
        ({"ports": (0, 99)}, "ports=\\(0, 99\\)"),
        ({"detuning": np.zeros(3)}, "detuning has shape"),
        ({"omega": np.zeros(2)}, "omega has shape"),
        ({"theta0": np.zeros((2, 2))}, "theta0 has shape"),
    ],
)
def test_bad_constructor_values_are_named(kwargs, match):
    args = {"L": 3, "dim": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        KerrLattice(args.pop("L"), args.pop("dim"), **args)


def test_bad_drive_and_n_are_named():
    model = KerrLattice(3, 1)
    with pytest.raises(ValueError, match="drive has shape"):
        model.step(model.init_state(), jnp.zeros(3), None)
    with pytest.raises(ValueError, match="n=-1"):
        model.evolve(model.init_state(), -1)


def test_non_finite_input_and_too_large_time_step_are_named():
    """Bad input before any evolution: non-finite amplitudes, and a time step beyond the split step's
    accuracy limit dt^2 |M| |g| n_max <= 1 (the reference XOR set-up sits at 0.08-0.10)."""
    from physlearning.substrates.wave_lattice import check_time_step

    lat = KerrLattice(4, 2, J=10.0, g=-2.0, kappa=0.3, dt=0.04, n_steps=500)
    with pytest.raises(ValueError, match="must be finite"):
        lat.init_state(jnp.asarray([np.nan, 0.0, 0.0, 0.0]))
    check_time_step(lat, 1.0)  # the reference set-up passes
    assert 0.05 < lat.split_error_scale(1.0) < 0.15
    coarse = KerrLattice(4, 2, J=10.0, g=-2.0, kappa=0.3, dt=0.4, n_steps=50)
    with pytest.raises(ValueError, match=r"dt = 0.4: beyond the split step's accuracy limit.*allowed dt <= 0.12"):
        check_time_step(coarse, 1.0)
