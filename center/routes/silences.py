"""Run-time silences: supervisors add and end them; everyone may list those they can see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from alert_rules.rules import LIFE_SAFETY
from center.errors import ApiError, documented
from center.running import Reader, Running, Supervisor, publishing, ready
from center.silences import ActiveSilence, new_silence, visible_to
from vocabulary.events import Category, Id, Text, Timestamp
from vocabulary.topics import ZONE_EVENTS, named

router = APIRouter(prefix="/api/silences")


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    zones: Annotated[list[Id], Field(min_length=1, max_length=1000)] | None = Field(
        None, description="the zones to silence; all zones when absent")
    category: Category | None = None
    source: Id | None = Field(None, description="a device id")
    starts_at: Timestamp | None = Field(None, description="default: now")
    ends_at: Timestamp
    reason: Annotated[Text, Field(min_length=1, max_length=1000)]
    confirm: bool = Field(False, description="must be true for a silence that covers panic, duress, medical or fire")


class SilenceList(BaseModel):
    silences: list[ActiveSilence]


class SilenceEnded(BaseModel):
    id: str
    status: Literal["ended"]


@router.post("", response_model=ActiveSilence, status_code=201, responses=documented(401, 403, 422, 503))
async def add_silence(body: SilenceRequest, center: Running, token: Supervisor) -> Response:
    city = center.city
    zones = list(dict.fromkeys(body.zones)) if body.zones is not None else [z.id for z in city.zones]
    unknown = [z for z in zones if z not in city.zone_by_id]
    if unknown:
        raise ApiError(422, f"zones: unknown zone {unknown[0]}")
    now = datetime.now(UTC)
    starts_at = body.starts_at or now
    if body.ends_at <= starts_at:
        raise ApiError(422, "ends_at: must be after starts_at")
    if body.ends_at <= now:
        raise ApiError(422, "ends_at: must be in the future")
    longest = center.silence_settings.max_s
    if (body.ends_at - starts_at).total_seconds() > longest:
        raise ApiError(422, f"ends_at: a silence lasts at most {longest} s (silences.max_s)")
    covered = [body.category] if body.category else list(LIFE_SAFETY)
    if any(c in LIFE_SAFETY for c in covered) and not body.confirm:
        raise ApiError(422, 'confirm: a silence that covers panic, duress, medical or fire needs "confirm": true')
    silence = new_silence(zones, body.category, body.source, starts_at, body.ends_at, body.reason, token)
    with publishing("a silence"):
        await center.silences.add(ready(center.producer), named(ZONE_EVENTS), silence)
    return Response(silence.model_dump_json(), status_code=201, media_type="application/json")


@router.get("", response_model=SilenceList, responses=documented(401))
async def list_silences(center: Running, token: Reader) -> SilenceList:
    found = (visible_to(token, s) for s in await center.silences.active(datetime.now(UTC)))
    return SilenceList(silences=[s for s in found if s is not None])


@router.delete("/{silence_id}", response_model=SilenceEnded, responses=documented(401, 403, 404, 503))
async def end_silence(silence_id: str, center: Running, token: Supervisor) -> SilenceEnded:
    silence = await center.silences.get(silence_id, datetime.now(UTC))
    if silence is None:
        raise ApiError(404, "no such active silence")
    with publishing("the end of a silence"):
        await center.silences.end(ready(center.producer), named(ZONE_EVENTS), silence)
    return SilenceEnded(id=silence.id, status="ended")
