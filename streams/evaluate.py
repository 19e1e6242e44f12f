"""The evaluate agent: the one writer of every zone's alerts.

zone.events is keyed by zone and carries everything that may change a zone: admitted
device events, operators' actions, supervisors' silence commands and timer ticks. The
consumer of a zone's partition is therefore the only writer of that zone, in one order,
on any number of workers.

Each batch runs through the pure engine and its alert snapshots, one per change, are
published at once.
The zones' states are saved to Redis at most every SAVE_EVERY_S, and only then are the
events behind them acknowledged. A crash or a rebalance before a save replays those
events onto the last saved state, which re-publishes identical snapshots (same alert id
and version): consumers that keep the newest version see every alert exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime

import faust
import redis.asyncio as aioredis
from faust.types import EventT
from kafka.partitioner.default import murmur2
from pydantic import ValidationError
from pydantic_core import to_json

from alert_rules.engine import Outcome, RuleEngine, ZoneState
from alert_rules.events import Alert, OperatorAction
from alert_rules.rules import SilenceCommand
from centinela.config import Config
from streams import codec, topics
from streams.batching import in_batches
from streams.codec import Tick, ZoneItem, decode_zone_items

log = logging.getLogger("centinela.evaluate")

BATCH = 100  # messages; one can carry a zone's 500 admitted events, so memory stays bounded
# Bounds both the Redis writes and what a crash replays. A busy zone's state is ~250 KB:
# saving 8 of them every 0.1 s blocked the event loop ~20 % of the time and tripled latency.
SAVE_EVERY_S = 1.0
YIELD_EVERY = 200  # items applied between two turns of the event loop (~5 ms of work)
TIMER_S = 0.5
TICK_RESEND_S = 3.0  # a tick not yet applied after this long is sent again

STATE = "centinela:zone:"  # + zone id: the engine's ZoneState as JSON
DEADLINES = "centinela:deadlines"  # zone id -> when its next timer is due (epoch seconds; inf: none)


def zone_of(item: ZoneItem) -> str:
    return item.tick if isinstance(item, Tick) else item.zone_id


def moment(item: ZoneItem) -> datetime:
    if isinstance(item, (Tick, OperatorAction, SilenceCommand)):
        return item.at
    return item.admitted_at


def apply(engine: RuleEngine, state: ZoneState, item: ZoneItem) -> Outcome:
    if isinstance(item, Tick):
        return engine.tick(state, item.at)
    if isinstance(item, OperatorAction):
        return engine.act(state, item)
    if isinstance(item, SilenceCommand):
        return engine.silence(state, item)
    return engine.evaluate(state, item, item.admitted_at)


class ZoneStore:
    """Zone states and their next deadlines in Redis (append-only file: survives restarts).

    While this worker owns a zone's partition it is the zone's only writer, so the states
    in memory are the truth and Redis is their copy; `forget()` at every rebalance.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.states: dict[str, ZoneState] = {}
        self.dirty: set[str] = set()

    def forget(self) -> None:
        self.states.clear()
        self.dirty.clear()

    async def load(self, zone_ids: set[str]) -> dict[str, ZoneState]:
        missing = [z for z in zone_ids if z not in self.states]
        if missing:
            found = await self.client.mget([STATE + z for z in missing])
            self.states.update(
                (z, ZoneState.from_json(json.loads(raw))) for z, raw in zip(missing, found) if raw is not None)
        return self.states

    async def save(self, engine: RuleEngine) -> None:
        if not self.dirty:
            return
        pipe = self.client.pipeline(transaction=True)
        for zone_id in self.dirty:
            state = self.states[zone_id]
            due = engine.next_deadline(state)
            pipe.set(STATE + zone_id, to_json(state.to_json(), inf_nan_mode="constants"))
            pipe.zadd(DEADLINES, {zone_id: due.timestamp() if due else math.inf})
        await pipe.execute()
        self.dirty.clear()

    async def due(self, now: float) -> tuple[set[str], set[str]]:
        """The zones whose timers are due, and every zone that has a state."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zrangebyscore(DEADLINES, "-inf", now)
        pipe.zrange(DEADLINES, 0, -1)
        due, known = await pipe.execute()
        return {z.decode() for z in due}, {z.decode() for z in known}


def partition_of(zone_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as in Java)."""
    return (murmur2(zone_id.encode()) & 0x7FFFFFFF) % partitions


