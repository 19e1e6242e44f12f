"""Getis-Ord Gi* hotspots with Benjamini–Hochberg, exactly as contract section 14 writes them.

Pure: counts in, statistics out. With n study cells, counts x, mean m and
s = sqrt(sum(x²)/n − m²), for each cell i with W_i weighted cells (itself and its ring-1
neighbours in the area) whose counts sum to S_i:
z_i = (S_i − m·W_i) / (s·sqrt((n·W_i − W_i²)/(n − 1))), and z is 0 where s is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from commission.cells import StudyArea

FDR_Q = 0.05
HotClass = Literal["hot", "cold", "none"]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def gi_star(counts: Ints | Floats, rows: Ints, cols: Ints) -> Floats:
    """z of every cell; (rows, cols) lists each cell's weighted cells, itself included."""
    x = np.asarray(counts, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.zeros(0)
    m = x.mean()
    s = math.sqrt(max(float((x * x).sum()) / n - m * m, 0.0))
    if s == 0 or n < 2:
        return np.zeros(n)
    weights = np.bincount(rows, minlength=n).astype(np.float64)
    sums = np.bincount(rows, weights=x[cols], minlength=n)
    spread = s * np.sqrt((n * weights - weights * weights) / (n - 1))
    # A cell whose neighbourhood is the whole area has nothing to compare with: 0/0, so z is 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (sums - m * weights) / spread, 0.0)
    return np.asarray(z, dtype=np.float64)


def two_sided_p(z: Floats) -> Floats:
    """P(|Z| >= |z|) under the standard normal: erfc(|z|/√2)."""
    return np.array([math.erfc(abs(v) / math.sqrt(2)) for v in z.tolist()], dtype=np.float64)


def benjamini_hochberg(p: Floats, q: float = FDR_Q) -> npt.NDArray[np.bool_]:
    """Which p-values are discoveries at false discovery rate q (the step-up procedure)."""
    n = len(p)
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    passing = np.nonzero(p[order] <= q * np.arange(1, n + 1) / n)[0]
    significant = np.zeros(n, dtype=bool)
    if len(passing):
        significant[order[: passing[-1] + 1]] = True
    return significant


def classify(z: Floats, significant: npt.NDArray[np.bool_]) -> list[HotClass]:
    return ["hot" if sig and v > 0 else "cold" if sig and v < 0 else "none"
            for v, sig in zip(z.tolist(), significant.tolist(), strict=True)]


@dataclass(frozen=True)
class Hotspots:
    """The test over one study area: per cell (in the area's order) its count, z, p and class."""

    area: StudyArea
    counts: Ints
    z: Floats
    p: Floats
    classes: list[HotClass]
    outside: int
    unlocated: int

    @property
    def incidents(self) -> int:
        return int(self.counts.sum())

    @property
    def hot(self) -> npt.NDArray[np.bool_]:
        return np.array([c == "hot" for c in self.classes], dtype=bool)


def hotspots(area: StudyArea, incident_cells: Ints, unlocated: int = 0, q: float = FDR_Q) -> Hotspots:
    """The Gi* test over the incidents' cells (H3 integers at the area's resolution)."""
    counts, outside = area.counts(incident_cells)
    return hotspots_of_counts(area, counts, outside, unlocated, q)


def hotspots_of_counts(area: StudyArea, counts: Ints, outside: int = 0, unlocated: int = 0, q: float = FDR_Q) -> Hotspots:
    rows, cols = area.weights
    z = gi_star(counts, rows, cols)
    p = two_sided_p(z)
    return Hotspots(area, counts, z, p, classify(z, benjamini_hochberg(p, q)), outside, unlocated)
