"""The rule engine: one zone's state, an admitted event and "now" in; the new state and the
alert changes out. Pure: no I/O, no clock, no Kafka.

    engine = RuleEngine(city, rules)
    state = engine.new_state("tigre-centro", since=now)
    outcome = engine.evaluate(state, zone_event, now)      # a device event
    outcome = engine.tick(state, now)                       # supervision, check-in and escalation timers
    outcome = engine.act(state, operator_action)            # ack, dispatch, resolve, plan steps
    outcome = engine.silence(state, silence_command)        # a supervisor's run-time silence
    engine.next_deadline(state)                             # when tick() next has work

Every call updates `state` in place and returns it in the Outcome with the alert snapshots
to publish (`Outcome.alerts`, one per change, the whole alert each time); copy a state first
(`ZoneState.from_json(state.to_json())`) to keep the old one. Alert ids are derived from the
zone, category, source and first event, so a rerun gives the same ids. The same event or
action applied twice changes nothing the second time. Resolved alerts leave the state, and
every remembered id, episode and record is bounded by `Rules.limits`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from hashlib import blake2b
from typing import Any, TypeVar

from pydantic import BaseModel

from alert_rules.checkins import CheckIn, is_activity, local_day
from alert_rules.city import City
from alert_rules.contact_id import QUALIFIER_RESTORE
from alert_rules.muting import Signal, held_by
from alert_rules.plans import PlanStep
from alert_rules.rules import WEEKDAYS, MotionRule, Route, Rules, Silence, SilenceCommand, ZonePolicy
from vocabulary.events import (
    AlarmSignal,
    Alert,
    AlertSource,
    DeviceEvent,
    Location,
    MotionEvent,
    OperatorAction,
    PanicBeep,
    SourceKind,
    StepOutcome,
    ZoneEvent,
)

SUPERVISION_RULE = "supervision"
CHECKIN_RULE = "checkin"
WELFARE_PRIORITY = 3  # contract section 15
HELD_BACK_IDS = 20
MAX_EVENT_IDS = 50
MAX_STEPS = 100  # plan step outcomes kept per alert, newest last
MAX_RUNTIME_SILENCES = 100  # per zone; ended and expired ones leave the state


def _time(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


_Model = TypeVar("_Model", bound=BaseModel)


def _construct(model: type[_Model], values: dict[str, Any]) -> _Model:
    """`model.model_construct(**values)` for values that name every field, without its
    per-field bookkeeping, which costs more than the rest of the engine's hot path."""
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def group_key(category: str, source_kind: str, source_id: str) -> str:
    """Signals of one source and category group into one alert; this names that group."""
    return f"{category}|{source_kind}:{source_id}"


def alert_id_for(zone_id: str, category: str, source_kind: str, source_id: str, first: str) -> str:
    """Stable id of the alert that `first` opened: the same inputs always give the same id."""
    digest = blake2b(f"{zone_id}|{category}|{source_kind}:{source_id}|{first}".encode(), digest_size=8)
    return f"{category}-{digest.hexdigest()}"


@dataclass(slots=True)
class AlertRecord:
    """The engine's working copy of one unresolved alert; `to_alert()` is its snapshot."""

    alert_id: str
    zone_id: str
    priority: int
    category: str
    title: str
    status: str
    opened_at: float
    updated_at: float
    source_kind: str
    source_id: str
    rule: str
    count: int = 1
    event_ids: list[str] = field(default_factory=list)
    location: tuple[float, float, float | None] | None = None
    cameras: list[str] = field(default_factory=list)
    snapshot: str | None = None
    cancel_requested: bool = False
    escalation: int = 0
    version: int = 1
    change: str = "opened"
    changed_by: str = "system"
    responder: str | None = None
    disposition: str | None = None
    note: str | None = None
    address: str | None = None
    steps: list[list[Any]] = field(default_factory=list)  # [step, outcome, by, at, note], oldest first
    last_signal_at: float = 0.0
    escalate_at: float | None = None

    @property
    def group(self) -> str:
        return group_key(self.category, self.source_kind, self.source_id)

    @property
    def signal(self) -> Signal:
        return Signal(self.zone_id, self.category, self.source_id, self.priority)

    def to_alert(self) -> Alert:
        location = self.location
        return _construct(Alert, {
            "alert_id": self.alert_id, "zone_id": self.zone_id, "priority": self.priority,
            "category": self.category, "title": self.title, "status": self.status,
            "opened_at": _time(self.opened_at), "updated_at": _time(self.updated_at),
            "source": _construct(AlertSource, {"kind": self.source_kind, "id": self.source_id}),
            "count": self.count, "event_ids": list(self.event_ids),
            "location": None if location is None else _construct(
                Location, {"lat": location[0], "lon": location[1], "accuracy_m": location[2]}),
            "cameras": list(self.cameras), "snapshot": self.snapshot, "cancel_requested": self.cancel_requested,
            "escalation": self.escalation, "rule": self.rule, "version": self.version, "change": self.change,
            "changed_by": self.changed_by, "responder": self.responder, "disposition": self.disposition,
            "note": self.note, "address": self.address,
            "steps": [_construct(StepOutcome, {"step": step, "outcome": outcome, "by": by, "at": _time(at),
                                               "note": note}) for step, outcome, by, at, note in self.steps],
        })

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertRecord:
        record = cls(**data)
        if record.location is not None:
            lat, lon, accuracy = record.location  # JSON gives a list
            record.location = (lat, lon, accuracy)
        return record


