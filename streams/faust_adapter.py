"""The one place where streams meets Faust: a lane's agents, timers, producer and rebalances.

Admission (`streams.admission`) and evaluation (`streams.evaluate`) know only
`streams.ports`: batches of `Consumed` in, an acknowledgement, a way to publish. Here each
lane's Faust app feeds them, acknowledges through its streams (Faust commits what is
acknowledged), sends with its producer, tells evaluation of revocations, and records the
lane's progress for its worker and the center (`streams.health`).
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
import redis.asyncio as aioredis
from faust.types import EventT

from alert_rules.city import City
from alert_rules.engine import RuleEngine
from alert_rules.rules import Rules
from streams import health
from streams.admission import Admission, MotionFilter, Outcomes
from streams.admit import AdmissionSettings
from streams.batching import in_batches
from streams.codec import Tick
from streams.dedupe import DuplicateMemory
from streams.evaluate import Evaluator, Tally
from streams.flow import Backpressure, Progress
from streams.lanes import Lane
from streams.ports import Ack, Consumed, partition_of
from streams.publish import Publisher
from streams.zone_records import ZoneRecords
from vocabulary import topics

log = logging.getLogger("centinela.lanes")

ADMIT_BATCH = 500
EVALUATE_BATCH = 100  # messages; one can carry a zone's 500 admitted events, so memory stays bounded
TIMER_S = 0.5
EXIT_GIVE_UP = 3


def consumed(event: EventT[Any]) -> Consumed:
    message = event.message
    return Consumed(topic=message.topic, partition=message.partition, offset=message.offset,
                    timestamp_ms=round((message.timestamp or 0) * 1000), key=message.key, value=message.value,
                    headers=message.headers, handle=event)


class FaustLane:
    """One lane's Faust app, seen through `streams.ports`."""

    def __init__(self, app: faust.App, lane: Lane, redis_url: str, secret: bytes) -> None:
        self.app = app
        self.redis = aioredis.Redis.from_url(redis_url)
        self.outputs: dict[str, faust.TopicT] = {}
        self.streams: dict[str, faust.StreamT[Any]] = {}  # input topic name -> its agent's stream
        self.progress = health.LaneProgress(lane, time.time())
        self.publisher = Publisher(self.send, secret, app.conf.topic_partitions)
        app.on_partitions_assigned.connect(self._assigned)
        app.timer(health.CHECK_S, name="report_progress")(self._report)

    async def send(self, name: str, partition: int | None, key: bytes | None, value: bytes,
                   headers: list[tuple[str, bytes]]) -> Awaitable[object]:
        topic = self.outputs.get(name)
        if topic is None:
            topic = self.outputs[name] = self.app.topic(name, key_serializer="raw", value_serializer="raw")
        return await topic.send(key=key, value=value, partition=partition, headers=headers)

    def acknowledger(self, topic: str) -> Ack:
        """Acknowledges messages of `topic` (the contract's name): Faust commits what is acknowledged."""
        name = topics.named(topic)

        async def ack(batch: Sequence[Consumed]) -> None:
            stream = self.streams[name]
            for message in batch:
                await stream.ack(message.handle)  # type: ignore[arg-type]  # Faust types ack() for its own events only
        return ack

    def agent(self, topic: str, most: int, handle: Callable[[list[Consumed]], Awaitable[None]]) -> None:
        """Run `handle(batch)` for the batches of `topic` (the contract's name)."""
        name = topics.named(topic)

        async def run(stream: faust.StreamT[Any]) -> None:
            self.streams[name] = stream
            async for batch in in_batches(stream, most):
                messages = [consumed(event) for event in batch]
                await handle(messages)
                self.progress.handled(messages, time.time())

        source = self.app.topic(name, key_serializer="raw", value_serializer="raw")
        self.app.agent(source, name=f"lane.{topic}")(run)

    def owned(self, topic: str) -> set[int]:
        name = topics.named(topic)
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == name}

    async def _assigned(self, *_: object, **__: object) -> None:
        self.progress.assigned(time.time())
        # What lives now (the libraries, the city, the rules) lives as long as the process: leave it out
        # of full collections, which otherwise paused the evaluate lane 60 to 500 ms several times a minute.
        gc.freeze()

    async def _report(self) -> None:
        assigned = [tp for tp in self.app.consumer.assignment() if tp.topic in self.streams]
        try:
            ends = await self.app.consumer.highwaters(*assigned) if assigned else {}
            positions = {(tp.topic, tp.partition): await self.app.consumer.position(tp) for tp in assigned}
        except Exception as error:  # a rebalance in between, the broker away: report without the lag
            log.warning("could not measure the lane's lag: %s", error)
            ends, positions = {}, {}
        record = self.progress.record({(tp.topic, tp.partition): end for tp, end in ends.items()}, positions,
                                      time.time())
        await health.report(self.redis, record)


