"""The substrate x learning-rule gradient matrix (``physlearning matrix``).

Rows come from two places: the registry-driven checks (:mod:`physlearning.checks`: every registered
substrate's check case x every rule of its family, with a finite-difference column at equilibria
found by an independent method) and the pillar modules' ``matrix_rows()`` (substrates not yet in
the registry). Keys: ``substrate``, ``rule``, ``cosine``, ``rel_error`` (against the substrate's
reference rule), ``fd_cosine``, ``fd_rel_error`` (against central finite differences; None where a
pillar row has none) and optionally ``note``. float64 is on only while the rows are computed.
"""

from __future__ import annotations

import jax

from physlearning.checks import check_rows
from physlearning.runs.registry import pillar_modules


def rows() -> list[dict]:
    out = [{**r, "note": "" if r["exact"] else "not an exact-gradient rule"} for r in check_rows()]
    with jax.enable_x64(True):
        for m in pillar_modules():
            fn = getattr(m, "matrix_rows", None)
            if fn is not None:
                out += [{"fd_cosine": None, "fd_rel_error": None, **r, "cosine": float(r["cosine"]),
                         "rel_error": float(r["rel_error"])} for r in fn()]
    return out


def _num(v, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, float) else "-"


def format_table(rs: list[dict]) -> str:
    head = (f"{'substrate':<28} {'rule':<26} {'cosine':>12} {'rel_error':>10} {'fd_cosine':>12} "
            f"{'fd_rel_err':>10}  note")
    lines = [head, "-" * len(head)]
    for r in rs:
        lines.append(f"{r['substrate']:<28} {r['rule']:<26} {r['cosine']:>12.9f} {r['rel_error']:>10.2e} "
                     f"{_num(r.get('fd_cosine'), '12.9f'):>12} {_num(r.get('fd_rel_error'), '10.2e'):>10}  "
                     f"{r.get('note', '')}")
    return "\n".join(lines)
