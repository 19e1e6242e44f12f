"""The `rules:` section of the configuration directory: what each signal raises, per zone.

`Rules()` with nothing configured is contract section 2's defaults. Everything here is
data that the engine (`alert_rules.engine`) walks with small generic code: a table from
beep kind and Contact ID code to an alert, motion rules matched first to last,
silences and inhibitions matched by label, as in Alertmanager. `Rules.for_zone()`
compiles the rules of one zone, with its overrides applied, into plain lookups.
The schema is documented field by field in docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from alert_rules.contact_id import DEFAULT_ALERTS, describe
from alert_rules.muting import Signal
from alert_rules.plans import ActionPlans, PlanStep, plan_for
from vocabulary.events import Category, Id, Timestamp

Priority = Annotated[int, Field(ge=1, le=5)]
Seconds = Annotated[float, Field(gt=0)]
Code = Annotated[int, Field(ge=100, le=999)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Label = Literal["zone", "source"]

DEFAULT_ESCALATION_S: dict[int, float | None] = {1: 30, 2: 60, 3: 300, 4: None, 5: None}


def _listed(value: object) -> object:
    """Let a matcher say `category: panic` as well as `category: [panic, duress]`."""
    return [value] if isinstance(value, (str, int)) else value


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertSpec(RuleModel):
    """The alert a signal raises."""

    category: Category
    priority: Priority
    title: str | None = Field(None, description="title instead of the generated one")


class Supervision(RuleModel):
    grace_pct: Annotated[float, Field(ge=0, le=1000)] = Field(
        10, description="extra silence allowed beyond a panel's supervision_s, in percent"
    )
    priority: Priority = Field(4, description="priority of a supervision alert")


class Hours(RuleModel):
    """A daily window in the zone's own time zone; `from` after `to` wraps past midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: str = Field(alias="from", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(alias="to", pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")

    @staticmethod
    def _minutes(hhmm: str) -> int:
        hours, minutes = hhmm.split(":")
        return int(hours) * 60 + int(minutes)

    def contains(self, minute_of_day: int) -> bool:
        start, end = self._minutes(self.start), self._minutes(self.end)
        if start <= end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end


class MotionRule(RuleModel):
    """Camera motion that opens an alert; rules are tried in order and the first match wins."""

    id: Id
    zones: list[Id] = Field([], description="zones it applies to; empty: every zone")
    cameras: list[Id] = Field([], description="cameras it applies to; empty: every camera of the zones")
    regions: list[str] = Field([], description="named camera regions; empty: anywhere in the frame")
    hours: Hours | None = Field(None, description="daily window in the zone's time zone; absent: all day")
    days: list[Weekday] = Field([], description="weekdays in the zone's time zone; empty: every day")
    min_area_pct: Annotated[float, Field(ge=0, le=100)] = Field(0, description="smallest area_pct")
    min_duration_s: Annotated[float, Field(ge=0)] = Field(0, description="episode age since its start")
    priority: Priority = 3
    title: str | None = None


class Matcher(RuleModel):
    """Labels an alert must have; an empty list matches anything."""

    zone: Annotated[list[Id], BeforeValidator(_listed)] = []
    category: Annotated[list[Category], BeforeValidator(_listed)] = []
    source: Annotated[list[Id], BeforeValidator(_listed)] = Field([], description="device ids")
    priority: Annotated[list[Priority], BeforeValidator(_listed)] = []

    def matches(self, signal: Signal) -> bool:
        return (
            (not self.zone or signal.zone_id in self.zone)
            and (not self.category or signal.category in self.category)
            and (not self.source or signal.source_id in self.source)
            and (not self.priority or signal.priority in self.priority)
        )

    @property
    def is_empty(self) -> bool:
        return not (self.zone or self.category or self.source or self.priority)


class Inhibition(RuleModel):
    """An active alert matching `source` holds back new signals matching `target`
    when they agree on every label in `equal` (Alertmanager's inhibit_rules)."""

    id: Id
    source: Matcher
    target: Matcher
    equal: list[Label] = Field(["zone", "source"], description="labels both must share")

    @property
    def holder(self) -> str:
        return f"inhibition:{self.id}"

    def holds(self, signal: Signal, t: float, unresolved: Sequence[Signal]) -> bool:
        if not self.target.matches(signal):
            return False
        same_source = "source" in self.equal  # one zone's state: the zone is always shared
        return any(self.source.matches(alert) and (not same_source or alert.source_id == signal.source_id)
                   for alert in unresolved)


