"""Events per second through the rule engine alone, on one core, on a mixed stream.

The stream: panic and other beeps, Contact ID signals (alarms, restores, troubles, tests)
and camera motion, over 20 zones, with operators resolving alerts now and then so the
state looks like a working center's. The baseline, measured in the same run, is the
cheapest thing a worker must do with each event anyway: a JSON round trip of it.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from alert_rules.city import City
from alert_rules.engine import RuleEngine, zone_event
from alert_rules.rules import Rules
from tests.bench._report import report
from vocabulary.events import AlarmSignal, MotionEvent, OperatorAction, PanicBeep, ZoneEvent

ZONES = 20
EVENTS = 200_000
START = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)


def build_city() -> City:
    zones = [{"id": f"z{i}", "polygon": [[i, 0], [i + 1, 0], [i + 1, 1]]} for i in range(ZONES)]
    return City.model_validate({
        "zones": zones,
        "beepers": [{"id": f"b{i}", "home_zone": f"z{i % ZONES}"} for i in range(400)],
        "panels": [{"id": f"p{i}", "zone": f"z{i % ZONES}", "supervision_s": 3600} for i in range(400)],
        "cameras": [{"id": f"c{i}", "zone": f"z{i % ZONES}"} for i in range(100)],
    })


def build_rules() -> Rules:
    return Rules.model_validate({"motion": [{"id": "night", "min_area_pct": 20, "min_duration_s": 2}]})


def build_stream(city: City, rng: random.Random) -> list[tuple[ZoneEvent, datetime]]:
    stream = []
    for n in range(EVENTS):
        at = START + timedelta(milliseconds=20 * n)
        roll = rng.random()
        if roll < 0.35:
            kind = rng.choices(["heartbeat", "panic", "cancel", "test", "low_battery"], [85, 4, 1, 6, 4])[0]
            event = PanicBeep.model_construct(event_id=f"e{n}", device_id=f"b{rng.randrange(400)}", ts=at,
                                              kind=kind, location=None, battery_pct=None, sig=None)
        elif roll < 0.7:
            code = rng.choices([602, 401, 402, 130, 131, 110, 100, 121, 301, 302, 383, 144],
                               [40, 25, 10, 4, 2, 1, 1, 1, 6, 5, 3, 2])[0]
            event = AlarmSignal.model_construct(event_id=f"e{n}", panel_id=f"p{rng.randrange(400)}", ts=at,
                                                qualifier=rng.choice([1, 1, 1, 3]), code=code, group=1,
                                                zone=rng.randrange(8), sig=None)
        else:
            camera = rng.randrange(100)
            event = MotionEvent.model_construct(
                event_id=f"e{n}", camera_id=f"c{camera}", ts=at, motion_id=f"m{camera}-{n // 50}",
                phase=rng.choice(["start", "update", "update", "end"]), area_pct=rng.uniform(0, 40),
                boxes=[[0.1, 0.1, 0.2, 0.2]], regions=[], snapshot=f"/snap/{n}.jpg")
        admitted = zone_event(city, event, at)
        assert admitted is not None
        stream.append((admitted, at))
    return stream


def run_engine(engine: RuleEngine, stream: list[tuple[ZoneEvent, datetime]]) -> tuple[float, int]:
    states = {z.id: engine.new_state(z.id, START) for z in engine.city.zones}
    changes = 0
    begin = time.perf_counter()
    for n, (event, at) in enumerate(stream):
        state = states[event.zone_id]
        changes += len(engine.evaluate(state, event, at).alerts)
        if n % 500 == 0:  # timers and operators, as a worker would drive them
            for zone_state in states.values():
                changes += len(engine.tick(zone_state, at).alerts)
                for alert_id in list(zone_state.alerts)[:5]:
                    action = OperatorAction.model_construct(
                        action_id=f"a{n}-{alert_id}", alert_id=alert_id, zone_id=zone_state.zone_id,
                        action="resolve", by="bench", at=at, responder=None, disposition="test", note=None)
                    changes += len(engine.act(zone_state, action).alerts)
    return time.perf_counter() - begin, changes


def run_baseline(stream: list[tuple[ZoneEvent, datetime]]) -> float:
    begin = time.perf_counter()
    for event, _ in stream:
        ZoneEvent.model_validate_json(event.model_dump_json())
    return time.perf_counter() - begin


def main() -> None:
    city = build_city()
    engine = RuleEngine(city, build_rules())
    stream = build_stream(city, random.Random(7))
    run_engine(engine, stream[:20_000])  # warm the caches
    engine_s, changes = min((run_engine(engine, stream) for _ in range(3)), key=lambda r: r[0])
    baseline_s = min(run_baseline(stream[:50_000]) for _ in range(3)) * (len(stream) / 50_000)
    rate = len(stream) / engine_s
    baseline_rate = len(stream) / baseline_s
    report(
        "engine",
        {"events": len(stream), "zones": ZONES, "beepers": 400, "panels": 400, "cameras": 100,
         "mix": "35% beeps, 35% Contact ID, 30% motion; ticks and resolves every 500 events",
         "baseline": "ZoneEvent JSON round trip (model_dump_json + model_validate_json)"},
        {"engine_events_per_s": round(rate), "alert_snapshots": changes,
         "baseline_events_per_s": round(baseline_rate),
         "engine_vs_baseline": round(rate / baseline_rate, 2),
         "target_events_per_s": 100_000, "meets_target": rate >= 100_000},
    )


if __name__ == "__main__":
    main()
