"""`centinela rules test` and `centinela rules replay`: what events do under the rules.

Both read raw device events as devices publish them: a PanicBeep, AlarmSignal or
MotionEvent object, told apart by its id field (device_id, panel_id, camera_id), or an
object `{"topic": "devices.alarms", "value": {...}}` as a Kafka dump gives them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alert_rules.city import City
from alert_rules.contact_id import describe
from alert_rules.engine import Outcome, RuleEngine, ZoneState, zone_event
from centinela.config import config_dir, load_config
from vocabulary.errors import UsageError
from vocabulary.events import (
    INPUT_MODELS,
    AlarmSignal,
    Alert,
    DeviceEvent,
    MotionEvent,
    PanicBeep,
    format_timestamp,
)

ID_FIELDS: dict[str, type[PanicBeep] | type[AlarmSignal] | type[MotionEvent]] = {
    "device_id": PanicBeep,
    "panel_id": AlarmSignal,
    "camera_id": MotionEvent,
}


class BadInput(UsageError):
    """One line that says what is wrong with an input."""


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = sub.add_parser("rules", help="try the alert rules on events")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")

    test = rules_sub.add_parser("test", help="say what one event would do (like amtool config routes test)")
    test.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    test.add_argument("event", type=Path, help="a JSON file holding one device event")
    test.add_argument("--after", type=Path, help="replay these events (JSON lines) first, silently")
    test.set_defaults(run=run_test)

    replay = rules_sub.add_parser("replay", help="run a recorded stream of events through the rules")
    replay.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    replay.add_argument("events", type=Path, help="JSON lines, one device event per line")
    replay.add_argument("--quiet", action="store_true", help="print only the final alerts and the summary")
    replay.add_argument("--drain", type=float, default=0.0, metavar="SECONDS",
                        help="keep running timers this long after the last event")
    replay.set_defaults(run=run_replay)


def parse_event(text: str) -> DeviceEvent:
    """A raw device event, or one wrapped as {"topic", "value"}; BadInput says why not."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadInput("not a JSON object")
    model: type[PanicBeep] | type[AlarmSignal] | type[MotionEvent] | None
    if "topic" in data and "value" in data:
        topic = str(data["topic"])
        model = next((m for name, m in INPUT_MODELS.items() if topic.endswith(name)), None)
        if model is None:
            raise BadInput(f"topic {topic!r} is not one of {', '.join(INPUT_MODELS)}")
        data = data["value"]
        if not isinstance(data, dict):
            raise BadInput("value is not a JSON object")
    else:
        model = next((m for name, m in ID_FIELDS.items() if name in data), None)
        if model is None:
            raise BadInput("no device_id, panel_id or camera_id: not a device event")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or model.__name__
        raise BadInput(f"{model.__name__} {where}: {first['msg']}") from None


def _load(config: str | None) -> tuple[City, RuleEngine]:
    loaded = load_config(config_dir(config))
    return loaded.city, RuleEngine(loaded.city, loaded.rules)


