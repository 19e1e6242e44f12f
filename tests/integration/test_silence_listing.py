"""A silence is listed whenever any zone may hold it (contract section 9), on a real Redis,
with the broker failing partway through the per-zone commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from alert_rules.city import Token
from center.silences import SilenceDesk, new_silence
from deploy.stack import free_port, redis_binary

pytestmark = pytest.mark.integration
KEY = b"s" * 32


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = subprocess.Popen([redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(data)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(10)


class Broker:
    """zone.events as the center's producer sees it: the commands that arrived, and a failure after `fail_after`."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[dict] = []  # type: ignore[type-arg]
        self.fail_after = fail_after

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def send_and_wait(self, topic: str, value: bytes, **_: object) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("the broker went away")
        self.sent.append(json.loads(value))


SUPERVISOR = Token(name="Supervisor", role="supervisor", token="t" * 32)


def test_a_silence_that_reached_some_zones_is_listed_and_can_be_ended(redis_url: str) -> None:
    async def run() -> None:
        client = Redis.from_url(redis_url)
        desk = SilenceDesk(client, "silence-listing-test:", KEY)
        now = datetime.now(UTC)
        silence = new_silence(["a", "b", "c"], "panic", None, now, now + timedelta(hours=1), "works", SUPERVISOR)
        halfway = Broker(fail_after=1)
        with pytest.raises(ConnectionError):
            await desk.add(halfway, "zone.events", silence)  # type: ignore[arg-type]
        assert [c["zone_id"] for c in halfway.sent] == ["a"], "zone a holds the silence"
        assert [s.id for s in await desk.active(now)] == [silence.id], "so the console lists it"

        failing_end = Broker(fail_after=2)
        with pytest.raises(ConnectionError):
            await desk.end(failing_end, "zone.events", silence)  # type: ignore[arg-type]
        assert [s.id for s in await desk.active(now)] == [silence.id], "zone c may still hold it: still listed"

        ending = Broker()
        await desk.end(ending, "zone.events", silence)  # type: ignore[arg-type]
        assert [(c["zone_id"], c["action"]) for c in ending.sent] == [("a", "end"), ("b", "end"), ("c", "end")]
        assert await desk.active(now) == []
        await client.aclose()
    asyncio.run(run())
