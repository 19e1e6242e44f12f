"""The contract's event vocabulary (contract section 1): the one place it is defined.

Every model is strict: a required field that is missing or of the wrong JSON type is a
schema rejection, never silently coerced. Unknown fields are ignored so that devices
can be newer than the backend.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: object) -> datetime:
    """An RFC 3339 timestamp with an offset; anything else is ill-typed."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp needs a UTC offset")
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 timestamp with an offset, like 2026-11-21T14:00:00.123Z")
    text = value.upper().replace(" ", "T")
    whole, _, rest = text.partition(".")
    if rest:  # Python parses at most microseconds: drop extra fraction digits
        digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]
        text = f"{whole}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_timestamp(value: datetime) -> str:
    """UTC with milliseconds: one spelling for every timestamp we write."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return value


Number = Annotated[float, AfterValidator(_finite)]


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in JSON) cannot be written out again
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]


def _not_bool(value: object) -> object:
    if isinstance(value, bool):  # JSON true is not the number 1
        raise ValueError("expected a number, not a boolean")
    return value


class Contract(BaseModel):
    """Strict on what the contract names, tolerant of what it does not."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Location(Contract):
    lat: Annotated[Number, Field(ge=-90, le=90)]
    lon: Annotated[Number, Field(ge=-180, le=180)]
    accuracy_m: Annotated[Number, Field(ge=0)] | None = None


BeepKind = Literal["panic", "cancel", "test", "heartbeat", "low_battery", "checkin"]  # checkin: "I am fine" (section 15)


class PanicBeep(Contract):
    """A wearable panic button's message (topic devices.beeps)."""

    event_id: Id
    device_id: Id
    ts: Timestamp
    kind: BeepKind
    location: Location | None = None
    battery_pct: Annotated[Number, Field(ge=0, le=100)] | None = None
    sig: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{1,128}$")] | None = None

    @property
    def source_id(self) -> str:
        return self.device_id

    @property
    def signed_part(self) -> str:
        return self.kind


class AlarmSignal(Contract):
    """A home alarm panel's Contact ID signal (topic devices.alarms)."""

    event_id: Id
    panel_id: Id
    ts: Timestamp
    qualifier: Annotated[Literal[1, 3, 6], BeforeValidator(_not_bool)]
    code: Annotated[int, Field(ge=100, le=999)]
    group: Annotated[int, Field(ge=0, le=99)]
    zone: Annotated[int, Field(ge=0, le=999)]
    sig: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{1,128}$")] | None = None
    # Beyond the contract: the SIA code of a DC-09 signal that has no Contact ID of its own
    # (sent as code 300), so that the operator's title names what the panel said.
    sia: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None

    @property
    def source_id(self) -> str:
        return self.panel_id

    @property
    def signed_part(self) -> str:
        return f"{self.qualifier}{self.code}"


Box = Annotated[list[Annotated[Number, Field(ge=0, le=1)]], Field(min_length=4, max_length=4)]


class MotionEvent(Contract):
    """One phase of a camera's motion episode (topic cameras.motion)."""

    event_id: Id
    camera_id: Id
    ts: Timestamp
    motion_id: Id
    phase: Literal["start", "update", "end"]
    area_pct: Annotated[Number, Field(ge=0, le=100)]
    boxes: list[Box]
    regions: list[str]
    snapshot: str | None = None

    @property
    def source_id(self) -> str:
        return self.camera_id


DeviceEvent = PanicBeep | AlarmSignal | MotionEvent

Category = Literal[
    "panic", "duress", "medical", "fire", "intrusion", "motion", "tamper", "trouble", "supervision", "welfare"
]
AlertStatus = Literal["open", "acknowledged", "dispatched", "resolved"]
SourceKind = Literal["beeper", "alarm", "camera", "system"]


class AlertSource(Contract):
    kind: SourceKind
    id: str


StepOutcomeName = Literal["done", "no_answer", "failed", "skipped"]


class StepOutcome(Contract):
    """One step of the alert's action plan worked by an operator (contract section 8)."""

    step: Id
    outcome: StepOutcomeName
    by: str
    at: Timestamp
    note: str | None = None


class Alert(Contract):
    """A full snapshot of one alert (topic alerts), published at every change.

    Beyond the contract: `version` rises by one at each change of the alert, so consumers
    keep the newest snapshot whatever order they receive them in; `change` and
    `changed_by` say what this snapshot changed and who did it (the alert's history);
    `responder`, `disposition` and `note` record the operators' actions; `steps` every
    outcome recorded for its action plan, oldest first (never a phone or a passcode).
    """

    alert_id: Id  # also the SSE event id: never a line break
    zone_id: Id
    priority: Annotated[int, Field(ge=1, le=5)]
    category: Category
    title: str
    status: AlertStatus
    opened_at: Timestamp
    updated_at: Timestamp
    source: AlertSource
    count: int
    event_ids: list[str]
    location: Location | None = None
    cameras: list[str] = []
    snapshot: str | None = None
    cancel_requested: bool = False
    escalation: int = 0
    rule: str
    version: int = 1
    change: str = "opened"
    changed_by: str = "system"
    responder: str | None = None
    disposition: Literal["real", "false_alarm", "test"] | None = None
    note: str | None = None
    address: str | None = None
    steps: list[StepOutcome] = []


RejectReason = Literal["malformed", "schema", "unknown_device", "bad_signature", "stale", "future"]


class Rejected(Contract):
    """An input the streams refused, kept whole (topic events.rejected)."""

    reason: RejectReason
    topic: str
    key: str | None
    raw: str
    raw_b64: bool = False
    detail: str
    at: Timestamp
    partition: int | None = None
    offset: int | None = None
    raw_truncated: bool = False


INPUT_MODELS: dict[str, type[PanicBeep] | type[AlarmSignal] | type[MotionEvent]] = {
    "devices.beeps": PanicBeep,
    "devices.alarms": AlarmSignal,
    "cameras.motion": MotionEvent,
}


class ZoneEvent(Contract):
    """An admitted device event, resolved to its zone (internal topic zone.events)."""

    zone_id: Id
    source: AlertSource
    admitted_at: Timestamp
    beep: PanicBeep | None = None
    alarm: AlarmSignal | None = None
    motion: MotionEvent | None = None

    @property
    def event(self) -> DeviceEvent:
        found = self.beep or self.alarm or self.motion
        assert found is not None, "a zone event carries exactly one device event"
        return found


class OperatorAction(Contract):
    """An operator's change to an alert (internal topic zone.events), applied by evaluate.

    `step` records an action plan step's `outcome`; `reveal` records that the operator
    looked at the account's passcode (the passcode itself never travels here)."""

    type: Literal["operator_action"] = "operator_action"  # tells the items of zone.events apart
    action_id: str
    alert_id: Id
    zone_id: Id
    action: Literal["ack", "dispatch", "resolve", "step", "reveal"]
    by: str
    at: Timestamp
    responder: str | None = None
    disposition: Literal["real", "false_alarm", "test"] | None = None
    note: str | None = None
    step: Id | None = None
    outcome: StepOutcomeName | None = None
