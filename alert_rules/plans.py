"""Action plans (contract section 8): the ordered steps an operator works through for an alert.

A plan is given per category in `rules.action_plans`; a zone (`rules.zones.<id>.action_plans`)
and a panel (`panels[].action_plans`) may replace the plan of any category. The most
specific plan wins, whole: panel, then zone, then the city's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vocabulary.events import Category, Id


class PlanStep(BaseModel):
    """One step of a plan; `id` names it in the alert's `steps` and in `POST .../steps`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    text: Annotated[str, Field(min_length=1, max_length=500)]


def _unique_steps(steps: list[PlanStep]) -> list[PlanStep]:
    ids = [step.id for step in steps]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise ValueError(f"step id {duplicate!r} is used twice in one plan")
    return steps


ActionPlan = Annotated[list[PlanStep], Field(min_length=1, max_length=50), AfterValidator(_unique_steps)]
ActionPlans = Annotated[
    dict[Category, ActionPlan], Field(description="category -> ordered steps; replaces the less specific plan")
]


def plan_for(category: str, *layers: Mapping[Any, list[PlanStep]] | None) -> list[PlanStep]:
    """The steps of the first layer (most specific first) with a plan for `category`; [] if none."""
    for plans in layers:
        if plans and category in plans:
            return plans[category]
    return []
