"""The original Mann–Kendall trend test on weekly counts (contract section 14), and ISO weeks.

Pure. For a series x of n weeks: S = Σ_{i<j} sign(x_j − x_i); its variance corrected for ties,
Var(S) = [n(n−1)(2n+5) − Σ_t t(t−1)(2t+5)] / 18 over the groups of t equal values; the normal
approximation with continuity correction Z = (S − sign(S)) / sqrt(Var(S)); p two-sided;
tau = S / (n(n−1)/2).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from commission.cells import StudyArea
from commission.hotspots import hotspots

ALPHA = 0.05
MIN_INCIDENTS = 10
WEEK = timedelta(days=7)
Trend = Literal["increasing", "decreasing", "none"]


def mann_kendall(series: npt.ArrayLike) -> tuple[int, float, float, float]:
    """(S, Var(S), tau, p) of one series; see the module."""
    s, var, tau, p = mann_kendall_rows(np.atleast_2d(np.asarray(series, dtype=np.float64)))
    return int(s[0]), float(var[0]), float(tau[0]), float(p[0])


def mann_kendall_rows(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                                                            npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The test on every row of x (cells × weeks) at once."""
    rows, n = x.shape
    if n < 2:
        return np.zeros(rows, np.int64), np.zeros(rows), np.zeros(rows), np.ones(rows)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    signs = np.sign(x[:, None, :] - x[:, :, None])  # [r, i, j] = sign(x_j − x_i)
    s = signs[:, upper].sum(axis=1).astype(np.int64)
    # Each value in a group of t equal values contributes (t−1)(2t+5): t of them make t(t−1)(2t+5).
    tied = (x[:, :, None] == x[:, None, :]).sum(axis=2)
    ties = ((tied - 1) * (2 * tied + 5)).sum(axis=1)
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    p = np.array([math.erfc(abs(v) / math.sqrt(2)) for v in z.tolist()], dtype=np.float64)
    tau = s / (n * (n - 1) / 2)
    return s, var, tau, p


def trend_of(s: int, p: float, alpha: float = ALPHA) -> Trend:
    if p < alpha and s > 0:
        return "increasing"
    if p < alpha and s < 0:
        return "decreasing"
    return "none"


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week that holds `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def complete_weeks(weeks: int, to: datetime) -> tuple[datetime, datetime]:
    """[from, end): the `weeks` complete ISO weeks (UTC) that end at or before `to`."""
    end = week_start(to)
    return end - weeks * WEEK, end


def iso_week(moment: datetime) -> str:
    """"2026-W48": the ISO week of `moment` in UTC."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_numbers(moments: npt.NDArray[np.datetime64], start: datetime) -> npt.NDArray[np.int64]:
    """Whole weeks since `start` (a Monday 00:00 UTC) of each moment (UTC datetime64)."""
    origin = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    return ((moments.astype("datetime64[us]") - origin) // np.timedelta64(7, "D")).astype(np.int64)


class CellTrend(BaseModel):
    cell: str
    incidents: int
    tau: float
    p: float
    trend: Trend
    hot: bool


def cell_trends(area: StudyArea, incident_cells: npt.NDArray[np.int64], week_of: npt.NDArray[np.int64],
                weeks: int, min_incidents: int = MIN_INCIDENTS) -> list[CellTrend]:
    """Mann–Kendall per study cell with at least `min_incidents` in the weeks (week_of: 0..weeks−1)."""
    at = area.index(incident_cells)
    kept = (at >= 0) & (week_of >= 0) & (week_of < weeks)
    series = np.bincount(at[kept] * weeks + week_of[kept], minlength=area.n * weeks).reshape(area.n, weeks)
    totals = series.sum(axis=1)
    chosen = np.nonzero(totals >= min_incidents)[0]
    if len(chosen) == 0:
        return []
    hot = hotspots(area, incident_cells[kept]).hot
    s, _, tau, p = mann_kendall_rows(series[chosen].astype(np.float64))
    names = area.names()
    return [
        CellTrend(cell=names[i], incidents=int(totals[i]), tau=float(tau[k]), p=float(p[k]),
                  trend=trend_of(int(s[k]), float(p[k])), hot=bool(hot[i]))
        for k, i in enumerate(chosen.tolist())
    ]
