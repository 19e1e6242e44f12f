"""An alert's history in Redis keeps its newest versions only, on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from center.views import AlertViews
from tests.integration.center_support import make_alert
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def test_a_flood_of_changes_keeps_the_newest_versions_of_the_history_only(redis_server: RedisServer) -> None:
    async def run() -> None:
        redis = Redis.from_url(redis_server.url)
        views = AlertViews(redis, "bounded-history:", history_keep=50)
        alert = make_alert(alert_id="panic-flooded")
        for version in range(1, 301):  # a camera flood: every frame a new version
            await views.apply(alert.model_copy(update={"version": version}))
        late = [alert.model_copy(update={"version": v}) for v in (10, 299, 275)]  # a replay, and late ones
        await views.apply_many([(a, None) for a in late])
        assert [a.version for a in await views.history(alert.alert_id)] == list(range(251, 301)), \
            "the newest 50; a late or replayed old version is not stored again"
        await views.apply(alert.model_copy(update={"version": 400}))  # versions skipped
        assert [a.version for a in await views.history(alert.alert_id)] == [400], "only versions above 350 stay"
        assert (await views.get(alert.alert_id)).version == 400  # type: ignore[union-attr]
        await redis.aclose()
    asyncio.run(run())

