"""Simulated city traffic: what beepers, alarm panels and cameras send next.

Pure: given a seeded random and the time, it says which events to publish; publishing
them (Kafka, pacing, progress) is `centinela.demo_commands`' job, so the generation is tested alone.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alert_rules.checkins import CheckIn
from alert_rules.city import Beeper, Camera, City, Panel, Zone
from vocabulary import topics
from vocabulary.events import format_timestamp
from vocabulary.signing import signature

DEMO_CITY = Path(__file__).resolve().parent / "city"  # the bundled city of `centinela demo`
SILENT_BELOW_S = 60  # a panel supervised more tightly than this is left silent: it shows supervision
KEEPALIVE_BELOW_S = 3600  # panels supervised more tightly than this send a test every third of it
BURGLARY_CODES = (130, 131, 132, 134)  # burglary, perimeter, interior, entry/exit
TEST_CODE = 602
AC_LOSS = 301
OPENING = 401  # a senior's panel disarmed in the morning: her sign of life (contract section 15)
CHECKIN_LEAD_S = 1800  # a senior checks in at most this long before her check-in is due

# Background incidents, weight per 1000 events: mostly routine, alarms are rare.
BACKGROUND: tuple[tuple[str, int], ...] = (
    ("heartbeat", 560),
    ("panel_test", 330),
    ("low_battery", 30),
    ("ac_loss", 25),
    ("burglary", 15),
    ("panic", 15),
    ("tamper", 10),
    ("medical", 8),
    ("fire", 4),
    ("duress", 3),
)
ROUTINE = ("heartbeat", "panel_test", "low_battery")


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: the contract's topic (unprefixed), key and JSON value."""

    topic: str
    key: str
    value: dict[str, Any]
    snapshot: str | None = None  # write a simulated camera frame at this path before publishing

    @property
    def kind(self) -> str:
        return {topics.BEEPS: "beeps", topics.ALARMS: "alarms", topics.MOTION: "motion"}[self.topic]


Later = Callable[[datetime], list[Outgoing]]


def is_silent(panel: Panel) -> bool:
    """The simulator never lets such a panel speak, so its supervision alert shows."""
    return panel.supervision_s is not None and panel.supervision_s < SILENT_BELOW_S


DEMO_CHECKIN_AFTER = timedelta(minutes=3)  # the demo's check-ins fall due this long after it starts


def checkins_soon(devices: dict[str, Any], timezones: dict[str, str], now: datetime) -> bool:
    """Move every check-in of a devices document (YAML as loaded) to fall due soon after `now`,
    in its zone's time zone, so a demo shows them at once; True if it moved any."""
    moved = False
    for section, zone_field in (("panels", "zone"), ("beepers", "home_zone")):
        for device in devices.get(section) or ():
            checkin = device.get("checkin")
            if not isinstance(checkin, dict):
                continue
            local = now.astimezone(ZoneInfo(timezones.get(device.get(zone_field), "UTC")))
            soon = local + DEMO_CHECKIN_AFTER + timedelta(seconds=59)  # the next whole minute after
            minute = soon.hour * 60 + soon.minute if soon.date() == local.date() else 24 * 60 - 1
            checkin["by"] = f"{minute // 60:02d}:{minute % 60:02d}"
            checkin["grace_min"] = min(int(checkin.get("grace_min", 30)), 24 * 60 - 1 - minute)
            moved = True
    return moved


def misses_checkin(checkin: CheckIn | None) -> bool:
    """A senior whose check-in allows no grace never checks in here, so her welfare alert shows."""
    return checkin is not None and checkin.grace_min == 0


@dataclass(order=True)
class _Due:
    at: datetime
    order: int
    make: Later = field(compare=False)