def install_admission(lane: FaustLane, city: City, rules: Rules, settings: AdmissionSettings,
                      inputs: Iterable[str]) -> None:
    memory = DuplicateMemory(lane.redis, settings.duplicate_memory_s)
    outcomes = Outcomes(lane.redis)
    lane.app.timer(Outcomes.FLUSH_S, name="count_outcomes")(outcomes.flush)
    for topic in inputs:
        motion = topic == topics.MOTION
        admission = Admission(
            city, settings, memory, lane.publisher, lane.acknowledger(topic), lane.app.conf.topic_partitions,
            backpressure=Backpressure(lane.redis) if motion else None,
            motion_filter=MotionFilter(RuleEngine(city, rules), ZoneRecords(lane.redis), lane.redis) if motion else None,
            outcomes=outcomes)

        async def handle(batch: list[Consumed], topic: str = topic, admission: Admission = admission) -> None:
            await admission.handle(batch, topic)
            if admission.backpressure is not None:
                lane.progress.holding = True
                try:
                    await admission.backpressure.wait()
                finally:
                    lane.progress.holding = False

        lane.agent(topic, ADMIT_BATCH, handle)


def give_up(reason: str) -> None:
    """End the lane at once; its worker starts it again, from what Redis and the broker hold."""
    log.critical("the evaluate lane stops: %s", reason)
    logging.shutdown()
    os._exit(EXIT_GIVE_UP)


def install_evaluation(lane: FaustLane, city: City, rules: Rules, partitions: int) -> None:
    evaluator = Evaluator(RuleEngine(city, rules), ZoneRecords(lane.redis), lane.publisher,
                          lane.acknowledger(topics.ZONE_EVENTS), Progress(lane.redis).applied, give_up,
                          lane.publisher.secret, Tally(lane.redis))
    zones = [z.id for z in city.zones]

    @lane.app.on_partitions_revoked.connect
    async def on_revoked(*_: object, **__: object) -> None:
        await evaluator.revoke()

    lane.agent(topics.ZONE_EVENTS, EVALUATE_BATCH, evaluator.process)

    @lane.app.timer(TIMER_S, name="wake_due_zones")  # type: ignore[untyped-decorator]  # Faust's timer decorator is untyped
    async def wake_due_zones() -> None:
        """Save what a quiet stream left unsaved; tick each owned zone whose timers are due.

        A zone this worker has not loaded since it was assigned is ticked once: applying the
        tick loads its state, fires what fell due meanwhile, and makes its deadline known.
        """
        await evaluator.save_if_due()
        owned = lane.owned(topics.ZONE_EVENTS)
        mine = [z for z in zones if partition_of(z, partitions) in owned]
        now = datetime.now(UTC)
        for zone_id in evaluator.due_zones(mine, now.timestamp()):
            await lane.publisher.publish(topics.ZONE_EVENTS, zone_id, Tick(tick=zone_id, at=now))

