"""How the system is (contract section 10): sampled in the background, so /healthz costs nothing.

Once a `sample_s` the center pings Redis and reads the supervisors' process records; once a
`broker_sample_s` it asks the broker for the end offsets of the lanes' input topics and of
`alerts`, and for the offsets each lane's consumer group committed. The embedded broker
answers an end-offset request by listing every batch it holds in the partition, so asking
every second cost it more the longer it ran. A lane that admits or evaluates beeps and
alarms, with input waiting on a partition whose committed offset has not moved for
`stall_s`, is down: that is what a frozen, crashed or silently stalled consumer looks like
from outside, and it needs nothing from the lane itself (a frozen lane cannot report).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from center.partitions import partitions_of
from history import progress as history_progress
from partners import outbox
from vocabulary import progress, topics
from vocabulary.kafka_security import KafkaSecurity

log = logging.getLogger("centinela.center.health")

Level = Literal["ok", "degraded", "down"]
LEVELS: tuple[Level, ...] = ("ok", "degraded", "down")
STALE_RECORD_S = 10.0  # a supervisor reports every 2 s
GONE_RECORD_S = 120.0  # a record this old belongs to a supervisor that is no more
ASK_TIMEOUT_S = 2.0


class HealthSettings(BaseModel):
    """The `health:` section of the configuration."""

    model_config = ConfigDict(extra="forbid")
    stall_s: float = Field(30.0, gt=0, description="a beep or alarm lane with input waiting and nothing "
                                                    "applied for this long is down")
    sample_s: float = Field(1.0, gt=0, le=60, description="how often the center samples Redis and the processes")
    broker_sample_s: float = Field(5.0, gt=0, le=60, description="how often the center asks the broker for offsets")


@dataclass(frozen=True)
class Component:
    level: Level
    detail: str

    def body(self) -> dict[str, object]:
        return {"ok": self.level == "ok", "detail": self.detail}


@dataclass
class Sample:
    components: dict[str, Component]
    lag: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, topic) -> messages behind
    restarts: dict[str, int] = field(default_factory=dict)  # process -> restarts

    @property
    def status(self) -> Level:
        return max((c.level for c in self.components.values()), key=LEVELS.index, default="ok")


STARTING = Sample({"center": Component("down", "starting: not sampled yet")})


@dataclass
class Partition:
    end: int
    committed: int

    @property
    def waiting(self) -> int:
        return max(0, self.end - self.committed)


class Stalls:
    """When each partition's committed offset last moved, or had nothing waiting."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, int], tuple[int, float]] = {}

    def stalled_for(self, group: str, tp: TopicPartition, partition: Partition, now: float) -> float:
        key = (group, tp.topic, tp.partition)
        known = self._last.get(key)
        if known is None or known[0] != partition.committed or partition.waiting == 0:
            self._last[key] = (partition.committed, now)
            return 0.0
        return now - known[1]


def lane_component(lane: str, group: str, partitions: dict[TopicPartition, Partition],
                   stalled: dict[TopicPartition, float], stall_s: float) -> Component:
    waiting = sum(p.waiting for p in partitions.values())
    stuck = {tp: s for tp, s in stalled.items() if s >= stall_s}
    if stuck:
        tp, seconds = max(stuck.items(), key=lambda item: item[1])
        level: Level = "down" if lane in progress.CRITICAL_LANES else "degraded"
        return Component(level, f"{partitions[tp].waiting} waiting on {tp.topic}[{tp.partition}], "
                                f"nothing applied for {seconds:.0f} s (group {group})")
    return Component("ok", f"{waiting} waiting (group {group})")


def process_component(record: progress.ProcessRecord, now: float) -> Component | None:
    age = now - record.seen
    if age > GONE_RECORD_S:
        return None
    restarts = f"{record.restarts} restarts" + (f", last exit {record.last_exit}" if record.last_exit else "")
    if age > STALE_RECORD_S:
        return Component("degraded", f"its supervisor has not reported for {age:.0f} s; {restarts}")
    if record.state == "running":
        return Component("ok", f"running (pid {record.pid}); {restarts}")
    what = "starting" if record.state == "starting" else "dead, restart due"
    return Component("degraded", f"{what} for {now - record.since:.0f} s; {restarts}")


def summary(name: str, found: dict[str, Component]) -> Component:
    """One component for a family of processes (cameras, receivers): the worst of them."""
    if not found:
        return Component("ok", f"no {name} process supervised here")
    worst = max(found.values(), key=lambda c: LEVELS.index(c.level))
    if worst.level == "ok":
        return Component("ok", f"{len(found)} running")
    return Component(worst.level, "; ".join(f"{n}: {c.detail}" for n, c in found.items() if c.level != "ok"))