class Silence(RuleModel):
    """Holds back matching signals between starts_at and ends_at, and records them."""

    id: Id
    match: Matcher
    starts_at: Timestamp
    ends_at: Timestamp
    author: str
    reason: str

    @property
    def holder(self) -> str:
        return f"silence:{self.id}"

    def holds(self, signal: Signal, t: float, unresolved: Sequence[Signal]) -> bool:
        return self.starts_at.timestamp() <= t < self.ends_at.timestamp() and self.match.matches(signal)

    @model_validator(mode="after")
    def _sane(self) -> Silence:
        if self.match.is_empty:
            raise ValueError("a silence must match at least one zone, category, source or priority")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


LIFE_SAFETY: tuple[Category, ...] = ("panic", "duress", "medical", "fire")


class SilenceSettings(BaseModel):
    """The `silences:` section: limits on supervisors' run-time silences."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_s: int = Field(86400, gt=0, description="longest a run-time silence may last, in seconds")


class SilenceCommand(RuleModel):
    """A supervisor's silence added or ended at run time (internal topic zone.events, keyed by
    zone), applied by evaluate. `silence_command` is the command's unique id."""

    type: Literal["silence_command"] = "silence_command"  # tells the items of zone.events apart
    silence_command: Annotated[str, Field(min_length=1, max_length=128)]
    zone_id: Id
    action: Literal["add", "end"]
    silence: Silence
    at: Timestamp


class Limits(RuleModel):
    """Bounds on one zone's state, so that nothing grows without bound."""

    max_alerts: Annotated[int, Field(ge=10)] = Field(
        1000, description="unresolved alerts kept; beyond it the least urgent, oldest one expires"
    )
    event_memory: Annotated[int, Field(ge=100)] = Field(
        2000, description="event ids remembered to ignore redeliveries"
    )
    event_memory_s: Seconds = Field(900, description="how long an event id is remembered")
    episode_max_s: Seconds = Field(3600, description="a motion episode without an end is forgotten after this")


def _merge_escalation(value: dict[int, float | None]) -> dict[int, float | None]:
    return {**DEFAULT_ESCALATION_S, **value}


Escalation = Annotated[
    dict[Priority, Seconds | None],
    Field(description="seconds an open alert of each priority waits before escalating; null: never"),
]
BeepKind = Literal["panic", "test", "heartbeat", "low_battery", "checkin"]
BeepTable = Annotated[
    dict[BeepKind, AlertSpec | None],
    Field(description="beep kind -> alert; null: none. `cancel` always marks the panic alert"),
]
ContactIdTable = Annotated[
    dict[Code, AlertSpec | None],
    Field(description="Contact ID code -> alert; null: none. Merged over the standard table"),
]

DEFAULT_BEEPS: dict[BeepKind, AlertSpec | None] = {
    "panic": AlertSpec(category="panic", priority=1),
    "low_battery": AlertSpec(category="trouble", priority=4),
    "test": None,
    "heartbeat": None,
    "checkin": None,  # "I am fine": activity for the check-in, never an alert (contract section 15)
}


class ZoneOverrides(RuleModel):
    """What one zone changes; anything absent is the city-wide value."""

    grouping_window_s: Seconds | None = None
    escalation_s: Escalation | None = None
    supervision: Supervision | None = None
    beeps: BeepTable | None = None
    contact_id: ContactIdTable | None = None
    restore_resolves: list[Category] | None = None
    attach_motion_up_to: Priority | None = None
    action_plans: ActionPlans | None = None


class Route(NamedTuple):
    """Where a signal goes: the alert it raises and the rule that said so."""

    category: Category
    priority: int
    rule: str
    title: str


@dataclass(frozen=True, slots=True)
class ZonePolicy:
    """One zone's rules compiled into plain lookups for the engine's hot path."""

    zone_id: str
    timezone: ZoneInfo
    grouping_window_s: float
    escalation_s: tuple[float | None, ...]  # indexed by priority; [0] unused
    supervision_factor: float
    supervision_priority: int
    beeps: dict[str, Route | None]
    contact_id: dict[int, Route | None]
    restore_resolves: frozenset[str]
    attach_motion_up_to: int
    motion: tuple[MotionRule, ...]
    silences: tuple[Silence, ...]
    inhibitions: tuple[Inhibition, ...]
    limits: Limits


