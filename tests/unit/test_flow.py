"""Back-pressure: camera motion waits while evaluation is behind what the motion lane sent."""

from __future__ import annotations

import asyncio
import time

from streams.flow import MOTION_AHEAD_S, Backpressure, newest_per_partition
from streams.ports import Consumed


def event(partition: int, timestamp: float) -> Consumed:
    return Consumed("zone.events", partition, 0, round(timestamp * 1000), None, None)


def test_progress_is_the_newest_produce_time_applied_per_partition() -> None:
    batch = [event(0, 10.0), event(1, 12.0), event(0, 11.5), event(0, 11.0)]
    assert newest_per_partition(batch) == {0: 11.5, 1: 12.0}
    assert newest_per_partition([]) == {}


class Evaluation:
    """Redis as the evaluate lane leaves it: it catches up with partition 2 after `lag_s`."""

    def __init__(self, sent_at: float, lag_s: float) -> None:
        self.sent_at, self.lag_s, self.reads = sent_at, lag_s, 0
        self.started = time.time()

    async def hgetall(self, _: str) -> dict[bytes, bytes]:
        self.reads += 1
        caught_up = time.time() - self.started >= self.lag_s
        return {b"2": str(self.sent_at if caught_up else self.sent_at - 5).encode(), b"3": b"0"}


def test_motion_waits_until_evaluation_is_near_what_it_sent_and_only_for_those_partitions() -> None:
    pressure = Backpressure(client=None)  # type: ignore[arg-type]
    assert pressure.behind({}) == 0.0  # nothing sent: nothing to wait for
    pressure.sending(2)
    sent_at = pressure.sent[2]
    assert pressure.behind({2: sent_at - 1}) == 1.0 > MOTION_AHEAD_S
    assert pressure.behind({2: sent_at}) <= 0.0
    evaluation = Evaluation(sent_at, lag_s=0.2)
    pressure.client = evaluation  # type: ignore[assignment]
    started = time.monotonic()
    asyncio.run(pressure.wait())
    assert time.monotonic() - started >= 0.2 and evaluation.reads > 2  # partition 3 was never written to: ignored


class Recorder:
    """Redis's hset, slow: every write takes a while, as under load."""

    def __init__(self) -> None:
        self.writes: list[dict[int, float]] = []

    async def hset(self, _: str, mapping: dict[int, float]) -> None:
        self.writes.append(dict(mapping))
        await asyncio.sleep(0.01)


def test_progress_is_written_beside_the_stream_with_the_newest_figures_of_the_batches_meanwhile() -> None:
    from streams.flow import Progress

    recorder = Recorder()
    progress = Progress(recorder)  # type: ignore[arg-type]

    async def run() -> None:
        started = time.monotonic()
        await progress.applied([event(0, 10.0)])
        await progress.applied([event(0, 11.0), event(1, 3.0)])
        await progress.applied([event(0, 10.5)])
        assert time.monotonic() - started < 0.005, "the stream waited for Redis"
        assert progress.writing is not None
        await asyncio.sleep(0.001)  # the write is on its way
        await progress.applied([event(1, 4.0)])
        await progress.applied([event(1, 5.0)])
        await progress.writing
    asyncio.run(run())
    assert recorder.writes == [{0: 11.0, 1: 3.0}, {1: 5.0}]