def partner_component(report: outbox.Report | None, now: float) -> Component:
    """A partner agency's CAP deliveries (contract section 16), as `centinela partners` last reported them."""
    if report is None:
        return Component("degraded", "no report from `centinela partners`: is it running?")
    age = now - report.seen
    if age > STALE_RECORD_S:
        return Component("degraded", f"`centinela partners` has not reported for {age:.0f} s; {report.detail}")
    return Component(report.level, report.detail)


def history_component(records: list[history_progress.WriterRecord], now: float, stall_s: float,
                      expected: bool) -> Component | None:
    """The history writers (contract section 13), as they last reported; None where no history is kept."""
    if not records:
        return Component("degraded", "no history writer has reported") if expected else None
    problems = []
    for record in records:
        age, idle = now - record.checked_at, now - max(record.stored_at, record.since)
        if age > STALE_RECORD_S:
            problems.append(f"writer {record.pid} has not reported for {age:.0f} s")
        elif record.problem:
            problems.append(f"writer {record.pid} cannot store: {record.problem}")
        elif record.waiting and idle > stall_s:
            problems.append(f"writer {record.pid}: {record.waiting} waiting, nothing stored for {idle:.0f} s")
    if problems:
        return Component("degraded", "; ".join(problems))
    return Component("ok", f"{len(records)} writing; {sum(r.waiting for r in records)} waiting, "
                           f"{sum(r.forged for r in records)} forged messages ignored")


BrokerSample = tuple[dict[str, dict[TopicPartition, Partition]], dict[TopicPartition, int]]


class BrokerOffsets:
    """End offsets of the lanes' inputs and of `alerts`, and each lane group's committed offsets."""

    def __init__(self, kafka: str, security: KafkaSecurity) -> None:
        self.kafka = kafka
        self.client = security.client()
        self._ends: AIOKafkaConsumer | None = None
        self._groups: dict[str, AIOKafkaConsumer] = {}

    async def _connect(self) -> AIOKafkaConsumer:
        if self._ends is None:
            self._ends = await _started(AIOKafkaConsumer(bootstrap_servers=self.kafka, group_id=None,
                                                         request_timeout_ms=5000, **self.client))
            for lane in progress.LANE_INPUTS:
                self._groups[lane] = await _started(AIOKafkaConsumer(
                    bootstrap_servers=self.kafka, group_id=progress.lane_group(lane), enable_auto_commit=False,
                    request_timeout_ms=5000, **self.client))
        return self._ends

    async def sample(self) -> BrokerSample:
        """Per lane, its input partitions; and the end offsets of `alerts`."""
        ends_client = await self._connect()
        inputs = {lane: await partitions_of(ends_client, map(topics.named, names))
                  for lane, names in progress.LANE_INPUTS.items()}
        alerts = await partitions_of(ends_client, [topics.named(topics.ALERTS)])
        every = [tp for tps in inputs.values() for tp in tps] + alerts
        ends = await ends_client.end_offsets(every) if every else {}
        lanes = {}
        for lane, tps in inputs.items():
            group = self._groups[lane]
            lanes[lane] = {tp: Partition(ends[tp], max(0, await group.committed(tp) or 0)) for tp in tps}
        return lanes, {tp: ends[tp] for tp in alerts}

    async def close(self) -> None:
        for client in [*([self._ends] if self._ends else []), *self._groups.values()]:
            with contextlib.suppress(Exception):
                await client.stop()
        self._ends, self._groups = None, {}


async def _started(client: AIOKafkaConsumer) -> AIOKafkaConsumer:
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise
    return client


