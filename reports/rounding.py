"""Rounding for display: 四舍五入 (half up) on the decimal the number prints as."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def half_up(value: float, places: int = 1, *, scale: int = 1) -> str:
    """``value x scale`` rounded half up: 77.25 -> "77.3" (Python's round gives 77.2).

    The float is first taken to 9 decimals: 0.3 x 90 + 0.7 x 82.5 comes out as
    84.74999999999999, which is 84.75 and shows as 84.8."""
    exact = Decimal(repr(round(float(value), 9))) * scale
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
