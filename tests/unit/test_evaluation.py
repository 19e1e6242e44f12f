"""Evaluation's logic without Faust or Redis: saves, acknowledgements, crashes, handovers, fencing.

The partition, its zone records and the alerts topic are in memory (`Memory`), with the
same all-or-nothing, fenced save as the Redis script (which tests/integration/test_zone_records.py
checks on a real Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace

import pytest

import streams.evaluate as evaluate
from alert_rules.engine import CheckinDay, RuleEngine, zone_event
from alert_rules.rules import Rules
from streams.codec import ZoneBatch
from streams.evaluate import Evaluator
from streams.ports import Consumed
from streams.publish import Publisher
from streams.zone_records import Advance, Position, Saved
from tests.unit.test_engine import CITY, alarm, at, beep
from vocabulary import internal

KEY = b"k" * 32


class Memory:
    """zone.events partition 0, the alerts topic and Redis's zone records, all in memory."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.positions: dict[int, Position] = {}
        self.freshness: dict[int, str] = {}
        self.saved: dict[str, bytes] = {}
        self.alerts: list[dict] = []  # type: ignore[type-arg]
        self.fail_saves = 0
        self.attaching: set[str] = set()

    async def positions_of(self, partitions: set[int]) -> dict[int, Position | None]:
        return {p: self.positions.get(p) for p in partitions}

    async def states(self, zone_ids: set[str]) -> dict[str, bytes | None]:
        return {z: self.saved.get(z) for z in zone_ids}

    async def save(self, states: Mapping[str, Saved], advances: Mapping[int, Advance]) -> bool:
        if self.fail_saves:
            self.fail_saves -= 1
            raise ConnectionError("redis is away")
        if any(self.positions.get(p) != a.base for p, a in advances.items()):
            self.log.append("fenced")
            return False
        self.saved.update((z, saved.state) for z, saved in states.items())
        self.attaching = (self.attaching - states.keys()) | {z for z, saved in states.items() if saved.attaching}
        self.positions.update((p, a.to) for p, a in advances.items())
        self.freshness.update((p, a.freshness) for p, a in advances.items())
        self.log.append(f"saved {sorted(states)} through {[a.to.offset for a in advances.values()]}")
        return True

    async def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes,
                   headers: list[tuple[str, bytes]]) -> Awaitable[object]:
        import json

        assert internal.verify(KEY, "alerts", key, value, headers, partition), "every alert carries its MAC"
        self.alerts.append(json.loads(value))
        self.log.append(f"sent {topic}")
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.add_done_callback(lambda _: self.log.append(f"delivered {topic}"))
        delivered.set_result(None)
        return delivered


class Records:
    """The ZoneRecords port on Memory."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    async def positions(self, partitions: set[int]) -> dict[int, Position | None]:
        return await self.memory.positions_of(set(partitions))

    async def states(self, zone_ids: set[str]) -> dict[str, bytes | None]:
        return await self.memory.states(set(zone_ids))

    async def freshness(self, partitions: set[int]) -> dict[int, internal.Freshness]:
        return {p: internal.Freshness.decode(self.memory.freshness.get(p)) for p in partitions}

    async def save(self, states: Mapping[str, Saved], advances: Mapping[int, Advance]) -> bool:
        return await self.memory.save(states, advances)

    async def mark_attaching(self, zone_ids: set[str]) -> None:
        self.memory.attaching |= set(zone_ids)
        self.memory.log.append(f"attaching {sorted(zone_ids)}")


class Counted:
    """The lane's tally (forged messages, what silences held back), in memory."""

    def __init__(self) -> None:
        self.forged_counts: list[int] = []
        self.held: dict[str, int] = {}
        self.checkin_rows: list[CheckinDay] = []

    async def forged(self, count: int) -> None:
        self.forged_counts.append(count)

    async def held_back(self, counts: dict[str, int]) -> None:
        self.held.update(counts)

    async def checkins(self, days: list[CheckinDay]) -> None:
        self.checkin_rows += days


