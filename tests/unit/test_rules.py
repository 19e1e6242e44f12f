from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from alert_rules.rules import Rules
from centinela.rules_commands import BadInput, parse_event
from vocabulary.events import AlarmSignal, PanicBeep

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tigre"


def test_defaults_are_the_contract() -> None:
    policy = Rules().for_zone("any")
    assert policy.grouping_window_s == 120
    assert policy.escalation_s[1:] == (30, 60, 300, None, None)
    assert policy.supervision_factor == pytest.approx(1.1) and policy.supervision_priority == 4
    assert policy.motion == () and policy.silences == () and policy.inhibitions == ()
    assert policy.beeps["panic"] is not None and policy.beeps["panic"][:2] == ("panic", 1)


def test_partial_escalation_keeps_the_other_defaults() -> None:
    assert Rules.model_validate({"escalation_s": {3: 600}}).for_zone("z").escalation_s[1:] == (30, 60, 600, None, None)


@pytest.mark.parametrize("mapping", [
    {"grouping_windw_s": 10},
    {"contact_id": {99: None}},
    {"motion": [{"id": "a", "hours": {"from": "25:00", "to": "06:00"}}]},
    {"motion": [{"id": "a"}, {"id": "a"}]},
    {"silences": [{"id": "s", "match": {}, "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-02T00:00:00Z",
                   "author": "a", "reason": "r"}]},
    {"silences": [{"id": "s", "match": {"zone": "z"}, "starts_at": "2026-01-02T00:00:00Z",
                   "ends_at": "2026-01-01T00:00:00Z", "author": "a", "reason": "r"}]},
])
def test_mistakes_are_refused(mapping: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Rules.model_validate(mapping)


def test_the_example_rules_load() -> None:
    from centinela.config import load_config

    rules = load_config(EXAMPLE).rules
    assert rules.for_zone("tigre-norte").contact_id[130][:2] == ("intrusion", 1)
    assert rules.for_zone("tigre-delta").grouping_window_s == 300


@pytest.mark.parametrize("text, model", [
    ('{"event_id":"e","device_id":"b","ts":"2026-11-21T14:00:00Z","kind":"panic"}', PanicBeep),
    ('{"topic":"devices.alarms","value":{"event_id":"e","panel_id":"p","ts":"2026-11-21T14:00:00Z",'
     '"qualifier":1,"code":130,"group":0,"zone":1}}', AlarmSignal),
])
def test_events_are_read_raw_or_wrapped(text: str, model: type) -> None:
    assert isinstance(parse_event(text), model)


@pytest.mark.parametrize("text", ["nope", "[]", '{"x": 1}', '{"event_id":"e","device_id":"b","kind":"panic"}'])
def test_bad_events_say_why(text: str) -> None:
    with pytest.raises(BadInput):
        parse_event(text)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "centinela", "rules", *args], capture_output=True, text=True,
                          timeout=60, cwd=EXAMPLE.parents[1])


def test_rules_test_and_replay(tmp_path: Path) -> None:
    event = {"event_id": "e1", "panel_id": "acct-1002", "ts": "2026-11-21T14:00:00Z", "qualifier": 1,
             "code": 130, "group": 1, "zone": 3}
    (tmp_path / "event.json").write_text(json.dumps(event))
    tested = _cli("test", "--config", str(EXAMPLE), str(tmp_path / "event.json"))
    assert tested.returncode == 0, tested.stderr
    assert "zone     tigre-norte" in tested.stdout and "rule     contact-id:130: intrusion, priority 1" in tested.stdout
    lines = [event, {**event, "event_id": "e2", "ts": "2026-11-21T14:00:10Z"}, event, "garbage"]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines))
    replayed = _cli("replay", "--config", str(EXAMPLE), "--quiet", str(tmp_path / "events.jsonl"))
    assert replayed.returncode == 0, replayed.stderr
    assert "signals grouped          1" in replayed.stdout and "duplicates ignored       1" in replayed.stdout
    missing = _cli("replay", "--config", str(EXAMPLE), str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
