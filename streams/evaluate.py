"""The evaluate agent: the one writer of every zone's alerts.

zone.events is keyed by zone and carries everything that may change a zone: admitted
device events, operators' actions, supervisors' silence commands and timer ticks. The
consumer of a zone's partition is therefore the only writer of that zone, in one order,
on any number of workers.

Each batch runs through the pure engine and its alert snapshots, one per change, are
published at once. The zones' states are saved to a Faust table (`streams.zone_state`)
at most every SAVE_EVERY_S, and only then are the events behind them acknowledged. A crash
or a rebalance before a save replays those events onto the last saved state, which
re-publishes identical snapshots (same alert id and version): consumers that keep the
newest version see every alert exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import faust
import redis.asyncio as aioredis
from faust.types import EventT

from alert_rules.city import City
from alert_rules.engine import Outcome, RuleEngine, ZoneState
from alert_rules.rules import Rules, SilenceCommand
from streams.batching import in_batches
from streams.codec import Tick, ZoneItem, decode_zone_items
from streams.flow import Progress
from streams.zone_state import Save, ZoneStore, partition_of
from vocabulary import internal, topics
from vocabulary.events import Alert, OperatorAction

log = logging.getLogger("centinela.evaluate")

BATCH = 100  # messages; one can carry a zone's 500 admitted events, so memory stays bounded
# Bounds both the table writes and what a crash replays. A busy zone's state is ~250 KB:
# saving 8 of them every 0.1 s blocked the event loop ~20 % of the time and tripled latency.
SAVE_EVERY_S = 1.0
YIELD_EVERY = 200  # items applied between two turns of the event loop (~5 ms of work)
TIMER_S = 0.5
TICK_RESEND_S = 3.0  # a tick not yet applied after this long is sent again

TABLE = "zone-state"  # its changelog topic: {app id}-zone-state-changelog


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


def held_back_by_silences(outcome: Outcome, zone_id: str) -> dict[str, int]:
    """"silence id|zone" -> signals held back so far: absolute counts, so a replay writes the same."""
    state = outcome.state
    return {f"{h.by.removeprefix('silence:')}|{zone_id}": state.held_back[h.by].count
            for h in outcome.held_back if h.by.startswith("silence:") and h.by in state.held_back}


class Tally:
    """What the console and /metrics show of this lane, kept in Redis; a Redis outage costs a count, never the lane."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def forged(self, count: int) -> None:
        try:
            await self.redis.hincrby(topics.prefix() + internal.FORGED_COUNTS, topics.ZONE_EVENTS, count)
        except aioredis.RedisError:
            log.warning("could not count %d forged messages in Redis", count)

    async def held_back(self, counts: dict[str, int]) -> None:
        try:
            await self.redis.hset(topics.prefix() + internal.HELD_BACK, mapping=counts)  # type: ignore[arg-type]
        except aioredis.RedisError:
            log.warning("could not record what %d silences held back", len(counts))


