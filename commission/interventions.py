"""Did an intervention work? Treated against comparison zones, before against after (contract section 14).

The settings are the `interventions:` section of the configuration; the comparison is pure:
rate_ratio = (Ta/Tb)/(Ca/Cb), its 95 % interval exp(ln RR ± 1.96·sqrt(1/Ta + 1/Tb + 1/Ca + 1/Cb)),
and p two-sided from the same normal approximation of ln RR.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from vocabulary.events import Category, Id

Z95 = 1.96
DEFAULT_CATEGORIES: tuple[Category, ...] = ("panic", "duress", "intrusion", "medical", "fire")


class Intervention(BaseModel):
    """One change a commission made and wants evaluated: lighting, patrols, a recovered plaza."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    name: str = Field("", description="what was done, for the report")
    start: date = Field(description="the day it started (YYYY-MM-DD); periods are counted from 00:00 UTC")
    zones: list[Id] = Field(min_length=1, description="the zones it was applied to (treated); all others compare")
    categories: list[Category] = Field(list(DEFAULT_CATEGORIES), min_length=1,
                                       description="the incidents it was meant to prevent")

    def periods(self, weeks: int) -> tuple[datetime, datetime, datetime]:
        """(before from, start, after to): `weeks` weeks on each side of start at 00:00 UTC."""
        start = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        span = timedelta(weeks=weeks)
        return start - span, start, start + span


class Counts(BaseModel):
    before: int
    after: int


class Comparison(BaseModel):
    treated: Counts
    comparison: Counts
    rate_ratio: float | None
    ci95: list[float] | None
    p: float | None
    reason: str | None = None


def compare(treated: Counts, comparison: Counts) -> Comparison:
    zero = [name for name, value in (("treated before", treated.before), ("treated after", treated.after),
                                     ("comparison before", comparison.before),
                                     ("comparison after", comparison.after)) if value == 0]
    if zero:
        reason = f"no incidents in {', '.join(zero)}: the rate ratio is undefined"
        return Comparison(treated=treated, comparison=comparison, rate_ratio=None, ci95=None, p=None, reason=reason)
    log_rr = (math.log(treated.after) - math.log(treated.before)
              - math.log(comparison.after) + math.log(comparison.before))
    se = math.sqrt(1 / treated.after + 1 / treated.before + 1 / comparison.after + 1 / comparison.before)
    return Comparison(
        treated=treated, comparison=comparison,
        rate_ratio=math.exp(log_rr),
        ci95=[math.exp(log_rr - Z95 * se), math.exp(log_rr + Z95 * se)],
        p=math.erfc(abs(log_rr / se) / math.sqrt(2)),
    )