def evaluator(memory: Memory, acked: list[int], gave_up: list[str] | None = None,
              tally: Counted | None = None) -> Evaluator:
    async def ack(batch: Sequence[Consumed]) -> None:
        acked.extend(m.offset for m in batch)
        memory.log.append(f"acked {[m.offset for m in batch]}")

    async def nothing(_: Sequence[Consumed]) -> None:
        return None

    def give_up(reason: str) -> None:
        (gave_up if gave_up is not None else []).append(reason)
        memory.log.append("gave up")

    return Evaluator(RuleEngine(CITY, Rules()), Records(memory), Publisher(memory.send, KEY, 1),  # type: ignore[arg-type]
                     ack, nothing, give_up, KEY, tally or Counted())  # type: ignore[arg-type]


SIGNER = internal.Signer(KEY)


def signed(offset: int, produced_ms: int, key: bytes, value: bytes, secret: bytes = KEY) -> Consumed:
    """A zone.events message on partition 0 as Centinela writes it: with its MAC under the internal key,
    stamped `produced_ms` by one producer."""
    signer = SIGNER if secret == KEY else internal.Signer(secret)
    return Consumed("zone.events", 0, offset, produced_ms, key, value,
                    signer.headers("zone.events", 0, key, value, at_ms=produced_ms))


def panics(first_offset: int, ids: Sequence[str], produced_ms: int = 1_000) -> list[Consumed]:
    """One zone.events message per panic of bpr-1 (zone norte), at consecutive offsets."""
    messages = []
    for n, event_id in enumerate(ids):
        admitted = zone_event(CITY, beep(event_id, s=n), at(n))
        assert admitted is not None
        value = ZoneBatch(zone_id="norte", events=[admitted]).model_dump_json().encode()
        messages.append(signed(first_offset + n, produced_ms + first_offset + n, b"norte", value))
    return messages


@pytest.fixture(autouse=True)
def save_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate, "SAVE_EVERY_S", 0.0)


async def settle(e: Evaluator) -> None:
    """Let the save in flight finish."""
    async with e.writing:
        pass


def test_states_and_positions_are_saved_after_the_alerts_are_delivered_and_only_then_acknowledged() -> None:
    memory, acked = Memory(), []

    async def run() -> None:
        e = evaluator(memory, acked)
        await e.process(panics(0, ["p1", "p2"]))
        await settle(e)
    asyncio.run(run())
    assert memory.log == ["attaching ['norte']", "sent alerts", "sent alerts", "delivered alerts", "delivered alerts",
                          "saved ['norte'] through [1]", "acked [0, 1]"]
    assert memory.positions[0] == Position(1, 1_001)
    assert memory.attaching == {"norte"}, "motion in norte now attaches to its panic alert"


def test_a_crash_before_a_save_replays_onto_the_saved_state_with_the_same_snapshots() -> None:
    memory, acked = Memory(), []
    stream = panics(0, ["p1", "p2", "p3", "p4"])

    async def run() -> None:
        first = evaluator(memory, acked)
        await first.process(stream[:2])
        await settle(first)
        evaluate.SAVE_EVERY_S = 3600.0  # the next batch is applied and published, then the worker dies unsaved
        await first.process(stream[2:])
        published_before_crash = list(memory.alerts)
        evaluate.SAVE_EVERY_S = 0.0
        second = evaluator(memory, acked)  # the partition's next owner gets everything not acknowledged
        await second.process(stream[2:])
        await settle(second)
        assert memory.alerts[len(published_before_crash):] == published_before_crash[2:], \
            "the replay must re-publish identical snapshots"
    asyncio.run(run())
    latest = memory.alerts[-1]
    assert latest["count"] == 4 and latest["event_ids"] == ["p1", "p2", "p3", "p4"] and latest["version"] == 4
    assert len({a["alert_id"] for a in memory.alerts}) == 1


def test_what_the_stored_position_covers_is_skipped_not_applied_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    memory, acked = Memory(), []
    stream = panics(0, ["p1", "p2", "p3"])
    applied: list[str] = []
    engine_apply = evaluate.apply

    def counting(engine, state, item, into=None):  # type: ignore[no-untyped-def]
        applied.append(item.event.event_id)
        return engine_apply(engine, state, item, into)
    monkeypatch.setattr(evaluate, "apply", counting)

    async def run() -> None:
        first = evaluator(memory, acked)
        await first.process(stream)
        await settle(first)
        published = len(memory.alerts)
        # Saved, but killed before the broker took the commit: the messages come again.
        second = evaluator(memory, acked)
        await second.process(stream)
        await settle(second)
        assert len(memory.alerts) == published, "a covered message published again"
    asyncio.run(run())
    assert applied == ["p1", "p2", "p3"], "the engine saw a covered message again"
    assert acked == [0, 1, 2, 0, 1, 2], "skipped messages are acknowledged too"


