"""Alerts: the queue, one alert, its history and snapshot, and the operators' actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from alert_rules.city import Token
from center.actions import ActionName
from center.errors import ApiError, documented
from center.running import Actor, Center, Reader, Running, publishing, ready
from center.snapshots import snapshot_file
from vocabulary.events import Alert, Category, Text

router = APIRouter(prefix="/api/alerts")


class AlertList(BaseModel):
    alerts: list[Alert]


class Pending(BaseModel):
    alert_id: str
    status: Literal["pending"]


class Dispatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    responder: Annotated[Text, Field(min_length=1, max_length=200)]


class Resolve(BaseModel):
    model_config = ConfigDict(extra="ignore")
    disposition: Literal["real", "false_alarm", "test"]
    note: Annotated[Text, Field(max_length=4000)] = ""


ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Alert, "description": "the alert with the action applied"},
    202: {"model": Pending, "description": "published; not applied within the wait"},
    **documented(401, 403, 404, 409, 422, 503),
}


@router.get("", response_model=AlertList, responses=documented(401, 422))
async def list_alerts(
    center: Running,
    token: Reader,
    status: Annotated[
        Literal["open", "all"], Query(description="open: every alert not yet resolved; all: resolved too")
    ] = "open",
    zone: Annotated[str | None, Query(max_length=64)] = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=10000, description="at most this many, most urgent first")] = 1000,
) -> Response:
    scope = token.sees if token.role == "responder" else None
    bodies = await center.views.queue(include_resolved=status == "all", limit=limit, zone=zone or None,
                                      category=category, sees=scope)
    return Response(b'{"alerts":[' + ",".join(bodies).encode() + b"]}", media_type="application/json")


@router.get("/{alert_id}", response_model=Alert, responses=documented(401, 404))
async def get_alert(alert_id: str, center: Running, token: Reader) -> Alert:
    return await center.visible(token, alert_id)


@router.get("/{alert_id}/history", response_model=list[Alert], responses=documented(401, 404))
async def alert_history(alert_id: str, center: Running, token: Reader) -> list[Alert]:
    await center.visible(token, alert_id)
    return await center.views.history(alert_id)


@router.get(
    "/{alert_id}/snapshot",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **documented(401, 404)},
)
async def alert_snapshot(alert_id: str, center: Running, token: Reader) -> FileResponse:
    alert = await center.visible(token, alert_id)
    found = snapshot_file(center.snapshot_dir, alert.snapshot, alert.cameras)
    if found is None:
        raise ApiError(404, "no snapshot for this alert")
    return FileResponse(found, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})


@router.post("/{alert_id}/ack", response_model=Alert, responses=ACTION_RESPONSES)
async def acknowledge(alert_id: str, center: Running, token: Actor) -> Response:
    return await act(center, token, alert_id, "ack")


@router.post("/{alert_id}/dispatch", response_model=Alert, responses=ACTION_RESPONSES)
async def dispatch(alert_id: str, body: Dispatch, center: Running, token: Actor) -> Response:
    return await act(center, token, alert_id, "dispatch", responder=body.responder)


@router.post("/{alert_id}/resolve", response_model=Alert, responses=ACTION_RESPONSES)
async def resolve(alert_id: str, body: Resolve, center: Running, token: Actor) -> Response:
    return await act(center, token, alert_id, "resolve", disposition=body.disposition, note=body.note)


async def act(center: Center, token: Token, alert_id: str, action: ActionName, **details: Any) -> Response:
    """Publish the action to the zone's single writer; answer with the alert once it is applied."""
    alert = await center.visible(token, alert_id)
    if alert.status == "resolved":
        raise ApiError(409, "the alert is already resolved")
    already = (action == "ack" and alert.status != "open") or (
        action == "dispatch" and alert.status == "dispatched" and alert.responder == details.get("responder")
    )
    if already:  # evaluate would publish nothing: answer now instead of after the wait
        return Response(alert.model_dump_json(), media_type="application/json")
    with publishing(f"a {action} action"):
        updated = await ready(center.desk).submit(alert, action, token, **details)
    if updated is None:
        return JSONResponse({"alert_id": alert_id, "status": "pending"}, status_code=202)
    return Response(updated.model_dump_json(), media_type="application/json")