class Evaluator:
    """Applies batches of zone items, publishes their alerts, saves and acknowledges."""

    def __init__(self, engine: RuleEngine, store: ZoneStore, alerts: faust.TopicT) -> None:
        self.engine = engine
        self.store = store
        self.alerts = alerts
        self.stream: faust.StreamT | None = None
        self.unsaved: list[EventT] = []
        self.sending: list[Awaitable[object]] = []
        self.saved_at = time.monotonic()
        self.lock = asyncio.Lock()
        self.ticked: dict[str, float] = {}  # zone -> when its last tick was sent, until applied

    async def process(self, batch: Sequence[EventT]) -> None:
        async with self.lock:
            try:
                await self._apply(batch)
            except BaseException:  # the engine may have changed states that will never be saved
                self.forget()
                raise
            self.unsaved.extend(batch)
            await self._save_if_due()

    async def save_if_due(self) -> None:
        async with self.lock:
            await self._save_if_due()

    async def _save_if_due(self) -> None:
        if time.monotonic() - self.saved_at >= SAVE_EVERY_S:
            await self._save()

    def forget(self) -> None:
        """Drop what is not saved; its events are not acknowledged, so they come again."""
        self.unsaved.clear()
        self.sending.clear()
        self.store.forget()

    async def _apply(self, batch: Sequence[EventT]) -> None:
        snapshots: list[Alert] = []
        since_yield = 0
        for event in batch:
            try:
                items = decode_zone_items(event.message.value)
            except (ValidationError, ValueError, TypeError) as error:  # only we write this topic: a bug, not input
                log.error("zone.events: skipped an undecodable message: %s", error)
                continue
            states = await self.store.load({zone_of(i) for i in items})
            for item in items:
                zone_id = zone_of(item)
                state = states.get(zone_id)
                if state is None:
                    state = states[zone_id] = self.engine.new_state(zone_id, since=moment(item))
                try:
                    snapshots.extend(apply(self.engine, state, item).alerts)
                except Exception:  # one bad item must not stop the zone's other alerts
                    log.exception("the engine failed on an item of zone %s", zone_id)
                self.store.dirty.add(zone_id)
                if isinstance(item, Tick):
                    self.ticked.pop(zone_id, None)
            since_yield += len(items)
            if since_yield >= YIELD_EVERY:  # a burst of motion must not hold the loop that admits panics
                await self._publish(snapshots)
                snapshots, since_yield = [], 0
                await asyncio.sleep(0)
        await self._publish(snapshots)

    async def _publish(self, snapshots: Sequence[Alert]) -> None:
        self.sending += [await self.alerts.send(key=a.zone_id.encode(), value=a) for a in snapshots]

    async def _save(self) -> None:
        await asyncio.gather(*self.sending)  # alerts delivered before the states that caused them are saved
        self.sending.clear()
        await self.store.save(self.engine)
        if self.stream is not None:
            for event in self.unsaved:
                await self.stream.ack(event)
        self.unsaved.clear()
        self.saved_at = time.monotonic()


def install(app: faust.App, config: Config, redis_url: str, partitions: int) -> None:
    engine = RuleEngine(config.city, config.rules)
    store = ZoneStore(aioredis.Redis.from_url(redis_url))
    inbox_name = topics.named(topics.ZONE_EVENTS)
    inbox = app.topic(inbox_name, key_serializer="raw", value_serializer="raw")
    ticks = app.topic(inbox_name, key_serializer="raw", value_serializer=codec.ZONE)
    alerts = app.topic(topics.named(topics.ALERTS), key_serializer="raw", value_serializer=codec.ALERT)
    evaluator = Evaluator(engine, store, alerts)
    zones = [z.id for z in config.city.zones]

    @app.on_partitions_revoked.connect
    async def on_revoked(*_: object, **__: object) -> None:
        async with evaluator.lock:  # after the batch in flight, never in the middle of it
            evaluator.forget()

    async def evaluate(stream: faust.StreamT) -> None:
        evaluator.stream = stream
        async for batch in in_batches(stream, BATCH):
            await evaluator.process(batch)

    app.agent(inbox, name="evaluate")(evaluate)

    @app.timer(TIMER_S, name="wake_due_zones")
    async def wake_due_zones() -> None:
        """Save what a quiet stream left unsaved; tick each owned zone whose timers are due."""
        await evaluator.save_if_due()
        owned_partitions = {tp.partition for tp in app.consumer.assignment() if tp.topic == inbox_name}
        if not owned_partitions:
            return
        wall = time.time()
        due, known = await store.due(wall)
        now = datetime.now(UTC)
        for zone_id in sorted(due | (set(zones) - known)):
            if partition_of(zone_id, partitions) not in owned_partitions or wall - evaluator.ticked.get(zone_id, 0) < TICK_RESEND_S:
                continue
            evaluator.ticked[zone_id] = wall
            await ticks.send(key=zone_id.encode(), value=Tick(tick=zone_id, at=now))
