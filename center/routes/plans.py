"""Accounts and action plans (contract section 8): whose home it is, whom to call, what to do.

Steps and passcode reveals are operators' actions like an ack: published to the zone's
single writer, they land in the alert's history and on `alerts`. Neither carries a phone
or the passcode.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from center import accounts
from center.accounts import Plan
from center.errors import ApiError, documented
from center.routes.alerts import ACTION_RESPONSES, act
from center.running import Actor, Reader, Running, publishing, ready
from vocabulary.events import Alert, Id, StepOutcomeName, Text

router = APIRouter(prefix="/api/alerts")


class StepBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    step: Id
    outcome: StepOutcomeName
    note: Annotated[Text, Field(max_length=4000)] = ""  # as resolve's: a lone surrogate is 422


class Revealed(BaseModel):
    passcode: str
    status: Literal["recorded", "pending"]


@router.get("/{alert_id}/plan", response_model=Plan, responses=documented(401, 404))
async def alert_plan(alert_id: str, center: Running, token: Reader) -> Plan:
    alert = await center.visible(token, alert_id)
    return accounts.plan(center.rules, center.city, alert, full=token.may_act)


@router.post("/{alert_id}/steps", response_model=Alert, responses=ACTION_RESPONSES)
async def record_step(alert_id: str, body: StepBody, center: Running, token: Actor) -> Response:
    alert = await center.visible(token, alert_id)
    if alert.status == "resolved":
        raise ApiError(409, "the alert is already resolved")
    if body.step not in {s.id for s in accounts.plan_steps(center.rules, center.city, alert)}:
        raise ApiError(404, "no such step in the alert's plan")
    return await act(center, token, alert_id, "step", step=body.step, outcome=body.outcome, note=body.note)


@router.post("/{alert_id}/reveal", response_model=Revealed, responses=documented(401, 403, 404, 409, 503))
async def reveal_passcode(alert_id: str, center: Running, token: Actor) -> JSONResponse:
    """The account's passcode, once the reveal is published for the alert's history: the only way to it."""
    alert = await center.visible(token, alert_id)
    if alert.status == "resolved":
        raise ApiError(409, "the alert is already resolved")
    passcode = accounts.passcode(center.city, alert)
    if passcode is None:
        raise ApiError(404, "this alert's account has no passcode")
    with publishing("a passcode reveal"):
        updated = await ready(center.desk).submit(alert, "reveal", token)
    return JSONResponse({"passcode": passcode, "status": "pending" if updated is None else "recorded"},
                        headers={"Cache-Control": "no-store"})  # no cache keeps it past the reveal
