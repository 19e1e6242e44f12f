"""The demo's seniors (contract section 15): check-ins moved to just after start-up, all but one kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from alert_rules.city import City
from alert_rules.engine import RuleEngine
from alert_rules.rules import Rules
from centinela.config import load_config
from deploy.simulate import DEMO_CITY, Traffic, checkins_soon
from streams.admit import AdmissionSettings, Received, admit

START = datetime(2026, 12, 7, 13, 0, 20, tzinfo=UTC)  # 10:00:20 in Tigre
TIGRE = {"tigre-centro": "America/Argentina/Buenos_Aires"}


def test_the_demo_moves_every_check_in_to_a_few_minutes_after_start() -> None:
    devices: dict[str, Any] = {"panels": [{"id": "p", "zone": "tigre-centro", "checkin": {"by": "09:00", "grace_min": 30}}],
                               "beepers": [{"id": "b", "home_zone": "tigre-centro", "checkin": {"by": "07:00"}},
                                           {"id": "c", "home_zone": "tigre-centro"}]}
    assert checkins_soon(devices, TIGRE, START)
    assert devices["panels"][0]["checkin"] == {"by": "10:04", "grace_min": 30}
    assert devices["beepers"][0]["checkin"] == {"by": "10:04", "grace_min": 30}
    assert "checkin" not in devices["beepers"][1]
    assert not checkins_soon({"panels": [{"id": "q", "zone": "tigre-centro"}]}, TIGRE, START)


def test_near_midnight_the_check_in_stays_on_its_day() -> None:
    devices: dict[str, Any] = {"panels": [{"id": "p", "zone": "tigre-centro", "checkin": {"by": "09:00", "grace_min": 30}}]}
    checkins_soon(devices, TIGRE, datetime(2026, 12, 8, 2, 58, tzinfo=UTC))  # 23:58 in Tigre
    assert devices["panels"][0]["checkin"] == {"by": "23:59", "grace_min": 0}


def demo_city() -> City:
    """The bundled city as `centinela demo` writes it at START."""
    config = load_config(DEMO_CITY)
    zones = {z.id: z.timezone for z in config.city.zones}
    devices = yaml.safe_load((DEMO_CITY / "devices.yaml").read_text(encoding="utf-8"))
    checkins_soon(devices, zones, START)
    data = config.city.model_dump(mode="python")
    data["panels"], data["beepers"] = devices["panels"], devices["beepers"]
    return City.model_validate(data)


def test_every_senior_but_one_checks_in_and_she_gets_a_welfare_alert_within_minutes() -> None:
    city = demo_city()
    seniors = {d.id for d in (*city.panels, *city.beepers) if d.checkin}
    assert seniors == {"acc-1001", "acc-1002", "acc-1004", "acc-1009", "bp-0001"}
    traffic = Traffic(city, seed=7, run_tag="t", start=START)
    assert traffic.forgetful == ["acc-1004"]
    engine = RuleEngine(city, Rules())
    states = {z.id: engine.new_state(z.id, START) for z in city.zones}
    welfare: dict[str, datetime] = {}
    now = START
    while now < START + timedelta(minutes=6):
        now += timedelta(seconds=0.5)
        for message in traffic.due(now) + traffic.background(now):
            received = Received(message.topic, message.key.encode(), json.dumps(message.value).encode())
            event = admit(received, city, AdmissionSettings(), now)
            engine.evaluate(states[event.zone_id], event, now)
        if now.microsecond == 0:
            for state in states.values():
                for alert in engine.tick(state, now).alerts:
                    if alert.category == "welfare" and alert.change == "opened":
                        welfare[alert.source.id] = now
    assert list(welfare) == ["acc-1004"]
    assert welfare["acc-1004"] < START + timedelta(minutes=5)
    days = {d.device_id: d for d in engine.checkin_days(states["tigre-centro"])}
    assert {i for i, d in days.items() if d.checked_in_at is not None} == seniors - {"acc-1004"}
