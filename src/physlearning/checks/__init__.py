"""Gradient checks declared once: each registered substrate's ``check_case`` against every rule of its
family, used by the tests and by ``physlearning matrix`` (float64, scoped)."""

from physlearning.checks.matrix import check_rows, independent_predict

__all__ = ["check_rows", "independent_predict"]
