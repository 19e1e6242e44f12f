"""GET /cap/{partner_id}/feed (contract section 16): the partner's token, Atom, the last 24 h newest first.

The center runs on a real Redis and no broker: the feed needs nothing from Kafka.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from redis.asyncio import Redis

from alert_rules.city import City, Token, Zone
from alert_rules.partners import CapSettings, Partner
from center.app import create_app
from deploy.stack import free_port
from partners.cap import NAMESPACE as CAP
from partners.delivery import Dispatcher
from partners.outbox import Outbox, Report
from tests.atom_checks import ATOM, checked_feed
from tests.cap_checks import checked
from tests.redis_server import RedisServer
from vocabulary.events import Alert
from vocabulary.kafka_security import KafkaSecurity

pytestmark = pytest.mark.integration
ZONE = Zone(id="feed-zone", name="Delta", polygon=[[-58.58, -34.41], [-58.55, -34.41], [-58.55, -34.38]])
FIRE = Partner(id="feed-bomberos", name="Bomberos Voluntarios", url="https://bomberos.example/cap", key="ab" * 16,
               token="bomberos-feed-token-1", categories=["fire"], max_priority=2, include_address=True)
POLICE = Partner(id="feed-policia", name="Policía", url="https://policia.example/cap", key="cd" * 16,
                 token="policia-feed-token-1", categories=["panic"])
OPERATOR = "operator-token-feed-1"
CITY = City(zones=[ZONE], partners=[FIRE, POLICE], tokens=[Token(token=OPERATOR, role="operator", name="Ana")])


def fire(alert_id: str, version: int, at: datetime, **changes: object) -> Alert:
    return Alert.model_validate({
        "alert_id": alert_id, "zone_id": ZONE.id, "priority": 1, "category": "fire",
        "title": f"Fire (110): panel {alert_id}", "status": "open", "opened_at": at, "updated_at": at,
        "source": {"kind": "alarm", "id": "acct-1001"}, "count": 1, "event_ids": ["e-1"], "rule": "contact-id",
        "version": version, "address": "Av. Cazón 1234, Tigre", **changes}, strict=False)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def queued(redis_server: RedisServer) -> list[str]:
    """Messages queued as `centinela partners` queues them: two a day ago, then five within the day."""
    now = time.time()
    clocks = iter([now - 90_000, now - 87_000, *(now - 500 + 60 * n for n in range(5))])

    async def queue() -> None:
        redis = Redis.from_url(redis_server.url)
        settings = CapSettings(sender="cot@tigre.gob.ar", give_up_s=1e9)
        dispatcher = Dispatcher(CITY, settings, Outbox(redis, settings), clock=lambda: next(clocks))
        at = datetime.now(UTC) - timedelta(days=2)
        await dispatcher.offer(fire("old-1", 1, at))
        await dispatcher.offer(fire("old-1", 2, at, status="acknowledged"))
        await dispatcher.offer(fire("new-1", 1, at))
        await dispatcher.offer(fire("new-1", 2, at, status="dispatched"))
        await dispatcher.offer(fire("new-1", 3, at, status="resolved", disposition="false_alarm"))
        await dispatcher.offer(fire("new-2", 1, at, location={"lat": -34.4, "lon": -58.56, "accuracy_m": 10}))
        await dispatcher.offer(fire("new-2", 2, at, status="acknowledged"))
        await redis.aclose()

    asyncio.run(queue())
    return ["centinela.new-2.2", "centinela.new-2.1", "centinela.new-1.3", "centinela.new-1.2", "centinela.new-1.1"]


@pytest.fixture(scope="module")
def http(redis_server: RedisServer) -> Iterator[TestClient]:
    app = create_app(CITY, f"127.0.0.1:{free_port()}", redis_server.url, internal_key=b"k" * 32,
                     security=KafkaSecurity())
    with TestClient(app) as client:
        yield client


def test_the_feed_is_atom_newest_first_with_the_last_24_hours(http: TestClient, queued: list[str]) -> None:
    answer = http.get(f"/cap/{FIRE.id}/feed", headers={"Authorization": f"Bearer {FIRE.token}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    entries = checked_feed(answer.content)
    documents = [entry.find(f"{{{ATOM}}}content")[0] for entry in entries]  # type: ignore[index]
    identifiers = [d.findtext(f"{{{CAP}}}identifier") for d in documents]
    assert identifiers == queued
    updated = [entry.findtext(f"{{{ATOM}}}updated") for entry in entries]
    assert updated == sorted(updated, reverse=True)
    for document in documents:
        checked(etree.tostring(document), private=("girasol", "+54 11 5555 0101"))
    assert [d.findtext(f"{{{CAP}}}msgType") for d in documents] == ["Update", "Alert", "Cancel", "Update", "Alert"]
    assert entries[2].findtext(f"{{{ATOM}}}title") == "Cancel: Fire (110): panel new-1"
    assert documents[0].findtext(f"{{{CAP}}}info/{{{CAP}}}area/{{{CAP}}}areaDesc") == "Delta: Av. Cazón 1234, Tigre"


def test_an_empty_feed_is_still_a_valid_feed(http: TestClient, queued: list[str]) -> None:
    answer = http.get(f"/cap/{POLICE.id}/feed", headers={"Authorization": f"Bearer {POLICE.token}"})
    assert answer.status_code == 200
    assert checked_feed(answer.content) == []


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer not-a-token", f"Bearer {OPERATOR}",
                                           f"Basic {FIRE.token}", f"Bearer {FIRE.token}x"])
def test_only_a_partner_token_opens_a_feed(http: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = http.get(f"/cap/{FIRE.id}/feed", headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "a valid partner token is required"}


@pytest.mark.parametrize("partner_id", [FIRE.id, "nobody"])
def test_a_partner_sees_only_its_own_feed(http: TestClient, partner_id: str) -> None:
    answer = http.get(f"/cap/{partner_id}/feed", headers={"Authorization": f"Bearer {POLICE.token}"})
    assert answer.status_code == 404
    assert answer.json() == {"error": "no such feed"}


def test_a_partner_token_is_no_api_token(http: TestClient) -> None:
    assert http.get("/api/alerts", headers={"Authorization": f"Bearer {FIRE.token}"}).status_code == 401


def test_healthz_and_metrics_show_each_partner(http: TestClient, redis_server: RedisServer, queued: list[str]) -> None:
    async def report() -> None:
        redis = Redis.from_url(redis_server.url)
        outbox = Outbox(redis, CapSettings())
        await outbox.report(FIRE.id, Report(level="degraded", detail="3 queued; the last attempt failed (HTTP 500)",
                                            queued=3, oldest_queued_at=time.time() - 42, seen=time.time()))
        await outbox.count(FIRE.id, "retried")
        await redis.aclose()

    asyncio.run(report())
    deadline = time.monotonic() + 20
    while True:
        components = http.get("/healthz").json()["components"]
        if components.get(f"partner:{FIRE.id}", {}).get("detail", "").startswith("3 queued"):
            break
        assert time.monotonic() < deadline, components
        time.sleep(0.2)
    assert components[f"partner:{FIRE.id}"] == {"ok": False, "detail": "3 queued; the last attempt failed (HTTP 500)"}
    assert components[f"partner:{POLICE.id}"]["ok"] is False  # no report at all: `centinela partners` is not running
    metrics = http.get("/metrics").text
    assert f'centinela_partner_messages_total{{outcome="retried",partner="{FIRE.id}"}} 1.0' in metrics
    oldest = [line for line in metrics.splitlines()
              if line.startswith(f'centinela_partner_oldest_undelivered_seconds{{partner="{FIRE.id}"}}')]
    assert oldest and 42 <= float(oldest[0].split()[-1]) < 120
