"""Evaluation: the one writer of every zone's alerts.

zone.events is keyed by zone and carries everything that may change a zone: admitted
device events, operators' actions, supervisors' silence commands and timer ticks. The
consumer of a zone's partition is therefore the only writer of that zone, in one order,
on any number of workers.

Each batch runs through the pure engine and its alert snapshots, one per change, are
published at once. At most every SAVE_EVERY_S, once those snapshots are delivered, the
changed zones' states and each partition's applied position are written to Redis in one
atomic step (`streams.zone_records`); only then are the events acknowledged. After a crash
or a rebalance the partition's next owner starts from that step: it skips what the
position covers and replays the rest onto the saved states, which re-publishes identical
snapshots (same alert id and version) for what was applied but not saved. Consumers that
keep the newest version see every alert exactly once.

This module knows no Faust: it takes `Consumed` batches and is given how to publish and
acknowledge (`streams.ports`); `streams.faust_adapter` wires it to a lane.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

import redis.asyncio as aioredis
from pydantic_core import to_json

from alert_rules.engine import CheckinDay, Outcome, RuleEngine, ZoneState
from alert_rules.rules import SilenceCommand
from streams import checkin_days
from streams.codec import Tick, ZoneItem, decode_zone_items
from streams.ports import Ack, Consumed
from streams.publish import Publisher
from streams.zone_records import Advance, Position, Saved, ZoneRecords
from vocabulary import internal, topics
from vocabulary.events import Alert, OperatorAction, ZoneEvent

log = logging.getLogger("centinela.evaluate")

# Bounds both the writes and what a crash replays. A busy zone's state is large under a
# flood; saving on every batch would write it dozens of times a second.
SAVE_EVERY_S = 0.5
YIELD_EVERY = 200  # items applied between two turns of the event loop (~5 ms of work)
TICK_RESEND_S = 3.0  # a tick not yet applied after this long is sent again


def zone_of(item: ZoneItem) -> str:
    return item.tick if isinstance(item, Tick) else item.zone_id


def moment(item: ZoneItem) -> datetime:
    if isinstance(item, (Tick, OperatorAction, SilenceCommand)):
        return item.at
    return item.admitted_at


def urgent(item: ZoneItem) -> bool:
    """Panics, alarm signals and people's commands: anything but camera motion and timer ticks."""
    if isinstance(item, ZoneEvent):
        return item.motion is None
    return not isinstance(item, Tick)


def urgent_first(todo: list[tuple[Consumed, list[ZoneItem]]]) -> tuple[list[tuple[Consumed, list[ZoneItem]]], int]:
    """The batch with every zone that has an urgent item first (each zone keeps its own order), and how many.

    Zones are independent, so this changes no outcome; it only keeps a panic from waiting while
    other zones' camera motion is applied.
    """
    hurried = {zone_of(item) for _, items in todo for item in items if urgent(item)}
    first = [entry for entry in todo if any(zone_of(item) in hurried for item in entry[1])]
    rest = [entry for entry in todo if not any(zone_of(item) in hurried for item in entry[1])]
    return first + rest, len(first)


def apply(engine: RuleEngine, state: ZoneState, item: ZoneItem, into: Outcome | None = None) -> Outcome:
    """Apply one item; a device event is added to `into`, the outcome of its message's events before it."""
    if isinstance(item, Tick):
        return engine.tick(state, item.at)
    if isinstance(item, OperatorAction):
        return engine.act(state, item)
    if isinstance(item, SilenceCommand):
        return engine.silence(state, item)
    return engine.evaluate(state, item, item.admitted_at, into)


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
            await self.redis.hset(topics.prefix() + internal.HELD_BACK, mapping=counts)  # type: ignore[arg-type]  # redis-py types hset's mapping too narrowly
        except aioredis.RedisError:
            log.warning("could not record what %d silences held back", len(counts))

    async def checkins(self, days: list[CheckinDay]) -> None:
        """The day's check-in rows of saved zones; one lost is written again at the zone's next save."""
        try:
            await checkin_days.record(self.redis, days)
        except aioredis.RedisError:
            log.warning("could not record %d check-in rows", len(days))


