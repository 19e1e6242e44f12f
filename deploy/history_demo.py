"""A plausible year of alert history for the demo city, generated (seeded) instead of bundled.

Intrusions come mostly at night, panics in the evening, medical calls in the morning; operators
acknowledge urgent alerts in seconds and others in minutes; a few panels raise far more false
alarms than the rest. Every alert is written as each of its versions (Alert snapshots, one JSON
line each), as `centinela history import` reads them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alert_rules.city import City
from vocabulary.events import Alert, AlertSource, Category

SEED = 2026
ALERTS = 4000
DAYS = 365
# category: (share, priority, hourly weights in the zone's local time 0..23, false-alarm odds)
NIGHT = [9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9]
EVENING = [3, 2, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 5, 5, 5, 6, 7, 8, 10, 12, 12, 10, 7, 5]
MORNING = [2, 2, 2, 2, 3, 5, 8, 10, 10, 9, 8, 7, 6, 6, 5, 5, 5, 5, 5, 4, 4, 3, 3, 2]
FLAT = [1] * 24
PROFILE: dict[Category, tuple[float, int, list[int], float]] = {
    "intrusion": (0.34, 2, NIGHT, 0.55),
    "panic": (0.20, 1, EVENING, 0.25),
    "medical": (0.08, 1, MORNING, 0.10),
    "fire": (0.03, 1, FLAT, 0.40),
    "tamper": (0.05, 3, NIGHT, 0.60),
    "trouble": (0.15, 4, FLAT, 0.20),
    "supervision": (0.07, 4, FLAT, 0.30),
    "motion": (0.08, 3, NIGHT, 0.70),
}
ACK_MEDIAN_S = {1: 14.0, 2: 35.0, 3: 110.0, 4: 600.0, 5: 900.0}
ESCALATION_S = {1: 30.0, 2: 60.0, 3: 300.0}
NOISY_PANELS = 8  # panels that raise many alarms, nearly all false
OPERATORS = ["Operadora Demo", "Supervisor Demo", "Carla Núñez", "Diego Paz", "Rocío Aguirre"]
RESPONDERS = ["Móvil 7", "Móvil 12", "Bomberos Tigre", "SAME 107"]


def generate(city: City, end: datetime, seed: int = SEED, alerts: int = ALERTS, days: int = DAYS) -> list[str]:
    """JSON lines (each ending in a newline) of every version of `alerts` alerts opened in the `days` before `end`."""
    chance = random.Random(seed)
    noisy = chance.sample([p.id for p in city.panels], min(NOISY_PANELS, len(city.panels)))
    lines: list[str] = []
    categories = list(PROFILE)
    weights = [PROFILE[c][0] for c in categories]
    for number in range(alerts):
        category = chance.choices(categories, weights)[0]
        lines.extend(_versions(city, chance, number, category, noisy, end, days))
    return lines


def _source(city: City, chance: random.Random, category: Category, noisy: list[str]) -> tuple[AlertSource, str, bool]:
    """What raised it, its zone, and whether it is one of the noisy panels."""
    if category == "panic" and city.beepers:
        beeper = chance.choice(city.beepers)
        return AlertSource(kind="beeper", id=beeper.id), beeper.home_zone, False
    if category == "motion" and city.cameras:
        camera = chance.choice(city.cameras)
        return AlertSource(kind="camera", id=camera.id), camera.zone, False
    if category in ("intrusion", "tamper") and noisy and chance.random() < 0.3:
        panel = city.panel_by_id[chance.choice(noisy)]
        return AlertSource(kind="alarm", id=panel.id), panel.zone, True
    panel = chance.choice(city.panels)
    return AlertSource(kind="alarm", id=panel.id), panel.zone, False


def _opened_at(chance: random.Random, hours: list[int], timezone: ZoneInfo, end: datetime, days: int) -> datetime:
    day = (end - timedelta(days=chance.uniform(1, days))).astimezone(timezone)
    hour = chance.choices(range(24), hours)[0]
    local = day.replace(hour=hour, minute=chance.randrange(60), second=chance.randrange(60),
                        microsecond=chance.randrange(1000) * 1000)
    return local.astimezone(end.tzinfo)


def _versions(city: City, chance: random.Random, number: int, category: Category, noisy: list[str],
              end: datetime, days: int) -> Iterator[str]:
    _, priority, hours, false_odds = PROFILE[category]
    source, zone_id, is_noisy = _source(city, chance, category, noisy)
    zone = city.zone_by_id[zone_id]
    opened = _opened_at(chance, hours, ZoneInfo(zone.timezone), end, days)
    alert = Alert(alert_id=f"hist-{number:05d}-{source.id}", zone_id=zone_id, priority=priority, category=category,
                  title=f"{category.capitalize()} ({source.id})", status="open", opened_at=opened, updated_at=opened,
                  source=source, count=1, event_ids=[f"hist-{number:05d}"], rule=f"history:{category}")
    yield alert.model_dump_json() + "\n"
    operator = chance.choice(OPERATORS)
    ack_s = chance.lognormvariate(0, 0.6) * ACK_MEDIAN_S[priority]
    deadline = ESCALATION_S.get(priority)
    escalations = int(ack_s // deadline) if deadline else 0
    for step in range(1, min(escalations, 3) + 1):
        assert deadline is not None
        alert = _next(alert, updated_at=opened + timedelta(seconds=deadline * step), escalation=step,
                      change="escalated", changed_by="system")
        yield alert.model_dump_json() + "\n"
    at = opened + timedelta(seconds=ack_s)
    alert = _next(alert, status="acknowledged", updated_at=at, change="acknowledged", changed_by=operator)
    yield alert.model_dump_json() + "\n"
    false_alarm = chance.random() < (0.92 if is_noisy else false_odds)
    if not false_alarm and priority <= 2:
        at += timedelta(seconds=chance.lognormvariate(0, 0.5) * 60)
        responder = chance.choice(RESPONDERS)
        alert = _next(alert, status="dispatched", updated_at=at, change="dispatched", changed_by=operator,
                      responder=responder)
        yield alert.model_dump_json() + "\n"
    at += timedelta(seconds=chance.lognormvariate(0, 0.7) * (1200 if not false_alarm else 240))
    disposition = "false_alarm" if false_alarm else ("test" if chance.random() < 0.03 else "real")
    alert = _next(alert, status="resolved", updated_at=at, change="resolved", changed_by=operator,
                  disposition=disposition)
    yield alert.model_dump_json() + "\n"


def _next(alert: Alert, **changes: object) -> Alert:
    return alert.model_copy(update={"version": alert.version + 1, **changes})
