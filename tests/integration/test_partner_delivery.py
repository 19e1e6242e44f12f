"""Partners' queues on a real Redis and deliveries to a real HTTP endpoint (contract section 16).

The Kafka side (tests/integration/test_partners.py) only adds the reader; here the dispatcher is
offered snapshots directly.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from alert_rules.city import City, Zone
from alert_rules.partners import CapSettings, Partner
from deploy.stack import free_port
from partners import outbox as outboxes
from partners.delivery import Dispatcher, Sender
from partners.listener import listen
from partners.outbox import Outbox
from tests.cap_checks import checked, field
from tests.partner_receiver import PartnerEndpoint, partner_endpoint
from tests.redis_server import RedisServer
from vocabulary.events import Alert
from vocabulary.signing import delivery_signature

pytestmark = pytest.mark.integration
KEY = "5a" * 32
ZONE = Zone(id="centro", name="Tigre Centro", polygon=[[-58.60, -34.44], [-58.56, -34.44], [-58.55, -34.425]])
FAST = CapSettings(sender="cot@tigre.gob.ar", retry_first_s=0.05, retry_max_s=0.2, timeout_s=1.0)


def synchronous(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Each test in an event loop of its own (asyncio.run), closed with it."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def partner(url: str, **changes: Any) -> Partner:
    fields: dict[str, Any] = {"id": f"p-{uuid.uuid4().hex[:8]}", "name": "Bomberos", "url": url, "key": KEY,
                              "token": f"feed-{uuid.uuid4().hex}", "categories": ["panic", "fire"], "max_priority": 2}
    fields.update(changes)
    return Partner.model_validate(fields)


def snapshot(alert_id: str, version: int, **changes: Any) -> Alert:
    at = datetime.now(UTC) + timedelta(seconds=version)
    fields: dict[str, Any] = {
        "alert_id": alert_id, "zone_id": "centro", "priority": 1, "category": "panic", "title": "Panic: bpr-0001",
        "status": "open", "opened_at": at, "updated_at": at, "source": {"kind": "beeper", "id": "bpr-0001"},
        "count": 1, "event_ids": ["e-1"], "rule": "panic-beep", "version": version,
        "location": {"lat": -34.43, "lon": -58.57, "accuracy_m": 30.0}}
    fields.update(changes)
    return Alert.model_validate(fields, strict=False)


def lifecycle(alert_id: str, ending: str = "real", **changes: Any) -> list[Alert]:
    return [snapshot(alert_id, 1, **changes),
            snapshot(alert_id, 2, status="acknowledged", **changes),
            snapshot(alert_id, 3, status="dispatched", responder="Móvil 7", **changes),
            snapshot(alert_id, 4, status="resolved", disposition=ending, note="passcode girasol", **changes)]


@asynccontextmanager
async def delivering(url: str, partners: list[Partner], settings: CapSettings = FAST,
                     namespace: str | None = None) -> Any:
    """A dispatcher and one running sender per partner, as `centinela partners` runs them."""
    redis = Redis.from_url(url, socket_timeout=5)
    outbox = Outbox(redis, settings, namespace=namespace or f"test-{uuid.uuid4().hex[:8]}:")
    async with httpx.AsyncClient() as client:
        senders = {p.id: Sender(p, settings, outbox, client) for p in partners}
        dispatcher = Dispatcher(City(zones=[ZONE], partners=partners), settings, outbox,
                                wake=lambda pid: senders[pid].wake.set())
        tasks = [asyncio.create_task(s.run()) for s in senders.values()]
        try:
            yield dispatcher, outbox, senders
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    await redis.aclose()


async def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)
    return found


def documents(endpoint: PartnerEndpoint) -> list[Any]:
    got = endpoint.delivered()
    assert all(r.signed for r in endpoint.received), "every POST is signed under the partner's key"
    assert all(r.content_type == "application/cap+xml" for r in got)
    return [checked(r.body) for r in got]


def chain(roots: list[Any]) -> list[tuple[str | None, str | None, str | None]]:
    return [(field(r, "msgType"), field(r, "identifier"), field(r, "references")) for r in roots]


def assert_references_chain(roots: list[Any]) -> None:
    for before, after in itertools.pairwise(roots):
        assert field(after, "references") == ",".join(
            [field(before, "sender") or "", field(before, "identifier") or "", field(before, "sent") or ""])


@synchronous
async def test_a_lifecycle_is_alert_then_updates_in_order_each_referencing_the_previous(redis_server: RedisServer) -> None:
    with partner_endpoint(KEY) as endpoint:
        firefighters = partner(endpoint.url)
        async with delivering(redis_server.url, [firefighters]) as (dispatcher, outbox, _):
            for alert in lifecycle("life-1"):
                await dispatcher.offer(alert)
            await eventually(lambda: len(endpoint.delivered()) == 4)
            for alert in lifecycle("life-1"):  # replays (a reader's batch read again) queue nothing new
                await dispatcher.offer(alert)
            await asyncio.sleep(0.3)
            roots = documents(endpoint)
            assert [(t, i) for t, i, _ in chain(roots)] == [
                ("Alert", "centinela.life-1.1"), ("Update", "centinela.life-1.2"),
                ("Update", "centinela.life-1.3"), ("Update", "centinela.life-1.4")]
            assert field(roots[0], "references") is None
            assert_references_chain(roots)
            counts = await outboxes.counts(outbox.redis)
            assert counts[f"{firefighters.id}|delivered"] == 4


@synchronous
async def test_a_false_alarm_ends_with_a_cancel(redis_server: RedisServer) -> None:
    with partner_endpoint(KEY) as endpoint:
        async with delivering(redis_server.url, [partner(endpoint.url)]) as (dispatcher, _, _):
            for alert in lifecycle("fire-1", ending="false_alarm", category="fire", title="Fire (110): panel acct-1001"):
                await dispatcher.offer(alert)
            await eventually(lambda: len(endpoint.delivered()) == 4)
            roots = documents(endpoint)
            assert [field(r, "msgType") for r in roots] == ["Alert", "Update", "Update", "Cancel"]
            assert field(roots[-1], "info/certainty") == "Unlikely"
            assert_references_chain(roots)


@synchronous
async def test_a_partner_answering_500_three_times_gets_everything_in_order(redis_server: RedisServer) -> None:
    with partner_endpoint(KEY, answers=[500, 500, 500]) as endpoint:
        firefighters = partner(endpoint.url)
        async with delivering(redis_server.url, [firefighters]) as (dispatcher, outbox, _):
            for alert in lifecycle("retry-1"):
                await dispatcher.offer(alert)
            await eventually(lambda: len(endpoint.delivered()) == 4)
            assert [r.answered for r in endpoint.received] == [500, 500, 500, 200, 200, 200, 200]
            assert len({r.body for r in endpoint.received[:4]}) == 1, "the first message again, until it is taken"
            roots = documents(endpoint)
            assert [field(r, "identifier") for r in roots] == [f"centinela.retry-1.{v}" for v in (1, 2, 3, 4)]
            counts = await outboxes.counts(outbox.redis)
            assert (counts[f"{firefighters.id}|retried"], counts[f"{firefighters.id}|delivered"]) == (3, 4)


@synchronous
async def test_filters_and_following_an_alert_to_its_end(redis_server: RedisServer) -> None:
    with partner_endpoint(KEY) as endpoint:
        async with delivering(redis_server.url, [partner(endpoint.url)]) as (dispatcher, _, _):
            await dispatcher.offer(snapshot("not-mine", 1, category="intrusion", priority=2))
            await dispatcher.offer(snapshot("too-low", 1, category="fire", priority=3))
            await dispatcher.offer(snapshot("mine", 1, category="fire", priority=2))
            await dispatcher.offer(snapshot("mine", 2, category="fire", priority=3, status="resolved", disposition="real"))
            await dispatcher.offer(snapshot("never-got", 2, status="resolved", disposition="false_alarm"))
            await eventually(lambda: len(endpoint.delivered()) == 2)
            await asyncio.sleep(0.3)
            assert [field(r, "identifier") for r in documents(endpoint)] == ["centinela.mine.1", "centinela.mine.2"]


@synchronous
async def test_a_slow_or_dead_partner_delays_no_other(redis_server: RedisServer) -> None:
    settings = FAST.model_copy(update={"timeout_s": 0.3, "retry_first_s": 5.0})
    with partner_endpoint(KEY, delay_s=3.0) as slow, partner_endpoint(KEY) as quick:
        dead = partner(f"http://127.0.0.1:{free_port()}/cap")
        async with delivering(redis_server.url, [partner(slow.url), dead, partner(quick.url)], settings) as (
                dispatcher, _, senders):
            started = time.monotonic()
            for alert in lifecycle("shared-1"):
                await dispatcher.offer(alert)
            await eventually(lambda: len(quick.delivered()) == 4, timeout=2.0)
            assert time.monotonic() - started < 1.0
            assert not slow.delivered()
            await eventually(lambda: senders[dead.id].failing)
            assert "ConnectError" in senders[dead.id].failing
            report = await senders[dead.id].report()
            assert report.level == "degraded" and report.queued == 4 and report.oldest_queued_at is not None


@synchronous
async def test_the_queue_survives_a_restart_of_the_sender_and_of_redis(redis_server: RedisServer) -> None:
    with partner_endpoint(KEY) as endpoint:
        down = partner(f"http://127.0.0.1:{free_port()}/cap", token="restart-feed-token-1")
        redis = Redis.from_url(redis_server.url, socket_timeout=5)
        outbox = Outbox(redis, FAST, namespace="restart:")
        dispatcher = Dispatcher(City(zones=[ZONE], partners=[down]), FAST, outbox)
        for alert in lifecycle("kept-1"):
            await dispatcher.offer(alert)
        assert await outbox.queued(down.id) == 4
        await redis.aclose()
        redis_server.stop()
        redis_server.start()
        back = down.model_copy(update={"url": endpoint.url})  # the partner is up again, the process restarted
        async with delivering(redis_server.url, [back], namespace="restart:"):
            await eventually(lambda: len(endpoint.delivered()) == 4)
            assert [field(r, "msgType") for r in documents(endpoint)] == ["Alert", "Update", "Update", "Update"]


@synchronous
async def test_the_queue_is_bounded_and_counts_what_it_drops(redis_server: RedisServer) -> None:
    settings = FAST.model_copy(update={"queue_max": 10})
    dead = partner(f"http://127.0.0.1:{free_port()}/cap")
    redis = Redis.from_url(redis_server.url, socket_timeout=5)
    outbox = Outbox(redis, settings, namespace=f"bounded-{uuid.uuid4().hex[:6]}:")
    dispatcher = Dispatcher(City(zones=[ZONE], partners=[dead]), settings, outbox)
    for n in range(12):
        await dispatcher.offer(snapshot(f"flood-{n}", 1))
    assert await outbox.queued(dead.id) == 10
    assert (await outboxes.counts(redis))[f"{dead.id}|dropped"] == 2
    assert await outbox.last_sent(dead.id, "flood-11") is None, "a dropped message is not referenced by the next"
    await redis.aclose()


@synchronous
async def test_a_message_undelivered_too_long_is_dropped_and_the_next_goes(redis_server: RedisServer) -> None:
    settings = FAST.model_copy(update={"give_up_s": 1.0})
    with partner_endpoint(KEY, answers=[503] * 1000) as endpoint:
        late = partner(endpoint.url)
        async with delivering(redis_server.url, [late], settings) as (dispatcher, outbox, _):
            await dispatcher.offer(snapshot("stale-1", 1))
            await eventually(lambda: len(endpoint.received) >= 2)
            endpoint.answers.clear()
            await eventually(lambda: endpoint.delivered() or None, timeout=5)
            await dispatcher.offer(snapshot("fresh-1", 1))
            await eventually(lambda: len(endpoint.delivered()) >= 2)
            delivered = [field(r, "identifier") for r in documents(endpoint)]
            counts = await outboxes.counts(outbox.redis)
            if delivered[0] == "centinela.stale-1.1":  # the endpoint came back before the message was given up
                assert counts.get(f"{late.id}|dropped", 0) == 0
            else:
                assert counts[f"{late.id}|dropped"] == 1
            assert delivered[-1] == "centinela.fresh-1.1"


@synchronous
async def test_the_feed_keeps_24_hours_newest_first_and_bounded(redis_server: RedisServer) -> None:
    settings = FAST.model_copy(update={"feed_max": 10})
    dead = partner(f"http://127.0.0.1:{free_port()}/cap")
    redis = Redis.from_url(redis_server.url, socket_timeout=5)
    outbox = Outbox(redis, settings, namespace=f"feed-{uuid.uuid4().hex[:6]}:")
    now = time.time()
    clock = iter([now - 90_000, now - 80_000, *(now - 100 + n for n in range(12))])
    dispatcher = Dispatcher(City(zones=[ZONE], partners=[dead]), settings.model_copy(update={"give_up_s": 1e9}),
                            outbox, clock=lambda: next(clock))
    for n in range(14):
        await dispatcher.offer(snapshot(f"feed-{n}", 1))
    feed = await outbox.feed(dead.id, now)
    assert [e.alert_id for e in feed] == [f"feed-{n}" for n in range(13, 3, -1)]
    for envelope in feed:
        checked(envelope.body)
    await redis.aclose()


@synchronous
async def test_the_demo_listener_takes_signed_cap_and_refuses_the_rest(redis_server: RedisServer,
                                                                       tmp_path: Path) -> None:
    port = free_port()
    firefighters = partner(f"http://127.0.0.1:{port}/cap")
    listening = asyncio.create_task(listen(firefighters, "127.0.0.1", port, tmp_path))
    try:
        async with httpx.AsyncClient() as client:
            await eventually(lambda: listening.done() or _accepts(port))
            async with delivering(redis_server.url, [firefighters]) as (dispatcher, _, _):
                for alert in lifecycle("heard-1"):
                    await dispatcher.offer(alert)
                await eventually(lambda: len(list(tmp_path.glob("*.xml"))) == 4)
            saved = sorted(tmp_path.glob("*.xml"))
            assert [p.name for p in saved] == [f"centinela.heard-1.{v}.xml" for v in (1, 2, 3, 4)]
            for path in saved:
                checked(path.read_bytes())
            body = saved[0].read_bytes()
            stamp = str(int(time.time()))
            forged = {"Content-Type": "application/cap+xml", "X-Centinela-Timestamp": stamp,
                      "X-Centinela-Signature": delivery_signature("00" * 32, stamp, body)}
            assert (await client.post(firefighters.url, content=body, headers=forged)).status_code == 401
            old = str(int(time.time()) - 3600)
            replayed = {**forged, "X-Centinela-Timestamp": old,
                        "X-Centinela-Signature": delivery_signature(KEY, old, body)}
            assert (await client.post(firefighters.url, content=body, headers=replayed)).status_code == 401
            fresh = {**forged, "X-Centinela-Signature": delivery_signature(KEY, stamp, b"<x/>")}
            assert (await client.post(firefighters.url, content=b"<x/>", headers=fresh)).status_code == 400
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