def _encode(value: object) -> bytes:
    return to_json(value, inf_nan_mode="constants")


class StateEncoder:
    """A zone state's JSON for Redis, with each unresolved alert encoded once per version.

    Under load a busy zone holds a couple of hundred unresolved alerts and is saved twice a
    second: encoding it whole took a quarter of the evaluate lane's time, in front of the next
    panic. Every change of an alert record raises its version (the engine publishes every
    change; `tests/unit/test_engine_properties.py` holds it to that), so an alert whose version
    is the one last encoded is taken as it was. The JSON is the same as `ZoneState.to_json()`'s.
    """

    def __init__(self) -> None:
        self.encoded: dict[str, dict[str, tuple[int, bytes]]] = {}  # zone -> alert id -> (version, JSON)

    def dump(self, state: ZoneState) -> bytes:
        before = self.encoded.get(state.zone_id, {})
        now: dict[str, tuple[int, bytes]] = {}
        for alert_id, record in state.alerts.items():
            known = before.get(alert_id)
            now[alert_id] = known if known is not None and known[0] == record.version else (
                record.version, _encode(record.to_json()))
        self.encoded[state.zone_id] = now
        alerts = b",".join(encoded for _, encoded in now.values())
        return b'{"alerts":[' + alerts + b"]," + _encode(state.to_json_but_alerts())[1:]


