"""What one running center holds, and the request dependencies every router shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from alert_rules.city import City, Token
from alert_rules.rules import Rules, SilenceSettings
from center.actions import ActionDesk
from center.auth import Tokens, require_actor, sees
from center.errors import ApiError
from center.feed import AlertFeed
from center.health import HealthWatch
from center.hub import AlertHub
from center.metrics import CenterMetrics
from center.silences import SilenceDesk
from center.sse import LiveStreamSettings
from center.views import AlertViews
from vocabulary.events import Alert
from vocabulary.kafka_security import KafkaSecurity

log = logging.getLogger("centinela.center")
P = TypeVar("P")


@dataclass
class Center:
    """Everything one running center holds."""

    city: City
    tokens: Tokens
    kafka: str
    redis: Redis
    views: AlertViews
    metrics: CenterMetrics
    hub: AlertHub
    feed: AlertFeed
    snapshot_dir: Path | None
    keepalive_s: float
    live_streams: LiveStreamSettings
    action_wait_s: float
    silences: SilenceDesk
    silence_settings: SilenceSettings
    security: KafkaSecurity
    secret: bytes  # the internal key: what the center publishes to zone.events carries its MAC
    health: HealthWatch
    producer: AIOKafkaProducer | None = None
    desk: ActionDesk | None = None
    rules: Rules = field(default_factory=Rules)  # for the action plans (contract section 8)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.create_task(work, name=name))

    async def visible(self, token: Token, alert_id: str) -> Alert:
        """The alert, or 404 when it is unknown or out of the token's scope."""
        alert = await self.views.get(alert_id)
        if alert is None or not sees(token, alert):
            raise ApiError(404, "no such alert")
        return alert


def ready(publisher: P | None) -> P:
    """The Kafka-side publisher, or 503 while the center has not reached the broker yet."""
    if publisher is None:
        raise ApiError(503, "the message broker is not reachable yet")
    return publisher


@contextlib.contextmanager
def publishing(what: str) -> Iterator[None]:
    """A failed publish is a 503 for the caller and a warning here, never a 500."""
    try:
        yield
    except KafkaError as error:
        log.warning("could not publish %s: %s", what, type(error).__name__)
        raise ApiError(503, "the message broker is not reachable") from None


_bearer = HTTPBearer(auto_error=False, description="a token from the configuration")


def _running(request: Request) -> Center:
    center: Center = request.app.state.center
    return center


def _reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Token:
    tokens: Tokens = request.app.state.tokens
    token = tokens.find(credentials.credentials) if credentials and credentials.credentials else None
    if token is None:
        raise ApiError(401, "a valid bearer token is required")
    return token


def _actor(token: Annotated[Token, Depends(_reader)]) -> Token:
    require_actor(token)
    return token


def _supervisor(token: Annotated[Token, Depends(_reader)]) -> Token:
    if token.role != "supervisor":
        raise ApiError(403, f"the {token.role} role may not manage silences")
    return token


Reader = Annotated[Token, Depends(_reader)]
Actor = Annotated[Token, Depends(_actor)]
Supervisor = Annotated[Token, Depends(_supervisor)]
Running = Annotated[Center, Depends(_running)]