class HealthWatch:
    def __init__(self, kafka: str, redis: Redis, settings: HealthSettings,
                 feed_offsets: Callable[[], Awaitable[dict[int, int]]], feed_consuming: Callable[[], bool],
                 extra: Callable[[], dict[str, Component]] = dict, security: KafkaSecurity | None = None,
                 partners: Iterable[str] = ()) -> None:
        self.settings = settings
        self.redis = redis
        self.broker = BrokerOffsets(kafka, security or KafkaSecurity())
        self.stalls = Stalls()
        self._feed_offsets = feed_offsets
        self._feed_consuming = feed_consuming
        self._extra = extra
        self._partners = tuple(partners)
        self.latest = STARTING
        self._sampling = asyncio.Lock()
        self._offsets: tuple[float, BrokerSample] | None = None  # when the broker was last asked, and its answer

    async def current(self) -> Sample:
        """The latest sample; the first one is taken on demand, so a new center answers at once."""
        if self.latest is STARTING:
            async with self._sampling:
                if self.latest is STARTING:
                    self.latest = await self.sample()
        return self.latest

    async def run(self) -> None:
        try:
            while True:
                started = time.monotonic()
                try:
                    async with self._sampling:
                        self.latest = await self.sample()
                except Exception:  # the watch must outlive anything it watches
                    log.exception("health sample failed")
                await asyncio.sleep(max(0.05, self.settings.sample_s - (time.monotonic() - started)))
        finally:
            await self.broker.close()

    async def sample(self) -> Sample:
        now = time.time()
        components: dict[str, Component] = {}
        result = Sample(components)
        records: dict[str, progress.ProcessRecord] = {}
        feed_offsets: dict[int, int] | None = None
        try:
            await asyncio.wait_for(self.redis.ping(), ASK_TIMEOUT_S)
            raw = await asyncio.wait_for(self.redis.hgetall(progress.PROCESSES), ASK_TIMEOUT_S)
            records = {_text(k): progress.ProcessRecord.model_validate_json(v) for k, v in raw.items()}
            feed_offsets = await asyncio.wait_for(self._feed_offsets(), ASK_TIMEOUT_S)
            components["redis"] = Component("ok", "reachable")
        except Exception as error:  # any failure means unreachable
            components["redis"] = Component("down", f"unreachable ({type(error).__name__})")
        await self._sample_broker(result, now, feed_offsets)
        processes = {name: c for name, record in records.items() if (c := process_component(record, now))}
        components.update({f"process:{name}": c for name, c in sorted(processes.items())})
        components["cameras"] = summary("cameras", {n: c for n, c in processes.items() if n.startswith("camera")})
        components["receivers"] = summary("receivers", {n: c for n, c in processes.items() if n.startswith("receiver")})
        history = await self._history(now)
        if history is not None:
            components["history"] = history
        result.restarts = {name: record.restarts for name, record in records.items() if now - record.seen <= GONE_RECORD_S}
        components.update(self._extra())
        if self._partners:
            await self._sample_partners(components, now)
        return result

    async def _sample_partners(self, components: dict[str, Component], now: float) -> None:
        try:
            reports = await asyncio.wait_for(outbox.reports(self.redis), ASK_TIMEOUT_S)
        except Exception as error:  # Redis away: already down above
            for partner in self._partners:
                components[f"partner:{partner}"] = Component("degraded", f"unknown: Redis unreachable ({type(error).__name__})")
            return
        for partner in self._partners:
            components[f"partner:{partner}"] = partner_component(reports.get(partner), now)

    async def _history(self, now: float) -> Component | None:
        expected = bool(os.environ.get("CENTINELA_POSTGRES"))  # `up` gives it to the center with the writer
        try:
            keys = sorted(await asyncio.wait_for(self.redis.smembers(history_progress.WRITERS), ASK_TIMEOUT_S))
            raw = await asyncio.wait_for(self.redis.mget(keys), ASK_TIMEOUT_S) if keys else []
        except Exception as error:  # Redis away: already down above
            return Component("degraded", f"unknown: Redis unreachable ({type(error).__name__})") if expected else None
        gone = [key for key, value in zip(keys, raw, strict=True) if value is None]
        if gone:
            with contextlib.suppress(Exception):
                await self.redis.srem(history_progress.WRITERS, *gone)
        records = [history_progress.WriterRecord.model_validate_json(v) for v in raw if v is not None]
        return history_component(records, now, self.settings.stall_s, expected)

    async def _sample_broker(self, result: Sample, now: float, feed_offsets: dict[int, int] | None) -> None:
        components = result.components
        try:
            if self._offsets is None or now - self._offsets[0] >= self.settings.broker_sample_s:
                self._offsets = (now, await asyncio.wait_for(self.broker.sample(), ASK_TIMEOUT_S * 2))
            asked, (lanes, alerts_ends) = self._offsets
        except Exception as error:  # any failure means unreachable; connect afresh next time
            self._offsets = None
            await self.broker.close()
            components["kafka"] = Component("down", f"unreachable ({type(error).__name__})")
            for lane in progress.LANE_INPUTS:
                components[f"lane:{lane}"] = Component("degraded", "unknown: the broker does not answer")
            components["feed"] = Component("degraded", "unknown: the broker does not answer")
            return
        components["kafka"] = Component("ok", "reachable")
        for lane, partitions in lanes.items():
            group = progress.lane_group(lane)
            stalled = {tp: self.stalls.stalled_for(group, tp, p, asked) for tp, p in partitions.items()}
            components[f"lane:{lane}"] = lane_component(lane, group, partitions, stalled, self.settings.stall_s)
            for tp, p in partitions.items():
                key = (group, tp.topic)
                result.lag[key] = result.lag.get(key, 0) + p.waiting
        behind = None
        if feed_offsets is not None:
            behind = sum(max(0, end - feed_offsets.get(tp.partition, 0)) for tp, end in alerts_ends.items())
            result.lag[("center", topics.named(topics.ALERTS))] = behind
        if not self._feed_consuming():
            components["feed"] = Component("degraded", "connecting to the alerts topic")
        else:
            components["feed"] = Component("ok", "consuming" + ("" if behind is None else f", {behind} behind"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
