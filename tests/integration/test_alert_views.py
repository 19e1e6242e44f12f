"""The Redis views on a real Redis: listings filtered before their limit, and resolved alerts leaving."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from alert_rules.city import Token
from center.views import AlertViews, queue_score
from deploy.stack import Stack
from tests.integration.center_support import make_alert
from vocabulary.events import Alert

pytestmark = pytest.mark.integration
PATROL = Token(token="patrol-secret-1", role="responder", name="Patrol 7", zones=["north"], categories=["panic", "duress"])


async def views_on(stack: Stack, retention_s: float = 30 * 86400) -> AsyncIterator[AlertViews]:
    redis = Redis.from_url(stack.redis_url)
    namespace = f"test-{uuid.uuid4().hex[:8]}:"
    try:
        yield AlertViews(redis, namespace, retention_s=retention_s)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{namespace}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start:start + 1000])
        await redis.aclose()


def resolved(alert: Alert, ago_s: float) -> Alert:
    return alert.model_copy(update={"status": "resolved", "version": alert.version + 1, "disposition": "real",
                                    "updated_at": datetime.now(UTC) - timedelta(seconds=ago_s)})


def test_a_responder_sees_every_alert_in_scope_among_20000(stack: Stack) -> None:
    async def run() -> None:
        async for views in views_on(stack):
            # 19,400 more urgent and older alerts elsewhere would fill any listing cut before filtering.
            elsewhere = [make_alert(zone=f"zone-{n % 40}", priority=1 + n % 2, category=("panic", "fire")[n % 2],
                                    opened_ago_s=3600 + n) for n in range(19_400)]
            mine = [make_alert(zone="north", priority=3, category=("panic", "duress")[n % 2], opened_ago_s=n)
                    for n in range(500)]
            not_mine = [make_alert(zone="north", priority=3, category="intrusion", opened_ago_s=n) for n in range(100)]
            everything = elsewhere + mine + not_mine
            for start in range(0, len(everything), 1000):
                await views.apply_many([(a, None) for a in everything[start:start + 1000]])
            started = time.perf_counter()
            listed = await views.queue(include_resolved=False, limit=1000, sees=PATROL.sees)
            took_ms = (time.perf_counter() - started) * 1000
            expected = [a.alert_id for a in sorted(mine, key=lambda a: (queue_score(a), a.alert_id))]
            assert [Alert.model_validate_json(b).alert_id for b in listed] == expected
            print(f"\na responder's listing of 500 among 20,000 stored alerts: {took_ms:.1f} ms")

            north = await views.queue(include_resolved=False, limit=1000, zone="north")
            assert len(north) == 600
            fires = await views.queue(include_resolved=True, limit=50, category="fire")
            fire_alerts = [Alert.model_validate_json(b) for b in fires]
            assert len(fire_alerts) == 50 and {a.category for a in fire_alerts} == {"fire"}
            assert [queue_score(a) for a in fire_alerts] == sorted(queue_score(a) for a in fire_alerts)
            assert await views.queue(include_resolved=False, limit=10, zone="north", category="fire") == []

    asyncio.run(run())


def test_resolved_alerts_and_their_history_leave_after_the_retention(stack: Stack) -> None:
    async def run() -> None:
        async for views in views_on(stack, retention_s=1.0):
            kept, leaving = make_alert(zone="north"), make_alert(zone="north", category="duress")
            await views.apply_many([(kept, None), (leaving, None), (resolved(leaving, 0), None)])
            assert await views.get(leaving.alert_id) is not None
            assert len(await views.history(leaving.alert_id)) == 2
            await asyncio.sleep(1.2)
            assert await views.sweep() == 1
            assert await views.get(leaving.alert_id) is None
            assert await views.history(leaving.alert_id) == []
            listed = await views.queue(include_resolved=True, limit=10, zone="north")
            assert [Alert.model_validate_json(b).alert_id for b in listed] == [kept.alert_id]
            assert await views.get(kept.alert_id) is not None

            replayed = make_alert(zone="south")  # a replay of an alert resolved long ago leaves no trace
            await views.apply_many([(replayed, None), (resolved(replayed, 3600), None)])
            assert await views.get(replayed.alert_id) is None
            assert await views.history(replayed.alert_id) == []

    asyncio.run(run())


def test_alerts_stored_before_the_indexes_existed_are_indexed_once(stack: Stack) -> None:
    async def run() -> None:
        async for views in views_on(stack):
            old_open, old_resolved = make_alert(zone="north"), resolved(make_alert(zone="north"), 0)
            for alert in (old_open, old_resolved):  # as the previous version stored them: no indexes
                await views.redis.hset(views.namespace + "alerts", alert.alert_id, alert.model_dump_json())
            assert await views.queue(include_resolved=True, limit=10, zone="north") == []
            assert await views.index_stored() == 2
            assert await views.index_stored() == 0
            listed = await views.queue(include_resolved=False, limit=10, sees=PATROL.sees)
            assert [Alert.model_validate_json(b).alert_id for b in listed] == [old_open.alert_id]
            assert len(await views.queue(include_resolved=True, limit=10, zone="north")) == 2

    asyncio.run(run())
