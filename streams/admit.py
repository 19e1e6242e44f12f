"""Admission: decide whether a raw input becomes a zone event or a rejection.

Pure: no Kafka, no Redis, no clock. The Faust agents (streams.app) feed it bytes and
"now", and do the I/O; the duplicate check, which needs memory across restarts, is
`streams.dedupe`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alert_rules.city import City
from alert_rules.engine import zone_event
from vocabulary import freshness, topics
from vocabulary.events import (
    INPUT_MODELS,
    AlarmSignal,
    MotionEvent,
    PanicBeep,
    Rejected,
    RejectReason,
    ZoneEvent,
)
from vocabulary.signing import signed_by_device

# A rejection must fit the workers' producer requests (32 MiB) with its key and other fields.
MAX_KEPT_BYTES = 16 * 1024 * 1024
KEPT_KEY_BYTES = 1024
CUT_SHORT_BYTES = 64 * 1024  # what a rejection the broker refused keeps when sent again


class AdmissionSettings(BaseModel):
    """The `admission:` section of the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stale_s: float = Field(300, gt=0, description="an event whose ts is older than this is stale")
    future_s: float = Field(60, gt=0, description="an event whose ts is further ahead than this is from the future")
    max_bytes: int = Field(65536, gt=0, description="larger values are malformed (real events are < 2 KiB)")
    duplicate_memory_s: int = Field(900, gt=0, description="how long an event_id is remembered per source")
    keep_raw_bytes: int = Field(
        12 * 1024 * 1024, gt=0, le=MAX_KEPT_BYTES,
        description="a rejection's `raw` field holds at most this many bytes; the rest is left on its topic",
    )

    @model_validator(mode="after")
    def _remembers_the_replay_window(self) -> AdmissionSettings:
        # An event replayed after it is forgotten but while still fresh would be admitted twice.
        if self.duplicate_memory_s < self.stale_s + self.future_s:
            raise ValueError(f"duplicate_memory_s must be at least stale_s + future_s "
                             f"({self.stale_s + self.future_s:g} s): a replay within it would be admitted twice")
        return self


class Refusal(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Received:
    """One message as it came off an input topic."""

    topic: str  # the contract's name, without prefix
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    offset: int | None = None
    received_at: datetime | None = None  # when a receiver got it (its signed receipt), else unknown

    @property
    def position(self) -> str:
        """Where it sits on the broker: tells a redelivery from a duplicate."""
        return f"{self.topic}:{self.partition}:{self.offset}"


def admit(message: Received, city: City, settings: AdmissionSettings, now: datetime) -> ZoneEvent:
    """The admitted event, or Refusal with the contract's reason."""
    raw = message.value or b""
    if len(raw) > settings.max_bytes:
        raise Refusal("malformed", f"value of {len(raw)} bytes is over the {settings.max_bytes}-byte limit")
    event = _decode(message.topic, raw)
    key = _registered_key(event, city)
    if key is not None:
        _check_signature(event, raw, key)
    # Measured when a receiver got it, which it may already have acknowledged to the device;
    # a backlog of the workers must not turn it stale.
    outside = freshness.outside(event.ts, message.received_at or now, settings.stale_s, settings.future_s)
    if outside is not None:
        raise Refusal(*outside)
    admitted = zone_event(city, event, now)
    assert admitted is not None, "the source was found registered above"
    return admitted


def _decode(topic: str, raw: bytes) -> PanicBeep | AlarmSignal | MotionEvent:
    model = INPUT_MODELS[topic]
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        first = problems[0]
        if first["type"] == "json_invalid":
            raise Refusal("malformed", f"not JSON in UTF-8: {first['msg']}") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise Refusal("malformed", "the value must be a JSON object") from None
        detail = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'value'}: {p['msg']}" for p in problems[:10])
        raise Refusal("schema", detail) from None


def _registered_key(event: PanicBeep | AlarmSignal | MotionEvent, city: City) -> str | None:
    if isinstance(event, PanicBeep):
        beeper = city.beeper_by_id.get(event.device_id)
        if beeper is None:
            raise Refusal("unknown_device", f"beeper {event.device_id!r} is not registered")
        return beeper.key
    if isinstance(event, AlarmSignal):
        panel = city.panel_by_id.get(event.panel_id)
        if panel is None:
            raise Refusal("unknown_device", f"panel {event.panel_id!r} is not registered")
        return panel.key
    if event.camera_id not in city.camera_by_id:
        raise Refusal("unknown_device", f"camera {event.camera_id!r} is not registered")
    return None


def _check_signature(event: PanicBeep | AlarmSignal | MotionEvent, raw: bytes, key: str) -> None:
    assert not isinstance(event, MotionEvent)
    if event.sig is None:
        raise Refusal("bad_signature", f"{event.source_id} has a key and must sign its events")
    if not signed_by_device(key, event, raw):
        raise Refusal("bad_signature", f"sig does not match {event.source_id}'s key")


def rejection(message: Received, refusal: Refusal, now: datetime, settings: AdmissionSettings) -> Rejected:
    """The Rejected record that keeps the input whole, or its first part with raw_truncated.

    The input stays text when it is UTF-8 and its JSON form fits `keep_raw_bytes`; else it
    is base64 (at most 4/3 of the bytes, where JSON escapes of control characters take 6),
    cut to fit.
    """
    raw = message.value or b""
    limit = settings.keep_raw_bytes
    text = _utf8(raw) if _json_size(raw) <= limit else None
    if text is not None:
        kept, is_b64, cut = text, False, False
    else:
        part = raw[: limit // 4 * 3]
        kept, is_b64, cut = base64.b64encode(part).decode("ascii"), True, len(part) < len(raw)
    key = message.key
    return Rejected.model_construct(
        reason=refusal.reason,
        topic=topics.named(message.topic),
        key=None if key is None else key[:KEPT_KEY_BYTES].decode("utf-8", "backslashreplace"),
        raw=kept,
        raw_b64=is_b64,
        detail=refusal.detail,
        at=now,
        partition=message.partition,
        offset=message.offset,
        raw_truncated=cut,
    )


def cut_short(record: Rejected) -> Rejected:
    """The same rejection keeping only the first CUT_SHORT_BYTES of its input, as base64."""
    whole = base64.b64decode(record.raw) if record.raw_b64 else record.raw.encode()
    part = whole[:CUT_SHORT_BYTES]
    return record.model_copy(update={
        "raw": base64.b64encode(part).decode("ascii"), "raw_b64": True,
        "raw_truncated": record.raw_truncated or len(part) < len(whole),
    })


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


_ESCAPED_AS_SIX = [bytes([c]) for c in range(32) if c not in b"\b\f\n\r\t"]


def _json_size(raw: bytes) -> int:
    """Bytes of `raw` (as UTF-8 text) inside a JSON string: control characters are escaped."""
    six = sum(raw.count(c) for c in _ESCAPED_AS_SIX)
    two = sum(raw.count(c) for c in (b'"', b"\\", b"\b", b"\f", b"\n", b"\r", b"\t"))
    return len(raw) + 5 * six + two