class Traffic:
    """The devices of one city and what they say; every choice comes from `seed`.

    `run_tag` goes into every event_id, so a restarted simulator never repeats one.
    `snapshots` is the folder simulated motion snapshots are named in (None: no snapshots).
    """

    def __init__(self, city: City, seed: int, run_tag: str, start: datetime, snapshots: str | None = None) -> None:
        self.city = city
        self.random = random.Random(seed)
        self.run_tag = run_tag
        self.snapshots = snapshots
        self._serial = 0
        self._queue: list[_Due] = []
        self._order = 0
        self.silent = [p for p in city.panels if is_silent(p)]
        self._speaking = [p for p in city.panels if p not in self.silent]
        # Seniors with a check-in send only routine traffic at random: their activity is their check-in.
        self._calm_panels = [p for p in self._speaking if p.checkin is None]
        self._calm_beepers = [b for b in city.beepers if b.checkin is None]
        devices: list[Panel | Beeper] = [*self._speaking, *city.beepers]
        self.forgetful = [d.id for d in devices if misses_checkin(d.checkin)]
        for device in devices:
            if device.checkin is not None and not misses_checkin(device.checkin):
                self._check_in_before_due(device, device.checkin, start, start)
        for panel in self._speaking:
            if panel.supervision_s is not None and panel.supervision_s < KEEPALIVE_BELOW_S:
                first = start + timedelta(seconds=self.random.uniform(0, panel.supervision_s / 3))
                self.later(first, self._keepalive(panel))

    # -- what happens next -----------------------------------------------------------------

    def due(self, now: datetime) -> list[Outgoing]:
        """Follow-ups whose time has come: restores, cancels, keep-alive tests."""
        found: list[Outgoing] = []
        while self._queue and self._queue[0].at <= now:
            found += heapq.heappop(self._queue).make(now)
        return found

    def background(self, now: datetime, incidents: bool = True) -> list[Outgoing]:
        """One routine event or, rarely, an incident (whose follow-ups are scheduled).
        Without `incidents`, routine only: a scripted scenario plays unmixed with random alarms."""
        kinds, weights = zip(*(kw for kw in BACKGROUND if incidents or kw[0] in ROUTINE), strict=True)
        kind = self.random.choices(kinds, weights)[0]
        beepers = self.city.beepers if kind in ROUTINE else self._calm_beepers
        if kind in ("heartbeat", "low_battery", "panic") and beepers:
            beeper = self.random.choice(beepers)
            if kind == "heartbeat":
                return [self.beep(beeper, "heartbeat", now, battery_pct=self.random.randint(20, 100))]
            if kind == "low_battery":
                return [self.beep(beeper, "low_battery", now, battery_pct=self.random.randint(3, 12))]
            return self.panic(beeper, now, cancel_after_s=self.random.choice((None, None, 8.0)))
        panels = self._speaking if kind in ROUTINE else self._calm_panels
        if not panels:
            return []
        panel = self.random.choice(panels)
        if kind == "panel_test":
            return [self.alarm(panel, TEST_CODE, now)]
        if kind == "burglary":
            return self.burglary(panel, now, restore_after_s=self.random.uniform(20, 60))
        if kind == "ac_loss":
            return self.opening_and_restore(panel, AC_LOSS, now, self.random.uniform(30, 120))
        code = {"tamper": 144, "medical": 100, "fire": 110, "duress": 121}.get(kind)
        return [self.alarm(panel, code, now)] if code else []

    def later(self, at: datetime, make: Later) -> None:
        self._order += 1
        heapq.heappush(self._queue, _Due(at, self._order, make))

    # -- incidents ---------------------------------------------------------------------------

    def panic(self, beeper: Beeper, now: datetime, cancel_after_s: float | None = None) -> list[Outgoing]:
        zone = self.city.zone_by_id.get(beeper.home_zone)
        location = self.location_in(zone) if zone else None
        if cancel_after_s is not None:
            self.later(now + timedelta(seconds=cancel_after_s), lambda at: [self.beep(beeper, "cancel", at)])
        return [self.beep(beeper, "panic", now, location=location, battery_pct=self.random.randint(20, 100))]

    def burglary(self, panel: Panel, now: datetime, restore_after_s: float) -> list[Outgoing]:
        code = self.random.choice(BURGLARY_CODES)
        return self.opening_and_restore(panel, code, now, restore_after_s)

    def opening_and_restore(self, panel: Panel, code: int, now: datetime, restore_after_s: float) -> list[Outgoing]:
        sensor = self.random.randint(1, 16)
        self.later(now + timedelta(seconds=restore_after_s),
                   lambda at: [self.alarm(panel, code, at, qualifier=3, zone=sensor)])
        return [self.alarm(panel, code, now, zone=sensor)]

    def _keepalive(self, panel: Panel) -> Later:
        assert panel.supervision_s is not None
        every = timedelta(seconds=panel.supervision_s / 3)

        def test(at: datetime) -> list[Outgoing]:
            self.later(at + every, test)
            return [self.alarm(panel, TEST_CODE, at)]

        return test

    def _check_in_before_due(self, device: Panel | Beeper, checkin: CheckIn, after: datetime, start: datetime) -> None:
        """Schedule the device's next check-in: before `by` on its next scheduled day after `after`."""
        zone_id = device.zone if isinstance(device, Panel) else device.home_zone
        zone = self.city.zone_by_id.get(zone_id)
        tz = ZoneInfo(zone.timezone if zone else "UTC")
        day = after.astimezone(tz).date()
        while not checkin.scheduled(day) or checkin.due(day, tz) <= after:
            day += timedelta(days=1)
        due = checkin.due(day, tz)
        lead = min((due - start).total_seconds(), CHECKIN_LEAD_S) * self.random.uniform(0.2, 0.8)

        def check_in(at: datetime) -> list[Outgoing]:
            self._check_in_before_due(device, checkin, due, start)
            if isinstance(device, Panel):
                return [self.alarm(device, OPENING, at)]
            return [self.beep(device, "checkin", at)]

        self.later(due - timedelta(seconds=lead), check_in)

    # -- messages ------------------------------------------------------------------------------

    def beep(self, beeper: Beeper, kind: str, now: datetime, location: dict[str, float] | None = None,
             battery_pct: int | None = None) -> Outgoing:
        ts = format_timestamp(now)
        value: dict[str, Any] = {"event_id": self._event_id(), "device_id": beeper.id, "ts": ts, "kind": kind}
        if location is not None:
            value["location"] = location
        if battery_pct is not None:
            value["battery_pct"] = battery_pct
        if beeper.key:
            value["sig"] = signature(beeper.key, beeper.id, value["event_id"], ts, kind)
        return Outgoing(topics.BEEPS, beeper.id, value)

    def alarm(self, panel: Panel, code: int, now: datetime, qualifier: int = 1, zone: int = 1) -> Outgoing:
        ts = format_timestamp(now)
        value: dict[str, Any] = {"event_id": self._event_id(), "panel_id": panel.id, "ts": ts,
                                 "qualifier": qualifier, "code": code, "group": 1, "zone": zone}
        if panel.key:
            value["sig"] = signature(panel.key, panel.id, value["event_id"], ts, f"{qualifier}{code}")
        return Outgoing(topics.ALARMS, panel.id, value)

    def motion(self, camera: Camera, phase: str, motion_id: str, now: datetime, area_pct: float) -> Outgoing:
        """A detector's motion event; when snapshots are kept, every phase names the episode's
        snapshot (written at its start), so whichever phase reaches an alert first attaches it."""
        regions = list(camera.regions)
        snapshot = f"{self.snapshots}/{camera.id}/{motion_id}.jpg" if self.snapshots else None
        value: dict[str, Any] = {
            "event_id": self._event_id(), "camera_id": camera.id, "ts": format_timestamp(now),
            "motion_id": motion_id, "phase": phase, "area_pct": area_pct,
            "boxes": [[0.40, 0.45, 0.12, 0.40]], "regions": regions,
        }
        if snapshot:
            value["snapshot"] = snapshot
        return Outgoing(topics.MOTION, camera.id, value, snapshot=snapshot if phase == "start" else None)

    def location_in(self, zone: Zone) -> dict[str, float]:
        """A GPS fix inside `zone` (rejection sampling in its bounding box)."""
        lons = [corner[0] for corner in zone.polygon]
        lats = [corner[1] for corner in zone.polygon]
        while True:
            lon = self.random.uniform(min(lons), max(lons))
            lat = self.random.uniform(min(lats), max(lats))
            if zone.contains(lat, lon):
                return {"lat": round(lat, 6), "lon": round(lon, 6), "accuracy_m": float(self.random.randint(5, 30))}

    def _event_id(self) -> str:
        self._serial += 1
        return f"sim-{self.run_tag}-{self._serial}"
