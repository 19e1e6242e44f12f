"""The contract's models: strict where the contract is, tolerant of newer devices."""

from __future__ import annotations

import json

import pytest

from centinela.cli import UNEXPECTED, main
from vocabulary.events import AlarmSignal, Alert, PanicBeep, parse_timestamp


def test_timestamps_keep_their_instant_and_serialise_as_utc_millis() -> None:
    beep = PanicBeep.model_validate_json(
        b'{"event_id": "e", "device_id": "d", "ts": "2026-11-21T11:00:00.123456789-03:00", "kind": "test"}')
    assert json.loads(beep.model_dump_json())["ts"] == "2026-11-21T14:00:00.123Z"


@pytest.mark.parametrize("text", ["2026-11-21", "2026-11-21T14:00:00", "2026-11-21T14:00Z", "14:00:00Z", ""])
def test_timestamps_without_date_time_and_offset_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_unknown_fields_are_ignored() -> None:
    signal = AlarmSignal.model_validate_json(
        b'{"event_id": "e", "panel_id": "p", "ts": "2026-11-21T14:00:00Z", "qualifier": 1, "code": 130,'
        b' "group": 0, "zone": 0, "firmware": "9.1"}')
    assert signal.code == 130 and not hasattr(signal, "firmware")


def test_an_alert_round_trips() -> None:
    alert = Alert.model_validate({
        "alert_id": "a1", "zone_id": "z", "priority": 1, "category": "panic", "title": "Panic", "status": "open",
        "opened_at": "2026-11-21T14:00:00Z", "updated_at": "2026-11-21T14:00:01Z",
        "source": {"kind": "beeper", "id": "b"}, "count": 1, "event_ids": ["e"], "rule": "panic"})
    assert Alert.model_validate_json(alert.model_dump_json()) == alert


def test_schema_prints_every_contract_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas) == {"PanicBeep", "AlarmSignal", "MotionEvent", "Alert", "Rejected"}
    assert set(schemas["PanicBeep"]["required"]) == {"event_id", "device_id", "ts", "kind"}
    assert schemas["AlarmSignal"]["properties"]["code"]["maximum"] == 999


def test_schema_of_an_unknown_message_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "Nope"]) == 2
    assert "unknown message 'Nope'" in capsys.readouterr().err


def test_an_unexpected_failure_is_one_line_not_a_traceback(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> dict[str, object]:
        raise RuntimeError("disk on fire")

    monkeypatch.delenv("CENTINELA_DEBUG", raising=False)
    monkeypatch.setattr(PanicBeep, "model_json_schema", broken)
    assert main(["schema", "PanicBeep"]) == UNEXPECTED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "centinela schema: unexpected error: RuntimeError: disk on fire" in err

    monkeypatch.setenv("CENTINELA_DEBUG", "1")
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["schema", "PanicBeep"])