class Evaluator:
    """Applies batches of zone items, publishes their alerts, saves and acknowledges."""

    def __init__(self, engine: RuleEngine, store: ZoneStore, alerts: faust.TopicT,
                 applied: Callable[[Sequence[EventT]], Awaitable[None]], secret: bytes, tally: Tally) -> None:
        self.engine = engine
        self.secret = secret  # the internal key: only what Centinela wrote is applied
        self.tally = tally
        self.store = store
        self.alerts = alerts
        self.applied = applied  # tells motion admission how far evaluation is (streams.flow)
        self.stream: faust.StreamT | None = None
        self.unsaved: list[EventT] = []
        self.sending: list[Awaitable[object]] = []
        self.saved_at = time.monotonic()
        self.lock = asyncio.Lock()  # held while states change: applying a batch, taking a save, forgetting
        self.writing = asyncio.Lock()  # held while a save is written, so that events go on being applied
        self.ticked: dict[str, float] = {}  # zone -> when its last tick was sent, until its state is saved
        self.write_task: asyncio.Future[None] | None = None

    async def process(self, batch: Sequence[EventT]) -> None:
        async with self.lock:
            try:
                await self._apply(batch)
            except BaseException:  # the engine may have changed states that will never be saved
                self.forget()
                raise
            self.unsaved.extend(batch)
            await self._save_if_due()
        await self.applied(batch)

    async def save_if_due(self) -> None:
        async with self.lock:
            await self._save_if_due()

    def due_zones(self, zones: Sequence[str], wall: float) -> list[str]:
        """The zones to tick now: due, or not yet loaded since this worker was assigned them."""
        due = [z for z in zones if self.store.deadlines.get(z, -1.0) <= wall
               and wall - self.ticked.get(z, 0.0) >= TICK_RESEND_S]
        self.ticked.update((z, wall) for z in due)
        return due

    async def _save_if_due(self) -> None:
        if time.monotonic() - self.saved_at >= SAVE_EVERY_S and not self.writing.locked():
            await self.writing.acquire()
            save, delivering, applied = self.store.take(self.engine), self.sending, self.unsaved
            self.sending, self.unsaved, self.saved_at = [], [], time.monotonic()
            self.write_task = asyncio.ensure_future(self._write(save, delivering, applied))

    async def _write(self, save: Save, delivering: list[Awaitable[object]], applied: list[EventT]) -> None:
        """Deliver the alerts, then the states that caused them; only then acknowledge the events applied."""
        try:
            await asyncio.gather(*delivering)
            await self.store.write(save)
            for zone_id in save.zones:
                self.ticked.pop(zone_id, None)
            if self.stream is not None:
                for event in applied:
                    await self.stream.ack(event)
        except Exception:  # the next save writes these zones again; the events wait for it
            log.exception("saving %d zones failed; they are saved again next time", len(save.zones))
            self.store.dirty |= save.zones
            self.unsaved[:0] = applied
        finally:
            self.writing.release()

    def forget(self) -> None:
        """Drop what is not saved; its events are not acknowledged, so they come again."""
        self.unsaved.clear()
        self.sending.clear()
        self.ticked.clear()
        self.store.forget()

    async def _apply(self, batch: Sequence[EventT]) -> None:
        snapshots: list[Alert] = []
        since_yield, ignored = 0, 0
        held: dict[str, int] = {}
        for event in batch:
            message, value = event.message, event.message.value or b""
            if not internal.verify(self.secret, topics.ZONE_EVENTS, message.key, value, message.headers):
                ignored += 1
                continue
            try:
                items = decode_zone_items(value)
            except Exception as error:  # RecursionError included: nothing on the topic may stop the lane
                log.error("zone.events: skipped an undecodable message (%s)", type(error).__name__)
                ignored += 1
                continue
            for item in items:
                zone_id = zone_of(item)
                state = self.store.load(zone_id)
                if state is None:
                    state = self.store.states[zone_id] = self.engine.new_state(zone_id, since=moment(item))
                try:
                    outcome = apply(self.engine, state, item)
                    snapshots.extend(outcome.alerts)
                    held.update(held_back_by_silences(outcome, zone_id))
                except Exception:  # one bad item must not stop the zone's other alerts
                    log.exception("the engine failed on an item of zone %s", zone_id)
                self.store.dirty.add(zone_id)
            since_yield += len(items)
            if since_yield >= YIELD_EVERY:  # a burst of motion must not hold the loop that admits panics
                await self._publish(snapshots)
                snapshots, since_yield = [], 0
                await asyncio.sleep(0)
        await self._publish(snapshots)
        if ignored:
            log.warning("zone.events: ignored %d unauthenticated or undecodable messages", ignored)
            await self.tally.forged(ignored)
        if held:
            await self.tally.held_back(held)

    async def _publish(self, snapshots: Sequence[Alert]) -> None:
        for alert in snapshots:
            key, body = alert.zone_id.encode(), alert.model_dump_json().encode()
            self.sending.append(await self.alerts.send(
                key=key, value=body, headers=internal.headers(self.secret, topics.ALERTS, key, body)))


def install(app: faust.App, city: City, rules: Rules, redis_url: str, partitions: int, secret: bytes) -> None:
    engine = RuleEngine(city, rules)
    redis = aioredis.Redis.from_url(redis_url)
    progress = Progress(redis)
    # Raw bytes in and out, partitioned by key (the zone id) like zone.events, from agent or timer alike.
    table = app.Table(TABLE, partitions=partitions, key_type=bytes, value_type=bytes, use_partitioner=True)
    store = ZoneStore(table, partitions)
    inbox_name = topics.named(topics.ZONE_EVENTS)
    inbox = app.topic(inbox_name, key_serializer="raw", value_serializer="raw")
    ticks = app.topic(inbox_name, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(topics.named(topics.ALERTS), key_serializer="raw", value_serializer="raw")
    evaluator = Evaluator(engine, store, alerts, progress.applied, secret, Tally(redis))
    zones = [z.id for z in city.zones]

    @app.on_partitions_revoked.connect
    async def on_revoked(*_: object, **__: object) -> None:
        # After the batch and the save in flight: a zone's next owner starts from what is written.
        async with evaluator.lock, evaluator.writing:
            evaluator.forget()

    async def evaluate(stream: faust.StreamT) -> None:
        evaluator.stream = stream
        async for batch in in_batches(stream, BATCH):
            await evaluator.process(batch)

    app.agent(inbox, name="evaluate")(evaluate)

    @app.timer(TIMER_S, name="wake_due_zones")
    async def wake_due_zones() -> None:
        """Save what a quiet stream left unsaved; tick each owned zone whose timers are due.

        A zone this worker has not loaded since it was assigned is ticked once: applying the
        tick recovers its state, fires what fell due meanwhile, and makes its deadline known.
        """
        await evaluator.save_if_due()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == inbox_name}
        mine = [z for z in zones if partition_of(z, partitions) in owned]
        now = datetime.now(UTC)
        for zone_id in evaluator.due_zones(mine, now.timestamp()):
            key, body = zone_id.encode(), Tick(tick=zone_id, at=now).model_dump_json().encode()
            await ticks.send(key=key, value=body, headers=internal.headers(secret, topics.ZONE_EVENTS, key, body))