def _read_lines(path: Path) -> Iterator[tuple[int, str, int]]:
    """(line number, text, bytes read so far) of every non-blank line."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise BadInput(f"{path}: {error.strerror}") from None
    with handle:
        read = 0
        for number, raw in enumerate(handle, 1):
            read += len(raw)
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                yield number, text, read


@dataclass
class Replay:
    """Zone states, timers run between events, and what happened, for a recorded stream."""

    city: City
    engine: RuleEngine
    states: dict[str, ZoneState] = field(default_factory=dict)
    deadlines: dict[str, datetime | None] = field(default_factory=dict)
    now: datetime | None = None
    latest: dict[str, Alert] = field(default_factory=dict)
    changes: Counter[str] = field(default_factory=Counter)
    opened_by_priority: Counter[int] = field(default_factory=Counter)
    held_back: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    printing: bool = True

    def feed(self, number: int, text: str) -> Outcome | None:
        self.counts["lines"] += 1
        try:
            event = parse_event(text)
        except BadInput as error:
            self._problem(number, str(error))
            return None
        # event time drives the clock, which never runs backwards
        now = event.ts if self.now is None or event.ts > self.now else self.now
        self.run_timers(now)
        admitted = zone_event(self.city, event, now)
        if admitted is None:
            self._problem(number, f"unknown source {event.source_id}")
            return None
        self.counts["admitted"] += 1
        outcome = self.engine.evaluate(self.state(admitted.zone_id), admitted, now)
        self.counts["duplicates"] += outcome.duplicate
        self._record(outcome)
        return outcome

    def run_timers(self, until: datetime) -> None:
        if self.now is None:
            for zone in self.city.zones:
                self.states[zone.id] = self.engine.new_state(zone.id, until)
                self.deadlines[zone.id] = self.engine.next_deadline(self.states[zone.id])
        self.now = until
        while True:
            due = [(at, zone_id) for zone_id, at in self.deadlines.items() if at is not None and at <= until]
            if not due:
                return
            at, zone_id = min(due)
            self._record(self.engine.tick(self.states[zone_id], at))

    def state(self, zone_id: str) -> ZoneState:
        state = self.states.get(zone_id)
        if state is None:
            assert self.now is not None
            state = self.states[zone_id] = self.engine.new_state(zone_id, self.now)
        return state

    def _record(self, outcome: Outcome) -> None:
        self.deadlines[outcome.state.zone_id] = self.engine.next_deadline(outcome.state)
        for alert in outcome.alerts:
            self.latest[alert.alert_id] = alert
            self.changes[alert.change] += 1
            if alert.change == "opened":
                self.opened_by_priority[alert.priority] += 1
            if self.printing:
                print(alert_line(alert))
        for held in outcome.held_back:
            self.held_back[held.by] += 1
            if self.printing:
                print(f"{'':24}  held back  {held.route.category} from {held.source_id} by {held.by}")

    def _problem(self, number: int, reason: str) -> None:
        self.counts["not admitted"] += 1
        if len(self.problems) < 10:
            self.problems.append(f"line {number}: {reason}")


def alert_line(alert: Alert) -> str:
    return (f"{format_timestamp(alert.updated_at):24}  {alert.change:<15} P{alert.priority} "
            f"{alert.category:<11} {alert.zone_id:<16} {alert.alert_id:<28} {alert.status:<12} "
            f"x{alert.count:<4} {alert.title}")


def run_test(args: argparse.Namespace) -> int:
    city, engine = _load(args.config)
    try:
        text = args.event.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{args.event}: {getattr(error, 'strerror', None) or error}") from None
    event = parse_event(text)
    replay = Replay(city, engine, printing=False)
    if args.after:
        for number, line, _ in _read_lines(args.after):
            replay.feed(number, line)
    now = event.ts if replay.now is None or event.ts > replay.now else replay.now
    replay.run_timers(now)
    admitted = zone_event(city, event, now)
    print(f"event    {describe_event(event)}")
    if admitted is None:
        print(f"zone     none: {event.source_id} is not registered, so admission rejects it (unknown_device)")
        return 0
    print(f"zone     {admitted.zone_id} ({why_zone(city, event, admitted.zone_id)})")
    state = replay.state(admitted.zone_id)
    outcome = engine.evaluate(state, admitted, now)
    route = outcome.route
    if route is not None:
        print(f"rule     {route.rule}: {route.category}, priority {route.priority}")
    policy = engine.policy(admitted.zone_id)
    for alert in outcome.alerts:
        print(f"alert    {alert.change} {alert.alert_id}: P{alert.priority} {alert.category} {alert.status}, "
              f"count {alert.count}, \"{alert.title}\"")
        deadline = policy.escalation_s[alert.priority]
        if alert.status == "open" and deadline is not None and alert.change == "opened":
            print(f"         escalates every {deadline:g} s until acknowledged")
    for held in outcome.held_back:
        print(f"held     {held.by} holds back this {held.route.category} signal")
    for note in outcome.notes:
        if not outcome.held_back or "holds back" not in note:
            print(f"note     {note}")
    if not outcome.alerts and not outcome.held_back:
        print("result   no alert changes")
    return 0


def describe_event(event: DeviceEvent) -> str:
    at = format_timestamp(event.ts)
    if isinstance(event, PanicBeep):
        return f"PanicBeep {event.event_id} from beeper {event.device_id} at {at}: {event.kind}"
    if isinstance(event, AlarmSignal):
        return (f"AlarmSignal {event.event_id} from panel {event.panel_id} at {at}: qualifier {event.qualifier}, "
                f"code {event.code} ({describe(event.code)}), group {event.group}, zone {event.zone}")
    return (f"MotionEvent {event.event_id} from camera {event.camera_id} at {at}: {event.phase} of "
            f"{event.motion_id}, area {event.area_pct:g}%, regions {', '.join(event.regions) or 'none'}")


def why_zone(city: City, event: DeviceEvent, zone_id: str) -> str:
    if isinstance(event, PanicBeep):
        if event.location is not None and city.zone_at(event.location) is not None:
            return "its location lies in the zone"
        return "the beeper's home zone" + (": its location lies in no zone" if event.location else "")
    if isinstance(event, AlarmSignal):
        return "the panel's zone"
    return "the camera's zone"


def run_replay(args: argparse.Namespace) -> int:
    started = time.monotonic()
    city, engine = _load(args.config)
    size = args.events.stat().st_size if args.events.exists() else 0
    replay = Replay(city, engine, printing=not args.quiet)
    last_progress = started
    for number, text, read in _read_lines(args.events):
        replay.feed(number, text)
        if number % 10_000 == 0 and time.monotonic() - last_progress > 1:
            last_progress = time.monotonic()
            rate = replay.counts["lines"] / (last_progress - started)
            print(f"replay: {number} lines, {100 * read / max(size, 1):.0f}%, {rate:,.0f} lines/s",
                  file=sys.stderr)
    if replay.now is not None and args.drain > 0:
        from datetime import timedelta

        replay.run_timers(replay.now + timedelta(seconds=args.drain))
    print_summary(replay, time.monotonic() - started)
    return 0


def print_summary(replay: Replay, elapsed: float) -> None:
    alerts = sorted(replay.latest.values(), key=lambda a: (a.priority, a.opened_at, a.alert_id))
    print(f"\nalerts ({len(alerts)}), latest snapshot of each:")
    for alert in alerts:
        print("  " + alert_line(alert))
    counts = replay.counts
    print("\nsummary:")
    rows: list[tuple[str, Any]] = [
        ("lines read", counts["lines"]),
        ("events admitted", counts["admitted"]),
        ("lines not admitted", counts["not admitted"]),
        ("duplicates ignored", counts["duplicates"]),
        ("alerts opened", sum(replay.opened_by_priority.values())),
        *((f"  priority {p}", n) for p, n in sorted(replay.opened_by_priority.items())),
        ("signals grouped", replay.changes["grouped"]),
        ("signals held back", sum(replay.held_back.values())),
        *((f"  by {holder}", n) for holder, n in sorted(replay.held_back.items())),
        ("escalations published", replay.changes["escalated"]),
        ("cancels requested", replay.changes["cancel_requested"]),
        ("restores", replay.changes["restored"]),
        ("still unresolved", sum(a.status != "resolved" for a in alerts)),
        ("seconds", f"{elapsed:.2f}"),
    ]
    for name, value in rows:
        print(f"  {name:24} {value}")
    for problem in replay.problems:
        print(f"  not admitted: {problem}")
