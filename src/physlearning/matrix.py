"""The substrate x learning-rule gradient matrix.

Each pillar module (``registry.PILLAR_MODULES``) may define ``matrix_rows() -> list[dict]``
with keys ``substrate``, ``rule``, ``cosine``, ``rel_error`` (against the autodiff
reference on a small random float64 instance) and optionally ``note``.
"""

from __future__ import annotations

import jax

from physlearning.runs.registry import pillar_modules


def rows() -> list[dict]:
    jax.config.update("jax_enable_x64", True)
    out: list[dict] = []
    for m in pillar_modules():
        fn = getattr(m, "matrix_rows", None)
        if fn is not None:
            out += [{**r, "cosine": float(r["cosine"]), "rel_error": float(r["rel_error"])} for r in fn()]
    return out


def format_table(rs: list[dict]) -> str:
    head = f"{'substrate':<28} {'rule':<26} {'cosine':>12} {'rel_error':>11}  note"
    lines = [head, "-" * len(head)]
    for r in rs:
        lines.append(
            f"{r['substrate']:<28} {r['rule']:<26} {r['cosine']:>12.9f} {r['rel_error']:>11.3e}  {r.get('note', '')}"
        )
    return "\n".join(lines)
