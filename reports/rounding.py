"""Rounding for display: 四舍五入 (half up) on the decimal the number prints as."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def half_up(value: float, places: int = 1, *, scale: int = 1) -> str:
    """``value x scale`` rounded half up: 77.25 -> "77.3" (Python's round gives 77.2)."""
    exact = Decimal(repr(float(value))) * scale
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