def test_a_topic_created_afresh_by_a_restarted_broker_is_applied_from_offset_zero() -> None:
    memory, acked = Memory(), []

    async def run() -> None:
        first = evaluator(memory, acked)
        await first.process(panics(0, ["p1", "p2", "p3"], produced_ms=1_000))
        await settle(first)
        # The embedded broker restarted: zone.events starts at offset 0 again, produced later.
        second = evaluator(memory, acked)
        await second.process(panics(0, ["p4"], produced_ms=9_000))
        await settle(second)
    asyncio.run(run())
    assert memory.alerts[-1]["event_ids"] == ["p1", "p2", "p3", "p4"]
    assert memory.positions[0] == Position(0, 9_000)


def test_a_worker_that_lost_its_partition_cannot_overwrite_the_new_owners_save() -> None:
    memory, acked_old, acked_new, gave_up = Memory(), [], [], []
    stream = panics(0, ["p1", "p2", "p3"])

    async def run() -> None:
        old = evaluator(memory, acked_old, gave_up)
        evaluate.SAVE_EVERY_S = 3600.0
        await old.process(stream[:1])  # reads the position, applies, has not saved yet
        evaluate.SAVE_EVERY_S = 0.0
        new = evaluator(memory, acked_new)  # a rebalance the old one has not noticed
        await new.process(stream)
        await settle(new)
        saved = dict(memory.saved)
        await old.process(stream[1:2])
        await settle(old)
        assert memory.saved == saved, "the stale worker wrote nothing"
    asyncio.run(run())
    assert memory.log[-2:] == ["fenced", "gave up"] and len(gave_up) == 1
    assert acked_new == [0, 1, 2] and acked_old == []
    assert memory.positions[0].offset == 2


def test_an_alert_not_delivered_ends_the_lane_before_its_state_is_saved() -> None:
    memory, acked, gave_up = Memory(), [], []

    async def undeliverable(topic: str, partition: int | None, key: bytes | None, value: bytes,
                            headers: list[tuple[str, bytes]]) -> Awaitable[object]:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(ConnectionError("the broker is away"))
        return failed

    async def run() -> None:
        e = evaluator(memory, acked, gave_up)
        e.publisher = Publisher(undeliverable, KEY, 1)
        await e.process(panics(0, ["p1"]))
        await settle(e)
    asyncio.run(run())
    assert gave_up and memory.saved == {} and acked == []


def test_a_failed_save_is_made_again_and_the_events_wait_for_it() -> None:
    memory, acked = Memory(), []
    memory.fail_saves = 1

    async def run() -> None:
        e = evaluator(memory, acked)
        await e.process(panics(0, ["p1"]))
        await settle(e)
        assert acked == []
        await e.process(panics(1, ["p2"]))
        await settle(e)
    asyncio.run(run())
    assert acked == [0, 1]
    assert memory.positions[0].offset == 1


def test_a_rebalance_waits_for_the_write_in_flight_then_forgets() -> None:
    memory, acked = Memory(), []

    async def run() -> None:
        e = evaluator(memory, acked)
        await e.process(panics(0, ["p1"]))
        await e.revoke()
        assert acked == [0], "the save in flight finished before the partitions went"
        assert not e.states and not e.stored and not e.unsaved
    asyncio.run(run())


def test_zones_not_loaded_since_the_assignment_are_ticked_once_then_by_deadline() -> None:
    e = evaluator(Memory(), [])
    assert e.due_zones(["norte", "centro"], 100.0) == ["norte", "centro"]
    assert e.due_zones(["norte", "centro"], 101.0) == []
    e.deadlines["norte"] = 200.0
    assert e.due_zones(["norte"], 100.0 + evaluate.TICK_RESEND_S) == []
    assert e.due_zones(["norte"], 200.0) == ["norte"]


