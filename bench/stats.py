"""The bench's one percentile helper."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentiles(
    values: Sequence[float], qs: tuple[int, ...] = (50, 95, 99), digits: int = 1, suffix: str = ""
) -> dict[str, float | None]:
    """``{"p50<suffix>": ..., ...}`` of ``values`` (None for each when there are none)."""
    if not len(values):
        return {f"p{q}{suffix}": None for q in qs}
    return {f"p{q}{suffix}": round(float(np.percentile(values, q)), digits) for q in qs}
