"""The zones' records on a real Redis: written all or nothing, and fenced by the stored positions."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from deploy.stack import Stack
from streams.zone_records import Advance, Position, Saved, ZoneRecords
from vocabulary.internal import Freshness, Heard

pytestmark = pytest.mark.integration
HEARD = Freshness(1_000, {"p1": Heard(3, 1, 1_000)}).encode()
NOBODY = Freshness().encode()


def test_states_and_positions_are_written_together_and_a_stale_writer_is_fenced_off(stack: Stack) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(stack.redis_url)
        records = ZoneRecords(client)
        records.positions_key += ":fenced-test"  # apart from any worker's
        records.attaching_key += ":fenced-test"
        records.freshness_key += ":fenced-test"
        zone = "records-test-zone"
        assert await records.positions([0, 1]) == {0: None, 1: None}

        first = Position(4, 1_000)
        assert await records.save({zone: Saved(b'{"v": 1}', True)}, {0: Advance(None, first, HEARD)})
        assert await records.positions([0]) == {0: first}
        assert (await records.freshness([0]))[0].encode() == HEARD, "the producers heard are saved with the position"
        assert await records.states([zone, "records-test-none"]) == {zone: b'{"v": 1}', "records-test-none": None}

        # A worker that still believes partition 0 is at nothing (it read before the save above) is refused whole.
        stale = await records.save({zone: Saved(b'{"v": "stale"}', False), "records-test-other": Saved(b"{}", True)},
                                   {0: Advance(None, Position(9, 2_000), NOBODY), 1: Advance(None, Position(0, 2_000), NOBODY)})
        assert not stale
        assert await records.states([zone, "records-test-other"]) == {zone: b'{"v": 1}', "records-test-other": None}
        assert await records.positions([0, 1]) == {0: first, 1: None}
        assert await records.attaching() == {zone}

        assert await records.save({zone: Saved(b'{"v": 2}', False)}, {0: Advance(first, Position(7, 1_500), NOBODY)})
        assert await records.states([zone]) == {zone: b'{"v": 2}'}
        assert await records.attaching() == set()
        await client.aclose()
    asyncio.run(run())
