"""The tests the loop decides by, one-sided ("is the new policy worse?"), pure Python:

- latency: the Mann-Whitney U test (rank sums; normal approximation with a tie correction, fine from ~10 samples a
  side), with the ratio of medians as the effect size;
- errors and bad ratings: the two-proportion z-test (pooled variance).

Each returns its figures as a dict, so the events that record a decision carry what it was made on."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Is ``x`` stochastically greater than ``y`` (e.g. the new policy's latencies than the old one's)? ``p`` is the
    one-sided p-value; 1.0 when a side is empty."""
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        return {"test": "mann-whitney-u", "n": [n1, n2], "u": None, "z": None, "p": 1.0}
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2.0 + 1.0  # the mean rank of a run of ties
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, side) in zip(ranks, pooled, strict=True) if side == 0)
    u = r1 - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return {"test": "mann-whitney-u", "n": [n1, n2], "u": u, "z": 0.0, "p": 1.0}
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)  # continuity correction toward the null
    return {"test": "mann-whitney-u", "n": [n1, n2], "u": round(u, 3), "z": round(z, 4), "p": normal_sf(z),
            "median_ratio": _ratio(x, y)}


def two_proportions_greater(k1: int, n1: int, k2: int, n2: int) -> dict[str, Any]:
    """Is the rate ``k1/n1`` greater than ``k2/n2`` (errors, bad ratings)? One-sided p-value; 1.0 when a side is
    empty or no event happened at all."""
    figures: dict[str, Any] = {"test": "two-proportion-z", "k": [k1, k2], "n": [n1, n2]}
    if not n1 or not n2:
        return {**figures, "z": None, "p": 1.0}
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return {**figures, "rates": [p1, p2], "z": 0.0, "p": 1.0}
    z = (p1 - p2) / se
    return {**figures, "rates": [round(p1, 4), round(p2, 4)], "z": round(z, 4), "p": normal_sf(z)}


def _ratio(x: Sequence[float], y: Sequence[float]) -> float | None:
    my = statistics.median(y)
    return None if my <= 0 else round(statistics.median(x) / my, 4)
