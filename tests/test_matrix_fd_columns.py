"""The finite-difference column of `physlearning matrix` for the pillar rows outside the registry:
the Langevin computer's trajectory rule (central differences of the Euler-Maruyama path
log-likelihood over every parameter, paths fixed) and the reservoir networks' readout delta rule
(central differences of the loss over the readout weights). The reference shares no code with the
rule: no autodiff, no delta rule, only loss evaluations (float64)."""

from __future__ import annotations

from physlearning.experiments import reservoir, thermo


def test_langevin_rows_agree_with_central_differences(x64):
    rows = thermo.matrix_rows()
    assert len(rows) == 3
    for r in rows:  # FD step 1e-6: truncation ~1e-12, roundoff ~1e-16 |ln P| / 1e-6
        assert r["fd_cosine"] > 1 - 1e-12 and r["fd_rel_error"] < 1e-6, r


def test_reservoir_delta_rule_rows_agree_with_central_differences(x64):
    rows = [r for r in reservoir.matrix_rows(("esn", "delay")) if r["rule"] == "readout delta rule"]
    assert len(rows) == 2
    for r in rows:
        assert r["fd_cosine"] > 1 - 1e-12 and r["fd_rel_error"] < 1e-7, r
