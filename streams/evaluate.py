"""The evaluate agent: the one writer of every zone's alerts.

zone.events is keyed by zone and carries everything that may change a zone: admitted
device events, operators' actions and timer ticks. The consumer of a zone's partition
is therefore the only writer of that zone, in one order, on any number of workers.

Each batch: load the touched zones' states from Redis, run the pure engine, publish the
alert snapshots and wait for delivery, then save the states, then acknowledge. A crash
anywhere replays the batch into the engine, which ignores what it has already applied
and re-publishes identical snapshots (same alert id and version), so consumers that
keep the newest version see every alert exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import faust
import redis.asyncio as aioredis
from kafka.partitioner.default import murmur2
from pydantic import ValidationError

from alert_rules.engine import Outcome, RuleEngine, ZoneState
from alert_rules.events import Contract, Id, OperatorAction, Timestamp, ZoneEvent
from centinela.config import Config
from streams import topics

log = logging.getLogger("centinela.evaluate")

BATCH = 500
BATCH_WAIT_S = 0.002
TIMER_S = 0.5
TICK_RESEND_S = 3.0  # a tick not yet applied after this long is sent again

STATE = "centinela:zone:"  # + zone id: the engine's ZoneState as JSON
DEADLINES = "centinela:deadlines"  # zone id -> when its next timer is due (epoch seconds; inf: none)


class Tick(Contract):
    """Wakes a zone's timers (supervision, escalation) at `at`."""

    tick: Id
    at: Timestamp


Item = ZoneEvent | OperatorAction | Tick


def decode(raw: bytes) -> Item:
    data = json.loads(raw)
    if "tick" in data:
        return Tick.model_validate(data)
    if "action_id" in data:
        return OperatorAction.model_validate(data)
    return ZoneEvent.model_validate(data)


def zone_of(item: Item) -> str:
    return item.tick if isinstance(item, Tick) else item.zone_id


def moment(item: Item) -> datetime:
    if isinstance(item, Tick):
        return item.at
    if isinstance(item, OperatorAction):
        return item.at
    return item.admitted_at


def apply(engine: RuleEngine, state: ZoneState, item: Item) -> Outcome:
    if isinstance(item, Tick):
        return engine.tick(state, item.at)
    if isinstance(item, OperatorAction):
        return engine.act(state, item)
    return engine.evaluate(state, item, item.admitted_at)


class ZoneStore:
    """Zone states and their next deadlines, in Redis (append-only file: survives restarts)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def load(self, zone_ids: list[str]) -> dict[str, ZoneState]:
        found = await self.client.mget([STATE + z for z in zone_ids]) if zone_ids else []
        return {z: ZoneState.from_json(json.loads(raw)) for z, raw in zip(zone_ids, found) if raw is not None}

    async def save(self, engine: RuleEngine, states: Iterable[ZoneState]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for state in states:
            due = engine.next_deadline(state)
            pipe.set(STATE + state.zone_id, json.dumps(state.to_json(), separators=(",", ":")))
            pipe.zadd(DEADLINES, {state.zone_id: due.timestamp() if due else math.inf})
        await pipe.execute()

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


def install(app: faust.App, config: Config, redis_url: str, partitions: int) -> None:
    engine = RuleEngine(config.city, config.rules)
    store = ZoneStore(aioredis.Redis.from_url(redis_url))
    inbox_name = topics.named(topics.ZONE_EVENTS)
    inbox = app.topic(inbox_name, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(topics.named(topics.ALERTS), key_serializer="raw", value_serializer="raw")
    zones = [z.id for z in config.city.zones]
    ticked: dict[str, float] = {}

    async def apply_batch(raws: list[bytes]) -> None:
        items: list[Item] = []
        for raw in raws:
            try:
                items.append(decode(raw))
            except (ValidationError, ValueError, TypeError) as error:  # only we write this topic: a bug, not input
                log.error("zone.events: skipped an undecodable message: %s", error)
        states = await store.load(sorted({zone_of(i) for i in items}))
        snapshots = []
        for item in items:
            zone_id = zone_of(item)
            state = states.get(zone_id)
            if state is None:
                state = states[zone_id] = engine.new_state(zone_id, since=moment(item))
            try:
                snapshots.extend(apply(engine, state, item).alerts)
            except Exception:  # one bad item must not stop the zone's other alerts
                log.exception("the engine failed on an item of zone %s", zone_id)
            if isinstance(item, Tick):
                ticked.pop(zone_id, None)
        sent = [await alerts.send(key=a.zone_id.encode(), value=a.model_dump_json().encode()) for a in snapshots]
        await asyncio.gather(*sent)
        await store.save(engine, states.values())

    async def evaluate(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(BATCH, within=BATCH_WAIT_S):
            await apply_batch([event.message.value for event in batch])

    app.agent(inbox, name="evaluate")(evaluate)

    @app.timer(TIMER_S, name="wake_due_zones")
    async def wake_due_zones() -> None:
        """Send a tick to each zone this worker owns whose timers are due, or that has no state yet."""
        owned_partitions = {tp.partition for tp in app.consumer.assignment() if tp.topic == inbox_name}
        if not owned_partitions:
            return
        wall = time.time()
        due, known = await store.due(wall)
        wanted = due | (set(zones) - known)
        now = datetime.now(UTC)
        for zone_id in sorted(wanted):
            if partition_of(zone_id, partitions) not in owned_partitions or wall - ticked.get(zone_id, 0) < TICK_RESEND_S:
                continue
            ticked[zone_id] = wall
            await inbox.send(key=zone_id.encode(), value=Tick(tick=zone_id, at=now).model_dump_json().encode())