class Rules(RuleModel):
    """The whole `rules:` mapping. `Rules()` is contract section 2's defaults."""

    grouping_window_s: Seconds = Field(120, description="signals of one source and category this close group")
    escalation_s: Escalation = dict(DEFAULT_ESCALATION_S)
    supervision: Supervision = Supervision()
    beeps: BeepTable = dict(DEFAULT_BEEPS)
    contact_id: ContactIdTable = {}
    restore_resolves: list[Category] = Field(
        ["supervision"], description="categories whose alert a restore resolves; others stay for the operator"
    )
    attach_motion_up_to: Priority = Field(
        2, description="motion in a zone with an unresolved alert this urgent is attached to it"
    )
    motion: list[MotionRule] = []
    inhibit: list[Inhibition] = []
    silences: list[Silence] = []
    zones: dict[Id, ZoneOverrides] = Field({}, description="per-zone overrides")
    limits: Limits = Limits()
    action_plans: ActionPlans = {}

    @field_validator("escalation_s")
    @classmethod
    def _all_priorities(cls, value: dict[int, float | None]) -> dict[int, float | None]:
        return _merge_escalation(value)

    @field_validator("beeps")
    @classmethod
    def _all_beeps(cls, value: dict[BeepKind, AlertSpec | None]) -> dict[BeepKind, AlertSpec | None]:
        return {**DEFAULT_BEEPS, **value}

    @model_validator(mode="after")
    def _unique_ids(self) -> Rules:
        for kind, items in (("motion rule", self.motion), ("inhibition", self.inhibit), ("silence", self.silences)):
            ids = [item.id for item in items]
            duplicate = next((i for i in ids if ids.count(i) > 1), None)
            if duplicate is not None:
                raise ValueError(f"{kind} id {duplicate!r} is used twice")
        return self

    def action_plan(self, zone_id: str, category: str, own: ActionPlans | None = None) -> list[PlanStep]:
        """The steps for an alert of `category` in the zone: the account's own plan (`own`),
        else the zone's, else the city's; [] when none is configured."""
        zone = self.zones.get(zone_id)
        return plan_for(category, own, zone.action_plans if zone else None, self.action_plans)

    @cached_property
    def _policies(self) -> dict[tuple[str, str], ZonePolicy]:
        return {}

    def for_zone(self, zone_id: str, timezone: str = "UTC") -> ZonePolicy:
        """The compiled rules of one zone (cached): overrides applied, irrelevant rules dropped."""
        key = (zone_id, timezone)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = self._compile(zone_id, timezone)
        return policy

    def _compile(self, zone_id: str, timezone: str) -> ZonePolicy:
        zone = self.zones.get(zone_id, ZoneOverrides())
        escalation = _merge_escalation({**self.escalation_s, **(zone.escalation_s or {})})
        supervision = zone.supervision or self.supervision
        beeps = {**self.beeps, **(zone.beeps or {})}
        codes: dict[int, Any] = {
            code: (AlertSpec(category=d.category, priority=d.priority) if d else None)
            for code, d in DEFAULT_ALERTS.items()
        }
        codes.update(self.contact_id)
        codes.update(zone.contact_id or {})
        return ZonePolicy(
            zone_id=zone_id,
            timezone=ZoneInfo(timezone),
            grouping_window_s=zone.grouping_window_s or self.grouping_window_s,
            escalation_s=tuple(escalation.get(p) for p in range(6)),
            supervision_factor=1 + supervision.grace_pct / 100,
            supervision_priority=supervision.priority,
            beeps={kind: _route(spec, f"beep:{kind}", _BEEP_TITLES[kind]) for kind, spec in beeps.items()},
            contact_id={code: _route(spec, f"contact-id:{code}", describe(code)) for code, spec in codes.items()},
            restore_resolves=frozenset(
                self.restore_resolves if zone.restore_resolves is None else zone.restore_resolves
            ),
            attach_motion_up_to=zone.attach_motion_up_to or self.attach_motion_up_to,
            motion=tuple(r for r in self.motion if not r.zones or zone_id in r.zones),
            silences=tuple(s for s in self.silences if not s.match.zone or zone_id in s.match.zone),
            inhibitions=tuple(self.inhibit),
            limits=self.limits,
        )


_BEEP_TITLES = {"panic": "Panic button", "low_battery": "Beeper battery low", "test": "Beeper test",
                "heartbeat": "Beeper heartbeat", "checkin": "Beeper check-in"}


def _route(spec: AlertSpec | None, rule: str, title: str) -> Route | None:
    if spec is None:
        return None
    return Route(spec.category, spec.priority, rule, spec.title or title)