def test_zones_with_a_panic_are_applied_and_published_before_other_zones_motion(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_engine import motion

    memory, acked = Memory(), []
    applied: list[str] = []
    engine_apply = evaluate.apply

    def spying(engine, state, item, into=None):  # type: ignore[no-untyped-def]
        applied.append(item.event.event_id)
        return engine_apply(engine, state, item, into)
    monkeypatch.setattr(evaluate, "apply", spying)
    camera = zone_event(CITY, motion("m1", camera="cam-1"), at(0))  # zone centro
    assert camera is not None
    batch = [signed(0, 1_000, b"centro", ZoneBatch(zone_id="centro", events=[camera]).model_dump_json().encode()),
             *panics(1, ["p1"])]  # zone norte

    async def run() -> None:
        e = evaluator(memory, acked)
        await e.process(batch)
        await settle(e)
    asyncio.run(run())
    assert applied == ["p1", "m1"]
    assert memory.positions[0].offset == 1 and acked == [0, 1], "positions still follow the offsets"


def test_only_authenticated_decodable_zone_events_are_applied_and_the_rest_counted_and_passed() -> None:
    memory, acked, tally = Memory(), [], Counted()
    admitted = zone_event(CITY, beep("e9"), at(0))
    assert admitted is not None
    body = ZoneBatch(zone_id="norte", events=[admitted]).model_dump_json().encode()
    moved = signed(5, 1_005, b"sur", body)
    batch = [
        Consumed("zone.events", 0, 0, 1_000, b"norte", body, []),  # no MAC: a device pretending to be admission
        signed(1, 1_001, b"norte", body, secret=b"x" * 32),  # a MAC under another key
        Consumed("zone.events", 0, 2, 1_002, b"norte", body, [(internal.HEADER, b"0" * 64)]),
        signed(3, 1_003, b"norte", b"[" * 100_000),  # authenticated, but nested past the parser's depth
        signed(4, 1_004, b"norte", b"\xff\xfe"),
        Consumed("zone.events", 0, 5, 1_005, b"centro", body, moved.headers),  # the MAC covers the key
        signed(6, 1_006, b"norte", body),
    ]

    async def run() -> None:
        e = evaluator(memory, acked, tally=tally)
        await e.process(batch)
        await settle(e)
    asyncio.run(run())
    assert tally.forged_counts == [6]
    assert len(memory.alerts) == 1, "the one authentic event is applied"
    assert memory.positions[0].offset == 6 and acked == list(range(7)), "the rest is passed, not retried forever"


def test_a_zone_marked_for_motion_while_a_save_is_on_its_way_stays_marked() -> None:
    memory, acked = Memory(), []
    centro = zone_event(CITY, alarm("a1", 602), at(0))  # a test report: centro changes, nothing to attach to
    assert centro is not None

    async def run() -> None:
        e = evaluator(memory, acked)
        await e.process([signed(0, 1_000, b"centro",
                                ZoneBatch(zone_id="centro", events=[centro]).model_dump_json().encode())])
        assert e.write_task is not None and not e.write_task.done(), "the save is on its way"
        e.attaching.add("centro")  # a burglary alert opened in centro meanwhile, and was marked
        memory.attaching.add("centro")
        await settle(e)
    asyncio.run(run())
    assert "centro" in memory.attaching


def test_the_cameras_one_message_attaches_to_an_alert_are_published_as_one_snapshot() -> None:
    from tests.unit.test_engine import motion

    memory, acked = Memory(), []
    fire = zone_event(CITY, alarm("a1", 110), at(0))  # priority 1 in zone centro
    cameras = [zone_event(CITY, motion(f"m{n}", snapshot=f"/s/{n}.jpg", episode=f"mo-{n}", s=1), at(1)) for n in range(5)]
    assert fire is not None and all(cameras)
    batches = [signed(n, 1_000 + n, b"centro", ZoneBatch(zone_id="centro", events=events).model_dump_json().encode())
               for n, events in enumerate([[fire], cameras])]  # type: ignore[list-item]

    async def run() -> None:
        e = evaluator(memory, acked)
        await e.process(batches)
        await settle(e)
    asyncio.run(run())
    assert [(a["version"], a["change"], a["snapshot"]) for a in memory.alerts] == [
        (1, "opened", None), (2, "camera_attached", "/s/4.jpg")]
    assert memory.alerts[-1]["event_ids"] == ["a1", "m0", "m1", "m2", "m3", "m4"]


YEAR_2100_MS = 4_102_444_800_000


def test_a_forged_far_future_message_moves_no_position_and_a_genuine_panic_after_it_still_alerts() -> None:
    memory, acked, tally = Memory(), [], Counted()
    admitted = zone_event(CITY, beep("forged"), at(0))
    assert admitted is not None
    body = ZoneBatch(zone_id="norte", events=[admitted]).model_dump_json().encode()
    forged = Consumed("zone.events", 0, 7, YEAR_2100_MS, b"norte", body,  # broker timestamp and stamp: 2100
                      [(internal.HEADER, b"0" * 64), ("centinela-stamp", f"0.forger.1.{YEAR_2100_MS}".encode())])

    async def run() -> None:
        first = evaluator(memory, acked, tally=tally)
        await first.process([forged])
        await settle(first)
        restarted = evaluator(memory, acked, tally=tally)  # a topic created afresh: offsets start again at 0
        await restarted.process(panics(0, ["p1"]))
        await settle(restarted)
    asyncio.run(run())
    assert tally.forged_counts == [1] and acked == [7, 0]
    assert [a["event_ids"] for a in memory.alerts] == [["p1"]], "the genuine panic gives its alert"
    assert memory.positions[0] == Position(0, 1_000), "only the genuine message moved the position"


def test_genuine_messages_replayed_after_the_zone_forgot_them_are_refused() -> None:
    from alert_rules.rules import SilenceCommand
    from streams.codec import Tick
    from vocabulary.events import OperatorAction

    memory, acked, tally = Memory(), [], Counted()
    opened: list[bytes] = []

    def admitted(event_id: str, s: float) -> bytes:
        event = zone_event(CITY, beep(event_id, s=s), at(s))
        assert event is not None
        body = ZoneBatch(zone_id="norte", events=[event]).model_dump_json().encode()
        opened.append(body)
        return body

    def silence(command_id: str, action: str, s: float) -> bytes:
        return SilenceCommand.model_validate({
            "silence_command": command_id, "zone_id": "norte", "action": action, "at": at(s).isoformat(),
            "silence": {"id": "rt-1", "match": {"zone": ["norte"]}, "starts_at": at(0).isoformat(),
                        "ends_at": at(86_400).isoformat(), "author": "Supervisor", "reason": "works"}},
        ).model_dump_json().encode()

    def action(name: str, alert_id: str, s: float) -> bytes:
        return OperatorAction.model_validate({
            "action_id": f"{name}-{s}", "alert_id": alert_id, "zone_id": "norte", "action": name, "by": "Operator 1",
            "at": at(s).isoformat(), "responder": "mobile-1" if name == "dispatch" else None,
            "disposition": "real" if name == "resolve" else None}).model_dump_json().encode()

    async def run() -> None:
        e = evaluator(memory, acked, tally=tally)
        first = signed(0, 1_000, b"norte", admitted("p0", 0))
        await e.process([first])
        alert_id = memory.alerts[-1]["alert_id"]
        dispatch = signed(1, 1_005, b"norte", action("dispatch", alert_id, 5))
        add = signed(3, 1_020, b"norte", silence("c1", "add", 20))
        await e.process([dispatch, signed(2, 1_010, b"norte", action("resolve", alert_id, 10)), add,
                         signed(4, 1_030, b"norte", silence("c2", "end", 30)),
                         signed(5, 2_000_000, b"norte", Tick(tick="norte", at=at(2_000)).model_dump_json().encode())])
        await settle(e)
        await e.save_if_due()
        await settle(e)
        assert memory.positions[0].offset == 5
        assert not e.states["norte"].seen, "the zone has forgotten every id it applied"
        restarted = evaluator(memory, acked, tally=tally)  # however long after, and on another worker
        replays = [replace(m, offset=6 + n) for n, m in enumerate((first, dispatch, add))]
        await restarted.process([*replays, signed(9, 2_010_000, b"norte", admitted("p1", 2_010))])
        await settle(restarted)
    asyncio.run(run())
    assert [(a["event_ids"], a["change"]) for a in memory.alerts] == [
        (["p0"], "opened"), (["p0"], "dispatched"), (["p0"], "resolved"), (["p1"], "opened")], \
        "the retired alert stays retired, nothing is re-dispatched, and the ended silence holds nothing back"
    assert tally.forged_counts == [3]


def test_a_genuine_message_copied_into_another_partition_is_refused() -> None:
    memory, acked, tally = Memory(), [], Counted()
    [genuine] = panics(0, ["p1"])

    async def run() -> None:
        e = evaluator(memory, acked, tally=tally)
        await e.process([replace(genuine, partition=1)])
        await settle(e)
    asyncio.run(run())
    assert memory.alerts == [] and tally.forged_counts == [1]