class Evaluator:
    """Applies batches of zone items, publishes their alerts, saves states with positions, acknowledges."""

    def __init__(self, engine: RuleEngine, records: ZoneRecords, publisher: Publisher, ack: Ack,
                 applied: Callable[[Sequence[Consumed]], Awaitable[None]], give_up: Callable[[str], None],
                 secret: bytes, tally: Tally) -> None:
        self.engine = engine
        self.secret = secret  # the internal key: only what Centinela wrote is applied
        self.tally = tally
        # When what was applied can no longer be saved as it is (an alert not delivered, another
        # worker's save): the lane must start again from what Redis holds, so it ends itself.
        self.give_up = give_up
        self.records = records
        self.publisher = publisher
        self.ack = ack
        self.applied = applied  # tells motion admission and the lane's health how far evaluation is
        self.states: dict[str, ZoneState] = {}
        self.encoder = StateEncoder()
        self.dirty: set[str] = set()
        self.deadlines: dict[str, float] = {}  # zone -> when its timer is next due (inf: never)
        self.stored: dict[int, Position | None] = {}  # partition -> position in Redis, read once per assignment
        self.reached: dict[int, Position] = {}  # partition -> newest applied, not yet taken for a save
        self.fresh: dict[int, internal.Freshness] = {}  # partition -> its producers (refuses replays)
        self.unsaved: list[Consumed] = []
        self.sending: list[asyncio.Future[object]] = []
        self.saved_at = time.monotonic()
        self.lock = asyncio.Lock()  # held while states change: applying a batch, taking a save, forgetting
        self.writing = asyncio.Lock()  # held while a save is written, so that events go on being applied
        self.ticked: dict[str, float] = {}  # zone -> when its last tick was sent, until its state is saved
        self.attaching: set[str] = set()  # zones known to be in Redis's set of zones that attach motion
        self.write_task: asyncio.Future[None] | None = None

    async def process(self, batch: Sequence[Consumed]) -> None:
        async with self.lock:
            try:
                await self._apply(batch)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # states half changed: only a fresh start from Redis is sure
                log.exception("applying a batch failed")
                self.give_up(f"applying a batch failed: {error}")
                return
            self.unsaved.extend(batch)
            await self._save_if_due()
        await self.applied(batch)

    async def save_if_due(self) -> None:
        async with self.lock:
            await self._save_if_due()

    async def revoke(self) -> None:
        """The partitions go elsewhere: after the batch and the write in flight, forget all unsaved."""
        async with self.lock, self.writing:
            self.forget()

    def due_zones(self, zones: Sequence[str], wall: float) -> list[str]:
        """The zones to tick now: due, or not yet loaded since this worker was assigned them."""
        due = [z for z in zones if self.deadlines.get(z, -1.0) <= wall
               and wall - self.ticked.get(z, 0.0) >= TICK_RESEND_S]
        self.ticked.update((z, wall) for z in due)
        return due

    def forget(self) -> None:
        """Drop what is not saved; its events are not acknowledged, so they come again."""
        for held in (self.states, self.dirty, self.deadlines, self.stored, self.fresh, self.reached, self.ticked,
                     self.attaching, self.encoder.encoded):
            held.clear()
        self.unsaved.clear()
        self.sending.clear()

    async def _apply(self, batch: Sequence[Consumed]) -> None:
        fresh = {c.partition for c in batch} - self.stored.keys()
        self.stored.update(await self.records.positions(fresh))
        self.fresh.update(await self.records.freshness(fresh))
        todo: list[tuple[Consumed, list[ZoneItem]]] = []
        passed: list[tuple[Consumed, internal.Stamp]] = []
        ignored = 0
        now_ms = time.time_ns() // 1_000_000
        for message in batch:
            stored = self.stored[message.partition]
            claimed = internal.stamp_of(message.headers)
            if stored is not None and claimed is not None and stored.covers(message.offset, claimed.at_ms):
                continue  # applied and saved before a crash or a handover (or refused before, and now again)
            stamp = internal.verify(self.secret, topics.ZONE_EVENTS, message.key, message.value, message.headers,
                                    message.partition)
            if stamp is None or not self.fresh[message.partition].accept(stamp, now_ms):
                ignored += 1  # forged, copied from another partition, or a replay: it moves nothing
                continue
            items: list[ZoneItem] = []
            try:
                items = decode_zone_items(message.value or b"")
            except Exception as error:  # RecursionError included: nothing on the topic may stop the lane
                log.error("zone.events: skipped an undecodable message (%s)", type(error).__name__)
                ignored += 1
            todo.append((message, items))
            passed.append((message, stamp))  # authentic, applied or not: its position is reached
        if ignored:
            log.warning("zone.events: ignored %d unauthenticated, replayed or undecodable messages", ignored)
            await self.tally.forged(ignored)
        await self._load({zone_of(item) for _, items in todo for item in items})
        ordered, hurried = urgent_first(todo)
        snapshots: list[Alert] = []
        held: dict[str, int] = {}
        since_yield = 0
        for n, (_, items) in enumerate(ordered):
            if n == hurried and snapshots:  # the urgent zones' alerts are handed to the producer first
                await self._publish(snapshots)
                snapshots = []
                await asyncio.sleep(0)  # its sender takes them now, not after the motion
            folding: Outcome | None = None  # a message's events are one zone's: their attachments fold
            outcomes: list[Outcome] = []  # the message's: one for all its events, or its one other item's
            for item in items:
                zone_id = zone_of(item)
                state = self.states.get(zone_id)
                if state is None:
                    state = self.states[zone_id] = self.engine.new_state(zone_id, since=moment(item))
                try:
                    outcome = apply(self.engine, state, item, folding)
                except Exception:  # one bad item must not stop the zone's other alerts
                    log.exception("the engine failed on an item of zone %s", zone_id)
                else:
                    if outcome is not folding:
                        outcomes.append(outcome)
                    if isinstance(item, ZoneEvent):
                        folding = outcome
                self.dirty.add(zone_id)
            for outcome in outcomes:  # taken once the message is applied: a folded outcome grows until then
                snapshots.extend(outcome.alerts)
                held.update(held_back_by_silences(outcome, outcome.state.zone_id))
            since_yield += len(items)
            if since_yield >= YIELD_EVERY:  # a burst of motion must not hold the loop that admits panics
                await self._publish(snapshots)
                snapshots, since_yield = [], 0
                await asyncio.sleep(0)
        await self._publish(snapshots)
        for message, stamp in passed:  # in offset order
            self._reach(message, stamp)
        if held:
            await self.tally.held_back(held)

    def _reach(self, message: Consumed, stamp: internal.Stamp) -> None:
        before = self.reached.get(message.partition) or self.stored[message.partition]
        self.reached[message.partition] = (
            Position(message.offset, stamp.at_ms) if before is None else before.then(message.offset, stamp.at_ms))

    async def _load(self, zone_ids: Iterable[str]) -> None:
        """The saved states of these zones, for those not in memory."""
        for zone_id, raw in (await self.records.states(set(zone_ids) - self.states.keys())).items():
            if raw is None:
                continue
            try:
                self.states[zone_id] = ZoneState.from_json(json.loads(raw))
            except (ValueError, KeyError, TypeError) as error:  # a bug, not input: start the zone afresh, loudly
                log.error("zone %s: its saved state does not load (%s); it starts afresh", zone_id, error)

    async def _publish(self, snapshots: Sequence[Alert]) -> list[asyncio.Future[object]]:
        """Send the snapshots; first, tell motion admission of zones where motion now attaches to an alert."""
        newly = {a.zone_id for a in snapshots} - self.attaching
        newly = {z for z in newly if self.engine.attaches_motion(self.states[z])}
        if newly:
            await self.records.mark_attaching(newly)
            self.attaching |= newly
        sent: list[asyncio.Future[object]] = [
            asyncio.ensure_future(await self.publisher.publish(topics.ALERTS, a.zone_id, a)) for a in snapshots]
        self.sending += sent
        return sent

    async def _save_if_due(self) -> None:
        if time.monotonic() - self.saved_at >= SAVE_EVERY_S and not self.writing.locked() and self.unsaved:
            await self.writing.acquire()
            states = {zone_id: Saved(self.encoder.dump(self.states[zone_id]), self.engine.attaches_motion(self.states[zone_id]))
                      for zone_id in sorted(self.dirty)}
            self.attaching = {z for z in self.attaching if z not in states} | {z for z, s in states.items() if s.attaching}
            for zone_id in self.dirty:
                due = self.engine.next_deadline(self.states[zone_id])
                self.deadlines[zone_id] = due.timestamp() if due else math.inf
            advances = {p: Advance(self.stored[p], to, self.fresh[p].encode()) for p, to in self.reached.items()}
            delivering, applied = self.sending, self.unsaved
            self.dirty, self.reached, self.sending, self.unsaved = set(), {}, [], []
            self.saved_at = time.monotonic()
            self.write_task = asyncio.ensure_future(self._write(states, advances, delivering, applied))

    async def _write(self, states: dict[str, Saved], advances: dict[int, Advance],
                     delivering: Sequence[Awaitable[object]], applied: list[Consumed]) -> None:
        """Deliver the alerts, then the states and positions that caused them; only then acknowledge."""
        try:
            await self._deliver_then_save(states, advances, delivering, applied)
        finally:
            self.writing.release()

    async def _deliver_then_save(self, states: dict[str, Saved], advances: dict[int, Advance],
                                 delivering: Sequence[Awaitable[object]], applied: list[Consumed]) -> None:
        try:
            await asyncio.gather(*delivering)
        except Exception as error:  # states that published what never arrived must not be saved
            self.give_up(f"an alert was not delivered: {error}")
            return
        # A zone where an alert motion attaches to opened after the take stays in the set.
        states = {z: Saved(s.state, s.attaching or z in self.attaching) for z, s in states.items()}
        try:
            saved = not advances or await self.records.save(states, advances)
        except Exception:  # Redis away: the next save writes these zones again; the events wait for it
            log.exception("saving %d zones failed; they are saved again next time", len(states))
            self.dirty |= states.keys()
            for partition, advance in advances.items():
                self.reached.setdefault(partition, advance.to)
            self.unsaved[:0] = applied
            return
        if not saved:
            self.give_up(f"another worker has saved partitions {sorted(advances)} since this one read them")
            return
        self.stored.update((p, advance.to) for p, advance in advances.items())
        await self.tally.checkins([day for z in states for day in self.engine.checkin_days(self.states[z])])
        for zone_id in states:
            self.ticked.pop(zone_id, None)
        marked_meanwhile = {z for z, s in states.items() if not s.attaching and z in self.attaching}
        if marked_meanwhile:  # marked while the save was on its way: the save may have removed it
            await self.records.mark_attaching(marked_meanwhile)
        await self.ack(applied)
