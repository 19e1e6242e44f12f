"""The simulator's pure generation: valid, signed, deterministic events from the bundled demo city."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from centinela.config import Config, load_config
from deploy.scenarios import script
from deploy.simulate import DEMO_CITY as CITY
from deploy.simulate import Outgoing, Traffic
from streams.admit import AdmissionSettings, Received, admit
from vocabulary import topics

START = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(CITY)


def admitted(config: Config, message: Outgoing, now: datetime) -> str:
    received = Received(message.topic, message.key.encode(), json.dumps(message.value).encode())
    return admit(received, config.city, AdmissionSettings(), now).zone_id


def test_the_demo_city_has_six_zones_that_do_not_overlap(config: Config) -> None:
    traffic = Traffic(config.city, seed=1, run_tag="t", start=START)
    assert len(config.city.zones) == 6
    for zone in config.city.zones:
        for _ in range(50):
            fix = traffic.location_in(zone)
            assert [z.id for z in config.city.zones if z.contains(fix["lat"], fix["lon"])] == [zone.id]


def test_background_traffic_is_admitted_signed_and_in_its_zone(config: Config) -> None:
    traffic = Traffic(config.city, seed=3, run_tag="t", start=START)
    now, messages = START, []
    for _ in range(2000):
        now += timedelta(seconds=0.5)
        messages += traffic.due(now) + traffic.background(now)
    signed = [m for m in messages if "sig" in m.value]
    assert signed and len(signed) < len(messages)
    for message in messages:
        zone = admitted(config, message, datetime.fromisoformat(message.value["ts"].replace("Z", "+00:00")))
        if message.value.get("kind") == "panic":
            assert zone == config.city.beeper_by_id[message.key].home_zone
    codes = {m.value["code"] for m in messages if m.topic == topics.ALARMS}
    assert {602, 301, 144} <= codes and codes & {130, 131, 132, 134}
    restores = [m for m in messages if m.value.get("qualifier") == 3]
    assert restores and all(m.value["code"] in (130, 131, 132, 134, 301) for m in restores)


def test_the_silent_panel_never_speaks_and_short_supervised_panels_keep_alive(config: Config) -> None:
    traffic = Traffic(config.city, seed=5, run_tag="t", start=START)
    heard: dict[str, list[datetime]] = {}
    now = START
    for _ in range(1200):  # ten minutes
        now += timedelta(seconds=0.5)
        for message in traffic.due(now) + traffic.background(now):
            if message.topic == topics.ALARMS:
                heard.setdefault(message.key, []).append(now)
    assert [p.id for p in traffic.silent] == ["acc-9001"] and "acc-9001" not in heard
    for panel in config.city.panels:
        if panel.supervision_s is not None and panel.supervision_s < 3600 and panel not in traffic.silent:
            times = [START, *heard[panel.id], now]
            assert max(b - a for a, b in pairwise(times)) <= timedelta(seconds=panel.supervision_s)


def test_the_same_seed_gives_the_same_traffic(config: Config) -> None:
    def run(seed: int) -> list[dict[str, object]]:
        traffic = Traffic(config.city, seed=seed, run_tag="t", start=START)
        return [m.value for i in range(200) for m in traffic.background(START + timedelta(seconds=i))]

    assert run(11) == run(11) != run(12)


def test_without_incidents_only_routine_events_are_sent(config: Config) -> None:
    traffic = Traffic(config.city, seed=2, run_tag="t", start=START)
    messages = [m for i in range(500) for m in traffic.background(START + timedelta(seconds=i), incidents=False)]
    assert {m.value.get("kind") for m in messages if m.topic == topics.BEEPS} <= {"heartbeat", "low_battery"}
    assert {m.value["code"] for m in messages if m.topic == topics.ALARMS} == {602}


def test_every_category_signals_each_category_in_the_right_zones(config: Config) -> None:
    city = config.city
    traffic = Traffic(city, seed=7, run_tag="t", start=START, snapshots="/snaps")
    steps = script("every-category", city)
    assert [s.at_s for s in steps] == sorted(s.at_s for s in steps) and steps[-1].at_s <= 45
    messages = [(step.at_s, m) for step in steps for m in step.build(traffic, START + timedelta(seconds=step.at_s))]
    for _, message in messages:
        admitted(config, message, datetime.fromisoformat(message.value["ts"].replace("Z", "+00:00")))
    alarms = {m.value["code"]: city.panel_by_id[m.key].zone for _, m in messages
              if m.topic == topics.ALARMS and m.value["qualifier"] == 1 and m.value["code"] != 602}
    assert {121, 100, 110, 144, 301} <= set(alarms) and set(alarms) & {130, 131, 132, 134}
    assert not set(alarms.values()) & {"tigre-centro", "tigre-norte"}  # the motion and panic zones stay clear
    panic = next((at, m) for at, m in messages if m.value.get("kind") == "panic")
    assert city.beeper_by_id[panic[1].key].home_zone == "tigre-norte" and "sig" in panic[1].value
    near_panic = [(at, m) for at, m in messages if m.key == "cam-avenida"]
    assert near_panic[0][0] > panic[0] and near_panic[0][1].snapshot == near_panic[0][1].value["snapshot"]
    assert all(m.value["snapshot"].startswith("/snaps/cam-avenida/") for _, m in near_panic)
    motion = [m.value for _, m in messages if m.key == "cam-estacion"]
    assert motion[0]["phase"] == "start" and motion[-1]["phase"] == "end"
    assert all(v["regions"] == ["anden"] and v["area_pct"] >= 1 for v in motion)