@dataclass(slots=True)
class HeldBack:
    """What one silence or inhibition held back in a zone: how many signals, the latest ids."""

    count: int = 0
    event_ids: list[str] = field(default_factory=list)
    last_at: float = 0.0


@dataclass(slots=True)
class ZoneState:
    """Everything the engine remembers about one zone; JSON-serialisable and bounded."""

    zone_id: str
    since: float
    alerts: dict[str, AlertRecord] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # "category|kind:source" -> latest alert id
    seen: dict[str, float] = field(default_factory=dict)  # event and action ids -> when, oldest first
    panels_heard: dict[str, float] = field(default_factory=dict)
    overdue: dict[str, str] = field(default_factory=dict)  # panel -> alert id or "held back"
    episodes: dict[str, float] = field(default_factory=dict)  # "camera|motion_id" -> episode start (ts)
    held_back: dict[str, HeldBack] = field(default_factory=dict)
    silences: dict[str, Silence] = field(default_factory=dict)  # run-time silences by id, until they end
    # "kind:device" -> [local day "YYYY-MM-DD", its first activity or None, its welfare alert id or None]
    checkins: dict[str, list[Any]] = field(default_factory=dict)
    checkin_watch: dict[str, float] = field(default_factory=dict)  # "kind:device" -> deadlines up to here are settled

    def to_json(self) -> dict[str, Any]:
        return {"alerts": [a.to_json() for a in self.alerts.values()], **self.to_json_but_alerts()}

    def to_json_but_alerts(self) -> dict[str, Any]:
        return {
            "zone_id": self.zone_id, "since": self.since,
            "seen": self.seen, "panels_heard": self.panels_heard, "overdue": self.overdue,
            "episodes": self.episodes,
            "held_back": {k: {"count": h.count, "event_ids": h.event_ids, "last_at": h.last_at}
                          for k, h in self.held_back.items()},
            "silences": [s.model_dump(mode="json") for s in self.silences.values()],
            "checkins": self.checkins, "checkin_watch": self.checkin_watch,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ZoneState:
        alerts = [AlertRecord.from_json(a) for a in data["alerts"]]
        by_open = sorted(alerts, key=lambda a: a.opened_at)
        return cls(
            zone_id=data["zone_id"], since=data["since"],
            alerts={a.alert_id: a for a in alerts},
            groups={a.group: a.alert_id for a in by_open},
            seen=dict(data["seen"]), panels_heard=dict(data["panels_heard"]), overdue=dict(data["overdue"]),
            episodes=dict(data["episodes"]),
            held_back={k: HeldBack(v["count"], list(v["event_ids"]), v["last_at"])
                       for k, v in data["held_back"].items()},
            silences={s.id: s for s in map(Silence.model_validate, data.get("silences", ()))},
            checkins={k: list(v) for k, v in data.get("checkins", {}).items()},
            checkin_watch=dict(data.get("checkin_watch", {})),
        )


@dataclass(frozen=True, slots=True)
class Incoming:
    """A signal on its way to an alert: where its route sends it and what it brings."""

    route: Route
    source_kind: str
    source_id: str
    event_id: str | None
    title: str
    location: tuple[float, float, float | None] | None = None
    snapshot: str | None = None
    first: str | None = None  # what names the alert it opens, when not its event id
    address: str | None = None  # the panel's account's address (contract section 8)

    @property
    def group(self) -> str:
        return group_key(self.route.category, self.source_kind, self.source_id)


@dataclass(slots=True)
class HeldBackSignal:
    """A signal that raised nothing because a silence or an inhibition matched it."""

    by: str  # "silence:<id>" or "inhibition:<id>"
    route: Route
    event_id: str | None
    source_id: str


@dataclass(frozen=True, slots=True)
class CheckinDay:
    """One scheduled device's day as the zone's state knows it: the row of the day's call list."""

    kind: str  # the alert source kind: "alarm" (a panel) or "beeper"
    device_id: str
    day: date
    checked_in_at: datetime | None
    alert_id: str | None


@dataclass(slots=True)
class Outcome:
    """What one call did: the state (updated in place), alert snapshots in order, and why."""

    state: ZoneState
    alerts: list[Alert] = field(default_factory=list)
    route: Route | None = None
    held_back: list[HeldBackSignal] = field(default_factory=list)
    duplicate: bool = False
    notes: list[str] = field(default_factory=list)
    # alert id -> index in `alerts` of its latest snapshot, while that snapshot is a camera attachment
    attached: dict[str, int] = field(default_factory=dict)


class RuleEngine:
    """The rules of one city, ready to evaluate events zone by zone."""

    def __init__(self, city: City, rules: Rules) -> None:
        self.city = city
        self.rules = rules
        self._cameras = city.cameras_by_zone
        self._policies: dict[str, ZonePolicy] = {}
        self._panels_by_zone: dict[str, list[tuple[str, float]]] = {}
        # panel -> (address, location): what an alert raised by the panel carries (contract section 8)
        self._premises: dict[str, tuple[str | None, tuple[float, float, None] | None]] = {}
        for panel in city.panels:
            if panel.address is not None or panel.location is not None:
                where = None if panel.location is None else (panel.location.lat, panel.location.lon, None)
                self._premises[panel.id] = (panel.address, where)
            if panel.supervision_s:
                self._panels_by_zone.setdefault(panel.zone, []).append((panel.id, float(panel.supervision_s)))
        # "kind:device" -> its check-in, by the zone that keeps it: a panel's zone, a beeper's home zone
        self._checkins_by_zone: dict[str, dict[str, CheckIn]] = {}
        for kind, zone_id, device_id, checkin in (
            *(("alarm", p.zone, p.id, p.checkin) for p in city.panels),
            *(("beeper", b.home_zone, b.id, b.checkin) for b in city.beepers),
        ):
            if checkin is not None:
                self._checkins_by_zone.setdefault(zone_id, {})[f"{kind}:{device_id}"] = checkin

    def policy(self, zone_id: str) -> ZonePolicy:
        """The zone's compiled rules."""
        policy = self._policies.get(zone_id)
        if policy is None:
            zone = self.city.zone_by_id.get(zone_id)
            policy = self._policies[zone_id] = self.rules.for_zone(zone_id, zone.timezone if zone else "UTC")
        return policy

    def new_state(self, zone_id: str, since: datetime) -> ZoneState:
        """A zone's first state; its panels are supervised from `since`."""
        at = since.timestamp()
        state = ZoneState(zone_id=zone_id, since=at)
        for panel_id, _ in self._panels_by_zone.get(zone_id, ()):
            state.panels_heard[panel_id] = at
        for key in self._checkins_by_zone.get(zone_id, ()):
            state.checkin_watch[key] = at
        return state

    # -- device events -------------------------------------------------------------------

    def evaluate(self, state: ZoneState, event: ZoneEvent, now: datetime, into: Outcome | None = None) -> Outcome:
        """Apply one admitted event to its zone's state.

        `into`: the outcome of the events applied just before, in the same zone, to add this one
        to. Cameras attached to an alert one after the other there are one change of the alert:
        one snapshot, one version, holding every camera and the latest snapshot (a flood of
        motion would otherwise publish the alert once per frame update).
        """
        if event.zone_id != state.zone_id:
            raise ValueError(f"an event of zone {event.zone_id} given the state of zone {state.zone_id}")
        out = Outcome(state) if into is None else into
        t = now.timestamp()
        source = event.source
        device = event.beep or event.alarm or event.motion
        assert device is not None, "a zone event carries exactly one device event"
        if not _first_time(state, f"{source.kind}:{source.id}|{device.event_id}", t, out,
                           f"event {device.event_id} from {source.id}"):
            return out
        policy = self.policy(state.zone_id)
        _forget_old(state, policy, t)
        signal = event.beep or event.alarm
        if signal is not None and is_activity(signal):
            self._activity(state, policy, f"{source.kind}:{source.id}", device.event_id, t, out)
        if event.beep is not None:
            self._beep(state, policy, event.beep, t, out)
        elif event.alarm is not None:
            self._panel_heard(state, policy, event.alarm.panel_id, t, device.event_id, out)
            self._alarm(state, policy, event.alarm, t, out)
        else:
            assert event.motion is not None
            self._motion(state, policy, event.motion, t, out)
        return out

    def _beep(self, state: ZoneState, policy: ZonePolicy, beep: PanicBeep, t: float, out: Outcome) -> None:
        if beep.kind == "cancel":
            self._cancel(state, beep, t, out)
            return
        route = policy.beeps.get(beep.kind)
        if route is None:
            out.notes.append(f"a {beep.kind} beep raises no alert")
            return
        location = beep.location
        where = None if location is None else (location.lat, location.lon, location.accuracy_m)
        self._raise(state, policy, Incoming(route, "beeper", beep.device_id, beep.event_id,
                                            f"{route.title}: {beep.device_id}", location=where), t, out)

    def _cancel(self, state: ZoneState, beep: PanicBeep, t: float, out: Outcome) -> None:
        record = self._latest(state, group_key("panic", "beeper", beep.device_id))
        if record is None:
            out.notes.append(f"cancel from {beep.device_id}: no unresolved panic alert to mark")
            return
        record.cancel_requested = True
        _add_event(record, beep.event_id)
        self._publish(record, "cancel_requested", "system", t, out)

    def _alarm(self, state: ZoneState, policy: ZonePolicy, signal: AlarmSignal, t: float, out: Outcome) -> None:
        route = policy.contact_id.get(signal.code)
        if route is None:
            out.notes.append(f"Contact ID {signal.code} raises no alert")
            return
        out.route = route
        if signal.qualifier == QUALIFIER_RESTORE:
            self._restore(state, policy, group_key(route.category, "alarm", signal.panel_id), signal.event_id, t, out)
            return
        sia = f", SIA {signal.sia}" if signal.sia else ""  # a DC-09 code with no Contact ID of its own
        title = f"{route.title} ({signal.code}{sia}): panel {signal.panel_id}, zone {signal.zone}"
        address, where = self._premises.get(signal.panel_id, (None, None))
        self._raise(state, policy, Incoming(route, "alarm", signal.panel_id, signal.event_id, title,
                                            location=where, address=address), t, out)

    def _motion(self, state: ZoneState, policy: ZonePolicy, motion: MotionEvent, t: float, out: Outcome) -> None:
        episode = f"{motion.camera_id}|{motion.motion_id}"
        ts = motion.ts.timestamp()
        if motion.phase == "end":
            state.episodes.pop(episode, None)
            out.notes.append("a motion episode ended")
            return
        started = state.episodes.setdefault(episode, ts)
        urgent = _attaching(state, out) or _most_urgent(state, policy.attach_motion_up_to)
        if urgent is not None:
            self._attach(urgent, motion, t, out)
            return
        rule = _first_motion_rule(policy, motion, ts - started, t)
        if rule is None:
            out.notes.append(f"no motion rule of zone {state.zone_id} matches")
            return
        route = Route("motion", rule.priority, f"motion:{rule.id}", rule.title or "Motion")
        self._raise(state, policy, Incoming(route, "camera", motion.camera_id, motion.event_id,
                                            f"{route.title}: camera {motion.camera_id}", snapshot=motion.snapshot), t, out)

    def _attach(self, record: AlertRecord, motion: MotionEvent, t: float, out: Outcome) -> None:
        changed = False
        if motion.camera_id not in record.cameras:
            record.cameras.append(motion.camera_id)
            changed = True
        if motion.snapshot is not None and motion.snapshot != record.snapshot:
            record.snapshot = motion.snapshot
            changed = True
        if not changed:
            out.notes.append(f"motion on {motion.camera_id} adds nothing new to {record.alert_id}")
            return
        _add_event(record, motion.event_id)
        self._publish(record, "camera_attached", "system", t, out)

    # -- opening, grouping, restoring -----------------------------------------------------

    def _raise(self, state: ZoneState, policy: ZonePolicy, incoming: Incoming, t: float,
               out: Outcome) -> AlertRecord | None:
        """Open an alert for a signal, or group it into the open one, unless held back."""
        route, event_id = incoming.route, incoming.event_id
        out.route = route
        signal = Signal(state.zone_id, route.category, incoming.source_id, route.priority)
        unresolved = [a.signal for a in state.alerts.values()] if policy.inhibitions else []
        holder = held_by((*policy.silences, *state.silences.values(), *policy.inhibitions), signal, t, unresolved)
        if holder is not None:
            self._hold_back(state, holder, route, incoming.source_id, event_id, t, out)
            return None
        group = incoming.group
        record = self._latest(state, group)
        if record is not None and t - record.last_signal_at <= policy.grouping_window_s:
            record.count += 1
            record.last_signal_at = t
            if event_id is not None:
                _add_event(record, event_id)
            if incoming.location is not None:
                record.location = incoming.location
            if incoming.snapshot is not None:
                record.snapshot = incoming.snapshot
            if route.priority < record.priority:
                record.priority = route.priority
                self._schedule_escalation(record, policy, t)
            self._publish(record, "grouped", "system", t, out)
            return record
        alert_id = alert_id_for(state.zone_id, route.category, incoming.source_kind, incoming.source_id,
                                incoming.first or event_id or "")
        if alert_id in state.alerts:
            out.notes.append(f"alert {alert_id} is already open")
            return state.alerts[alert_id]
        record = AlertRecord(
            alert_id=alert_id, zone_id=state.zone_id, priority=route.priority, category=route.category,
            title=incoming.title, status="open", opened_at=t, updated_at=t, source_kind=incoming.source_kind,
            source_id=incoming.source_id, rule=route.rule, event_ids=[] if event_id is None else [event_id],
            location=incoming.location, cameras=list(self._cameras.get(state.zone_id, ())), snapshot=incoming.snapshot,
            last_signal_at=t, address=incoming.address,
        )
        self._schedule_escalation(record, policy, t)
        state.alerts[alert_id] = record
        state.groups[group] = alert_id
        out.alerts.append(record.to_alert())
        if len(state.alerts) > policy.limits.max_alerts:
            self._expire_one(state, t, out)
        return record

    def _restore(self, state: ZoneState, policy: ZonePolicy, group: str, event_id: str | None,
                 t: float, out: Outcome) -> None:
        """A restore updates the matching unresolved alert and never opens one."""
        record = self._latest(state, group)
        if record is None:
            out.notes.append("a restore with no unresolved alert to update opens nothing")
            return
        if event_id is not None:
            _add_event(record, event_id)
        if record.category in policy.restore_resolves:
            record.status = "resolved"
            self._publish(record, "restored", "system", t, out)
            _retire(state, record)
        else:
            self._publish(record, "restored", "system", t, out)

    def _hold_back(self, state: ZoneState, holder: str, route: Route, source_id: str,
                   event_id: str | None, t: float, out: Outcome) -> None:
        record = state.held_back.get(holder)
        if record is None:
            record = state.held_back[holder] = HeldBack()
            if len(state.held_back) > 256:
                del state.held_back[next(iter(state.held_back))]
        record.count += 1
        record.last_at = t
        if event_id is not None:
            record.event_ids.append(event_id)
            del record.event_ids[:-HELD_BACK_IDS]
        out.held_back.append(HeldBackSignal(holder, route, event_id, source_id))
        out.notes.append(f"{holder} holds back {route.category} from {source_id}")

    # -- welfare check-ins (contract section 15) --------------------------------------------

    def _activity(self, state: ZoneState, policy: ZonePolicy, key: str, event_id: str, t: float, out: Outcome) -> None:
        """A sign of life: the day's first one is kept, and updates the day's welfare alert."""
        if key not in self._checkins_by_zone.get(state.zone_id, {}):
            return
        day = local_day(_time(t), policy.timezone).isoformat()
        entry = state.checkins.get(key)
        if entry is None or entry[0] != day:
            state.checkins[key] = [day, t, None]
            return
        if entry[1] is not None:
            return
        entry[1] = t
        record = state.alerts.get(entry[2]) if entry[2] else None
        if record is not None:
            _add_event(record, event_id)
            self._publish(record, "checked_in", "system", t, out)

    def _check_in_due(self, state: ZoneState, policy: ZonePolicy, t: float, out: Outcome) -> None:
        """Open a welfare alert for each device whose latest deadline passed without activity that day."""
        schedules = self._checkins_by_zone.get(state.zone_id, {})
        for key in [k for k in (*state.checkins, *state.checkin_watch) if k not in schedules]:
            state.checkins.pop(key, None)  # a check-in no longer configured
            state.checkin_watch.pop(key, None)
        for key, checkin in schedules.items():
            watch = state.checkin_watch.setdefault(key, t)
            last = checkin.last_deadline(_time(t), policy.timezone)
            if last is None or last[1].timestamp() <= watch:
                continue
            day, deadline = last
            state.checkin_watch[key] = deadline.timestamp()
            entry = state.checkins.get(key)
            if entry is not None and entry[0] == day.isoformat() and entry[1] is not None:
                continue
            kind, device_id = key.split(":", 1)
            route = Route("welfare", WELFARE_PRIORITY, CHECKIN_RULE, "No check-in")
            noun = "panel" if kind == "alarm" else "beeper"
            title = f"No check-in from {noun} {device_id} by {checkin.by} on {day.isoformat()}"
            address, where = self._premises.get(device_id, (None, None)) if kind == "alarm" else (None, None)
            record = self._raise(state, policy, Incoming(route, kind, device_id, None, title, location=where,
                                                         first=f"checkin-{day.isoformat()}", address=address), t, out)
            state.checkins[key] = [day.isoformat(), None, record.alert_id if record is not None else None]

    def checkin_days(self, state: ZoneState) -> list[CheckinDay]:
        """The zone's scheduled devices whose current day the state knows: activity or a welfare alert."""
        schedules = self._checkins_by_zone.get(state.zone_id, {})
        found = []
        for key, (day, first, alert_id) in state.checkins.items():
            checkin = schedules.get(key)
            local = date.fromisoformat(day)
            if checkin is not None and checkin.scheduled(local):
                kind, device_id = key.split(":", 1)
                found.append(CheckinDay(kind, device_id, local, None if first is None else _time(first), alert_id))
        return found

    # -- timers ---------------------------------------------------------------------------

    def tick(self, state: ZoneState, now: datetime) -> Outcome:
        """Run the zone's timers up to `now`: escalate overdue open alerts, supervise panels, check-ins."""
        out = Outcome(state)
        t = now.timestamp()
        policy = self.policy(state.zone_id)
        for record in list(state.alerts.values()):
            due = record.escalate_at
            if due is not None and due <= t and record.status == "open":
                self._escalate(record, policy, t, out)
        for panel_id, supervision_s in self._panels_by_zone.get(state.zone_id, ()):
            heard = state.panels_heard.setdefault(panel_id, t)
            if panel_id in state.overdue or t < heard + supervision_s * policy.supervision_factor:
                continue
            self._supervise(state, policy, panel_id, heard, t, out)
        self._check_in_due(state, policy, t, out)
        _forget_old(state, policy, t)
        return out

    def _escalate(self, record: AlertRecord, policy: ZonePolicy, t: float, out: Outcome) -> None:
        """One more missed acknowledgement deadline (or several, if the tick came late)."""
        deadline = policy.escalation_s[record.priority]
        assert record.escalate_at is not None and deadline is not None
        missed = int((t - record.escalate_at) // deadline) + 1
        record.escalation += missed
        record.escalate_at += missed * deadline
        self._publish(record, "escalated", "system", t, out)

    def _schedule_escalation(self, record: AlertRecord, policy: ZonePolicy, t: float) -> None:
        deadline = policy.escalation_s[record.priority]
        if deadline is None or record.status != "open":
            record.escalate_at = None
        elif record.escalate_at is None or t + deadline < record.escalate_at:
            record.escalate_at = t + deadline

    def _supervise(self, state: ZoneState, policy: ZonePolicy, panel_id: str, heard: float, t: float,
                   out: Outcome) -> None:
        route = Route("supervision", policy.supervision_priority, SUPERVISION_RULE, "Panel silent")
        title = f"Panel {panel_id} silent since {_time(heard).isoformat(timespec='seconds')}"
        address, where = self._premises.get(panel_id, (None, None))
        # Raised again (resolved while the panel stays silent), it is a new alert: under the old id its
        # version 1 would be ignored by every consumer that keeps the highest version.
        first = f"silent-since-{heard:.3f}-at-{t:.3f}"
        record = self._raise(state, policy, Incoming(route, "alarm", panel_id, None, title, location=where,
                                                     first=first, address=address), t, out)
        state.overdue[panel_id] = record.alert_id if record is not None else "held back"

    def _panel_heard(self, state: ZoneState, policy: ZonePolicy, panel_id: str, t: float,
                     event_id: str, out: Outcome) -> None:
        state.panels_heard[panel_id] = t
        if state.overdue.pop(panel_id, None) is not None:
            self._restore(state, policy, group_key("supervision", "alarm", panel_id), event_id, t, out)

    def next_deadline(self, state: ZoneState) -> datetime | None:
        """When tick() next has something to do for this zone, or None."""
        policy = self.policy(state.zone_id)
        due = [a.escalate_at for a in state.alerts.values() if a.escalate_at is not None and a.status == "open"]
        for panel_id, supervision_s in self._panels_by_zone.get(state.zone_id, ()):
            if panel_id not in state.overdue:
                heard = state.panels_heard.get(panel_id, state.since)
                due.append(heard + supervision_s * policy.supervision_factor)
        for key, checkin in self._checkins_by_zone.get(state.zone_id, {}).items():
            watch = _time(state.checkin_watch.get(key, state.since))
            due.append(checkin.next_deadline(watch, policy.timezone)[1].timestamp())
        return _time(min(due)) if due else None

    def attaches_motion(self, state: ZoneState) -> bool:
        """Whether camera motion in the zone now attaches to one of its unresolved alerts."""
        return _most_urgent(state, self.policy(state.zone_id).attach_motion_up_to) is not None

    def motion_matters(self, zone_id: str, motion: MotionEvent, now: datetime, attaching: bool) -> bool:
        """Whether camera motion can change the zone, as far as can be told without its state.

        It can when it would attach to an unresolved alert (`attaching`, from the state), when
        it ends an episode, or when a motion rule matches it apart from the episode's duration.
        """
        if attaching or motion.phase == "end":
            return True
        return _first_motion_rule(self.policy(zone_id), motion, math.inf, now.timestamp()) is not None

    # -- operators ------------------------------------------------------------------------

    def act(self, state: ZoneState, action: OperatorAction) -> Outcome:
        """Apply an operator's ack, dispatch or resolve (alerts never move backwards), a step
        of the alert's action plan, or the record that the account's passcode was revealed."""
        out = Outcome(state)
        t = action.at.timestamp()
        if not _first_time(state, f"action|{action.action_id}", t, out, f"action {action.action_id}"):
            return out
        record = state.alerts.get(action.alert_id)
        if record is None:
            out.notes.append(f"alert {action.alert_id} is not unresolved in zone {state.zone_id}")
            return out
        if action.action in ("step", "reveal"):
            self._plan_action(record, action, t, out)
            return out
        if action.action == "ack":
            if record.status != "open":
                out.notes.append(f"alert {record.alert_id} is already {record.status}")
                return out
            record.status = "acknowledged"
            change = "acknowledged"
        elif action.action == "dispatch":
            if record.status == "dispatched" and record.responder == action.responder:
                out.notes.append(f"alert {record.alert_id} is already dispatched to {action.responder}")
                return out
            record.status = "dispatched"
            record.responder = action.responder
            change = "dispatched"
        else:
            record.status = "resolved"
            record.disposition = action.disposition
            record.note = action.note
            change = "resolved"
        record.escalate_at = None
        self._publish(record, change, action.by, t, out)
        if record.status == "resolved":
            _retire(state, record)
        return out

    def _plan_action(self, record: AlertRecord, action: OperatorAction, t: float, out: Outcome) -> None:
        """Steps and reveals change no status and leave the escalation timer running."""
        if action.action == "reveal":
            self._publish(record, "passcode_revealed", action.by, t, out)
            return
        if action.outcome is None or action.step not in {s.id for s in self.plan(record)}:
            out.notes.append(f"step {action.step!r} ({action.outcome}) is not in the plan of {record.alert_id}")
            return
        record.steps.append([action.step, action.outcome, action.by, t, action.note or None])
        del record.steps[:-MAX_STEPS]
        self._publish(record, "step", action.by, t, out)

    def plan(self, record: AlertRecord) -> list[PlanStep]:
        return plan_of(self.city, self.rules, record.zone_id, record.category, record.source_kind, record.source_id)

    # -- supervisors' silences -------------------------------------------------------------

    def silence(self, state: ZoneState, command: SilenceCommand) -> Outcome:
        """Add (or replace, by id) or end a run-time silence of the zone. It then holds back
        signals exactly as a configured silence does, until its `ends_at` or its end."""
        if command.zone_id != state.zone_id:
            raise ValueError(f"a silence command of zone {command.zone_id} given the state of zone {state.zone_id}")
        out = Outcome(state)
        t = command.at.timestamp()
        if not _first_time(state, f"silence|{command.silence_command}", t, out,
                           f"silence command {command.silence_command}"):
            return out
        _prune_silences(state, t)
        silence: Silence = command.silence
        if command.action == "end":
            if state.silences.pop(silence.id, None) is None:
                out.notes.append(f"silence {silence.id} is not active in zone {state.zone_id}")
            else:
                out.notes.append(f"silence {silence.id} ended by {silence.author}")
        elif silence.ends_at.timestamp() <= t:
            out.notes.append(f"silence {silence.id} has already ended: not added")
        elif silence.id not in state.silences and len(state.silences) >= MAX_RUNTIME_SILENCES:
            out.notes.append(f"zone {state.zone_id} already has {MAX_RUNTIME_SILENCES} silences: {silence.id} not added")
        else:
            state.silences[silence.id] = silence
            out.notes.append(f"silence {silence.id} added by {silence.author}")
        _forget_old(state, self.policy(state.zone_id), t)
        return out

    # -- shared steps ---------------------------------------------------------------------

    @staticmethod
    def _latest(state: ZoneState, group: str) -> AlertRecord | None:
        alert_id = state.groups.get(group)
        return None if alert_id is None else state.alerts.get(alert_id)

    @staticmethod
    def _publish(record: AlertRecord, change: str, by: str, t: float, out: Outcome) -> None:
        folded = out.attached.get(record.alert_id) if change == "camera_attached" else None
        record.updated_at = max(t, record.updated_at)
        if folded is not None:  # another camera of the same change: its snapshot grows, no new version
            out.alerts[folded] = record.to_alert()
            return
        record.version += 1
        record.change = change
        record.changed_by = by
        out.alerts.append(record.to_alert())
        if change == "camera_attached":
            out.attached[record.alert_id] = len(out.alerts) - 1
        else:
            out.attached.pop(record.alert_id, None)

    def _expire_one(self, state: ZoneState, t: float, out: Outcome) -> None:
        """Keep the zone bounded: the least urgent, oldest alert gives way."""
        victim = max(state.alerts.values(), key=lambda a: (a.priority, -a.opened_at))
        victim.status = "resolved"
        victim.escalate_at = None
        victim.note = f"expired: zone {state.zone_id} holds more than {len(state.alerts) - 1} unresolved alerts"
        self._publish(victim, "expired", "system", t, out)
        _retire(state, victim)


def _first_time(state: ZoneState, key: str, t: float, out: Outcome, what: str) -> bool:
    """Remember `key` as applied at `t`; False, noted as a duplicate, if it already was."""
    if key in state.seen:
        out.duplicate = True
        out.notes.append(f"{what} was already applied: nothing changes")
        return False
    state.seen[key] = t
    return True


def _add_event(record: AlertRecord, event_id: str) -> None:
    ids = record.event_ids
    ids.append(event_id)
    if len(ids) > MAX_EVENT_IDS:
        del ids[0]


def _retire(state: ZoneState, record: AlertRecord) -> None:
    del state.alerts[record.alert_id]
    group = record.group
    if state.groups.get(group) == record.alert_id:
        del state.groups[group]
    if record.category == "supervision":
        state.overdue.pop(record.source_id, None)


def _attaching(state: ZoneState, out: Outcome) -> AlertRecord | None:
    """The alert this outcome's latest change attached a camera to: with no change since, it is
    still the zone's most urgent (opening, grouping, escalating or closing any alert is a change),
    and a flood's next frame needs no walk over every unresolved alert."""
    if not out.alerts:
        return None
    latest = out.alerts[-1].alert_id
    return state.alerts.get(latest) if out.attached.get(latest) == len(out.alerts) - 1 else None


def _most_urgent(state: ZoneState, up_to: int) -> AlertRecord | None:
    """The zone's most urgent unresolved alert of priority `up_to` or better; the newest on a tie."""
    found: AlertRecord | None = None
    for record in state.alerts.values():
        if record.priority <= up_to and (
            found is None or (record.priority, -record.opened_at) < (found.priority, -found.opened_at)
        ):
            found = record
    return found


def _forget_old(state: ZoneState, policy: ZonePolicy, t: float) -> None:
    """Drop the oldest remembered event ids and motion episodes beyond the limits."""
    limits = policy.limits
    seen = state.seen
    horizon = t - limits.event_memory_s
    while seen:
        oldest = next(iter(seen))
        if len(seen) <= limits.event_memory and seen[oldest] >= horizon:
            break
        del seen[oldest]
    episodes = state.episodes
    horizon = t - limits.episode_max_s
    while episodes:
        oldest = next(iter(episodes))
        if len(episodes) <= 256 and episodes[oldest] >= horizon:
            break
        del episodes[oldest]
    _prune_silences(state, t)


def _prune_silences(state: ZoneState, t: float) -> None:
    """Run-time silences leave the state once they end."""
    if state.silences:
        for silence_id in [i for i, s in state.silences.items() if s.ends_at.timestamp() <= t]:
            del state.silences[silence_id]


def _first_motion_rule(policy: ZonePolicy, motion: MotionEvent, duration: float, t: float) -> MotionRule | None:
    local: datetime | None = None
    for rule in policy.motion:
        if rule.cameras and motion.camera_id not in rule.cameras:
            continue
        if rule.regions and not any(r in rule.regions for r in motion.regions):
            continue
        if motion.area_pct < rule.min_area_pct or duration < rule.min_duration_s:
            continue
        if rule.hours is not None or rule.days:
            local = local or datetime.fromtimestamp(t, policy.timezone)
            if rule.hours is not None and not rule.hours.contains(local.hour * 60 + local.minute):
                continue
            if rule.days and WEEKDAYS[local.weekday()] not in rule.days:
                continue
        return rule
    return None


def plan_of(city: City, rules: Rules, zone_id: str, category: str, source_kind: str, source_id: str) -> list[PlanStep]:
    """An alert's action plan: its panel's own, else its zone's, else the city's (contract section 8)."""
    panel = city.panel_by_id.get(source_id) if source_kind == "alarm" else None
    return rules.action_plan(zone_id, category, panel.action_plans if panel else None)


def zone_event(city: City, event: DeviceEvent, admitted_at: datetime) -> ZoneEvent | None:
    """Resolve a device event to its zone as admission does; None for an unregistered source.

    A panic goes to the zone containing its location, or the beeper's home zone.
    """
    if isinstance(event, PanicBeep):
        beeper = city.beeper_by_id.get(event.device_id)
        if beeper is None:
            return None
        # A check-in is kept by the home zone, wherever the wearer is (contract section 15).
        zone = city.zone_at(event.location) if event.kind != "checkin" else None
        return _zone_event(zone.id if zone else beeper.home_zone, admitted_at, "beeper", event.device_id,
                           beep=event)
    if isinstance(event, AlarmSignal):
        panel = city.panel_by_id.get(event.panel_id)
        if panel is None:
            return None
        return _zone_event(panel.zone, admitted_at, "alarm", event.panel_id, alarm=event)
    camera = city.camera_by_id.get(event.camera_id)
    if camera is None:
        return None
    return _zone_event(camera.zone, admitted_at, "camera", event.camera_id, motion=event)


def _zone_event(zone_id: str, admitted_at: datetime, kind: SourceKind, source_id: str, beep: PanicBeep | None = None,
                alarm: AlarmSignal | None = None, motion: MotionEvent | None = None) -> ZoneEvent:
    # Admission builds one per event from validated parts: model_construct cost half of admission's time.
    source = _construct(AlertSource, {"kind": kind, "id": source_id})
    return _construct(ZoneEvent, {"zone_id": zone_id, "source": source, "admitted_at": admitted_at,
                                  "beep": beep, "alarm": alarm, "motion": motion})
