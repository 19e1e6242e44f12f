"""Admission decides every input: a zone event, or a rejection with the contract's reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from alert_rules.city import Beeper, Camera, City, Panel, Zone
from streams.admit import CUT_SHORT_BYTES, AdmissionSettings, Received, Refusal, admit, cut_short, rejection
from vocabulary.signing import signature

NOW = datetime(2026, 11, 21, 14, 0, 0, tzinfo=UTC)
TS = "2026-11-21T13:59:58.500Z"
KEY = "00112233445566778899aabbccddeeff"
CENTRO = [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42], [-58.585, -34.42]]
NORTE = [[-58.60, -34.42], [-58.585, -34.42], [-58.585, -34.405], [-58.60, -34.405]]

CITY = City(
    zones=[Zone(id="tigre-centro", polygon=CENTRO), Zone(id="tigre-norte", polygon=NORTE)],
    beepers=[Beeper(id="bpr-1", home_zone="tigre-norte"), Beeper(id="bpr-signed", home_zone="tigre-centro", key=KEY)],
    panels=[Panel(id="acct-1", zone="tigre-centro"), Panel(id="acct-signed", zone="tigre-norte", key=KEY)],
    cameras=[Camera(id="cam-1", zone="tigre-norte")],
)
SETTINGS = AdmissionSettings(max_bytes=4096)


def beep(**changes: object) -> dict[str, object]:
    return {"event_id": "e-1", "device_id": "bpr-1", "ts": TS, "kind": "panic", **changes}


def alarm(**changes: object) -> dict[str, object]:
    return {"event_id": "e-1", "panel_id": "acct-1", "ts": TS, "qualifier": 1, "code": 130, "group": 1,
            "zone": 3, **changes}


def motion(**changes: object) -> dict[str, object]:
    return {"event_id": "m-1", "camera_id": "cam-1", "ts": TS, "motion_id": "ep-1", "phase": "start",
            "area_pct": 3.5, "boxes": [[0.1, 0.2, 0.3, 0.4]], "regions": ["gate"], **changes}


def without(event: dict[str, object], field: str) -> dict[str, object]:
    return {k: v for k, v in event.items() if k != field}


def encoded(value: object) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def decide(topic: str, value: object) -> str:
    try:
        admit(Received(topic, b"k", encoded(value)), CITY, SETTINGS, NOW)
    except Refusal as refusal:
        return refusal.reason
    return "admitted"


def signed_beep(**changes: object) -> dict[str, object]:
    event = beep(device_id="bpr-signed", **changes)
    event["sig"] = signature(KEY, "bpr-signed", str(event["event_id"]), str(event["ts"]), str(event["kind"]))
    return event


BAD_INPUTS = [
    # malformed: not a JSON object in UTF-8, or too large
    ("devices.beeps", b"", "malformed"),
    ("devices.beeps", b"not json", "malformed"),
    ("devices.beeps", b"\xff\xfe\x00garbage", "malformed"),
    ("devices.beeps", b'{"event_id": "e-1", ', "malformed"),
    ("devices.beeps", b"[1, 2, 3]", "malformed"),
    ("devices.beeps", b'"a string"', "malformed"),
    ("devices.beeps", b"null", "malformed"),
    ("devices.alarms", b"42", "malformed"),
    ("cameras.motion", b"x" * 5000, "malformed"),
    ("devices.beeps", json.dumps(beep(pad="y" * 5000)).encode(), "malformed"),
    # schema: a required field missing or ill-typed
    ("devices.beeps", without(beep(), "event_id"), "schema"),
    ("devices.beeps", without(beep(), "ts"), "schema"),
    ("devices.beeps", beep(kind="explode"), "schema"),
    ("devices.beeps", beep(event_id=""), "schema"),
    ("devices.beeps", beep(event_id="has space"), "schema"),
    ("devices.beeps", beep(event_id="x" * 65), "schema"),
    ("devices.beeps", beep(device_id=17), "schema"),
    ("devices.beeps", beep(ts="2026-11-21T13:59:58"), "schema"),
    ("devices.beeps", beep(ts=1763733598), "schema"),
    ("devices.beeps", beep(ts="yesterday"), "schema"),
    ("devices.beeps", beep(location={"lat": 91, "lon": 0}), "schema"),
    ("devices.beeps", beep(location={"lat": "-34.4", "lon": -58.5}), "schema"),
    ("devices.beeps", beep(location=[-34.4, -58.5]), "schema"),
    ("devices.beeps", beep(battery_pct=101), "schema"),
    ("devices.beeps", beep(sig="not-hex"), "schema"),
    ("devices.alarms", alarm(qualifier=2), "schema"),
    ("devices.alarms", alarm(qualifier=True), "schema"),
    ("devices.alarms", alarm(code="130"), "schema"),
    ("devices.alarms", alarm(code=1300), "schema"),
    ("devices.alarms", alarm(code=130.5), "schema"),
    ("devices.alarms", alarm(group=100), "schema"),
    ("devices.alarms", without(alarm(), "zone"), "schema"),
    ("cameras.motion", motion(phase="middle"), "schema"),
    ("cameras.motion", motion(area_pct=120), "schema"),
    ("cameras.motion", motion(boxes=[[0.1, 0.2, 0.3]]), "schema"),
    ("cameras.motion", motion(boxes=[[0.1, 0.2, 0.3, 1.5]]), "schema"),
    ("cameras.motion", motion(regions="gate"), "schema"),
    ("devices.beeps", alarm(), "schema"),  # an alarm signal on the beeps topic
    # unknown_device
    ("devices.beeps", beep(device_id="bpr-404"), "unknown_device"),
    ("devices.alarms", alarm(panel_id="acct-404"), "unknown_device"),
    ("cameras.motion", motion(camera_id="cam-404"), "unknown_device"),
    # bad_signature
    ("devices.beeps", beep(device_id="bpr-signed"), "bad_signature"),
    ("devices.beeps", {**signed_beep(), "kind": "cancel"}, "bad_signature"),
    ("devices.beeps", {**signed_beep(), "sig": "00" * 32}, "bad_signature"),
    ("devices.alarms", alarm(panel_id="acct-signed"), "bad_signature"),
    # stale and future
    ("devices.beeps", beep(ts="2026-11-21T13:54:59Z"), "stale"),
    ("devices.alarms", alarm(ts="2026-11-20T14:00:00Z"), "stale"),
    ("devices.beeps", beep(ts="2026-11-21T14:01:01Z"), "future"),
    ("cameras.motion", motion(ts="2027-01-01T00:00:00Z"), "future"),
]


@pytest.mark.parametrize(("topic", "value", "reason"), BAD_INPUTS)
def test_each_bad_input_is_refused_with_its_reason(topic: str, value: object, reason: str) -> None:
    assert decide(topic, value) == reason


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    assert len(BAD_INPUTS) >= 30
    assert {reason for _, _, reason in BAD_INPUTS} == {
        "malformed", "schema", "unknown_device", "bad_signature", "stale", "future"}


@pytest.mark.parametrize(("topic", "value"), [
    ("devices.beeps", beep()),
    ("devices.beeps", beep(kind="heartbeat", battery_pct=55, location={"lat": -34.425, "lon": -58.58})),
    ("devices.beeps", beep(ts="2026-11-21T10:59:58-03:00")),
    ("devices.beeps", beep(unknown_field={"newer": "device"})),
    ("devices.beeps", signed_beep()),
    ("devices.beeps", signed_beep(ts="2026-11-21T13:59:58.5+00:00")),
    ("devices.alarms", alarm()),
    ("cameras.motion", motion()),
    ("cameras.motion", motion(ts="2026-11-21T14:00:59Z")),
    ("devices.beeps", beep(ts="2026-11-21T13:55:01Z")),
])
def test_valid_events_are_admitted(topic: str, value: object) -> None:
    assert decide(topic, value) == "admitted"


def test_signed_alarm_signs_qualifier_and_code_joined() -> None:
    event = alarm(panel_id="acct-signed", qualifier=3, code=131)
    event["sig"] = signature(KEY, "acct-signed", "e-1", TS, "3131").upper()
    assert decide("devices.alarms", event) == "admitted"


def test_signature_covers_ts_exactly_as_sent() -> None:
    event = signed_beep()
    event["ts"] = "2026-11-21T13:59:58.50Z"  # the same instant, written differently: not what was signed
    assert decide("devices.beeps", event) == "bad_signature"


def test_a_panic_lands_in_the_zone_containing_its_location() -> None:
    admitted = admit(Received("devices.beeps", b"bpr-1", encoded(beep(location={"lat": -34.425, "lon": -58.58}))),
                     CITY, SETTINGS, NOW)
    assert admitted.zone_id == "tigre-centro"
    assert admitted.source.kind == "beeper" and admitted.source.id == "bpr-1"
    assert admitted.beep is not None and admitted.beep.kind == "panic"


@pytest.mark.parametrize("location", [None, {"lat": 10.0, "lon": 10.0}])
def test_a_panic_without_a_usable_location_lands_in_the_home_zone(location: object) -> None:
    value = beep() if location is None else beep(location=location)
    admitted = admit(Received("devices.beeps", b"bpr-1", encoded(value)), CITY, SETTINGS, NOW)
    assert admitted.zone_id == "tigre-norte"


def test_panels_and_cameras_land_in_their_registered_zones() -> None:
    assert admit(Received("devices.alarms", None, encoded(alarm())), CITY, SETTINGS, NOW).zone_id == "tigre-centro"
    assert admit(Received("cameras.motion", None, encoded(motion())), CITY, SETTINGS, NOW).zone_id == "tigre-norte"


def test_the_zone_event_round_trips_through_json() -> None:
    from vocabulary.events import ZoneEvent

    admitted = admit(Received("devices.alarms", None, encoded(alarm())), CITY, SETTINGS, NOW)
    again = ZoneEvent.model_validate_json(admitted.model_dump_json())
    assert again == admitted and again.event.event_id == "e-1"


def test_rejection_keeps_utf8_raw_exactly() -> None:
    raw = '{"kind": "pánico", "oops"'.encode()
    message = Received("devices.beeps", b"bpr-1", raw, partition=2, offset=7)
    kept = rejection(message, Refusal("malformed", "x"), NOW, SETTINGS)
    assert kept.raw == raw.decode() and not kept.raw_b64 and kept.key == "bpr-1"
    assert (kept.topic, kept.partition, kept.offset) == ("devices.beeps", 2, 7)


def test_rejection_keeps_binary_raw_as_base64() -> None:
    raw = b"\x00\xff\xfe binary \x80"
    kept = rejection(Received("devices.alarms", None, raw), Refusal("malformed", "x"), NOW, SETTINGS)
    assert kept.raw_b64 and base64.b64decode(kept.raw) == raw and kept.key is None


def test_rejection_of_a_huge_value_says_it_was_cut_and_where_the_rest_is() -> None:
    settings = AdmissionSettings(keep_raw_bytes=100)
    raw = b"y" * 1000
    kept = rejection(Received("cameras.motion", b"c", raw, 0, 41), Refusal("malformed", "x"), NOW, settings)
    assert kept.raw_b64 and base64.b64decode(kept.raw) == b"y" * 75 and kept.raw_truncated and kept.offset == 41
    assert len(kept.raw) <= 100


@pytest.mark.parametrize("raw", [
    bytes(range(1, 32)) * 200_000,  # 6 MiB of control characters: six bytes each as JSON text
    b"\xff" * 6_000_000,  # not UTF-8
    "\u00e9\"\\".encode() * 2_000_000,
])
def test_a_rejection_always_fits_its_limit_as_json(raw: bytes) -> None:
    settings = AdmissionSettings(keep_raw_bytes=1024 * 1024)
    kept = rejection(Received("devices.beeps", b"\xff" * 100_000, raw, 0, 1), Refusal("malformed", "x"), NOW, settings)
    assert len(kept.model_dump_json()) < 1024 * 1024 + 8 * 1024
    assert kept.raw_truncated and kept.key is not None and len(kept.key) <= 4 * 1024
    first = base64.b64decode(kept.raw) if kept.raw_b64 else kept.raw.encode()
    assert raw.startswith(first) and len(first) > 500_000


def test_a_small_text_rejection_stays_text_whole() -> None:
    raw = b'{"event_id": "e\x01"}'
    kept = rejection(Received("devices.beeps", b"k", raw), Refusal("malformed", "x"), NOW, SETTINGS)
    assert kept.raw == raw.decode() and not kept.raw_b64 and not kept.raw_truncated


def test_a_rejection_cut_short_keeps_its_start_as_base64() -> None:
    kept = rejection(Received("devices.beeps", b"k", b"z" * 200_000), Refusal("malformed", "x"), NOW, SETTINGS)
    short = cut_short(kept)
    assert short.raw_b64 and base64.b64decode(short.raw) == b"z" * CUT_SHORT_BYTES and short.raw_truncated
    assert short.reason == kept.reason and short.offset == kept.offset


def test_duplicate_memory_must_cover_the_replay_window() -> None:
    with pytest.raises(ValidationError, match="duplicate_memory_s"):
        AdmissionSettings(stale_s=300, future_s=60, duplicate_memory_s=200)
    assert AdmissionSettings(stale_s=300, future_s=60, duplicate_memory_s=360).duplicate_memory_s == 360


def test_rejected_serialises_to_the_contract_shape() -> None:
    kept = rejection(Received("devices.beeps", b"k", b"{}"), Refusal("schema", "event_id: missing"), NOW, SETTINGS)
    as_json = json.loads(kept.model_dump_json())
    assert {"reason", "topic", "key", "raw", "detail", "at"} <= as_json.keys()
    assert as_json["at"] == "2026-11-21T14:00:00.000Z"
    assert as_json["reason"] == "schema"
