"""Scripted incidents for the simulator: steps at fixed offsets from its start.

Devices are chosen from whatever city is configured, deterministically: the first camera
shows motion that opens an alert (its zone must have a motion rule, as the demo city's
has), the first camera of another zone stands next to a panic, and alarm signals come from
panels outside those two zones, so no other urgent alert there absorbs their motion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from alert_rules.city import Camera, City, Panel
from deploy.simulate import AC_LOSS, TEST_CODE, Outgoing, Traffic, is_silent
from vocabulary.errors import UsageError

SENIOR_WATCH = 641  # Contact ID: the panel's own inactivity timer ran out (a welfare alert)
Build = Callable[[Traffic, datetime], list[Outgoing]]


@dataclass(frozen=True)
class Step:
    at_s: float
    label: str
    build: Build


class ScenarioError(UsageError):
    """The configured city lacks what the scenario needs."""


def panic_with_motion(city: City, offset_s: float = 0.0) -> list[Step]:
    """A panic in a zone with a camera, then motion on that camera: it is attached to the panic."""
    camera = _panic_camera(city)
    beepers = [b for b in city.beepers if b.home_zone == camera.zone]
    if not beepers:
        raise ScenarioError(f"panic-with-motion needs a beeper whose home zone is {camera.zone}")
    beeper = next((b for b in beepers if b.key), beepers[0])  # a signed one, when there is one

    def motion(phase: str, area_pct: float) -> Build:
        return lambda traffic, now: [traffic.motion(camera, phase, f"sim-{traffic.run_tag}-near-panic", now, area_pct)]

    # A long episode: the streams may still be catching up on their inputs when it starts, and
    # any phase evaluated after the panic attaches the camera to it.
    return [
        Step(offset_s, "panic", lambda traffic, now: traffic.panic(beeper, now)),
        Step(offset_s + 2, "motion next to the panic", motion("start", 8.0)),
        *(Step(offset_s + s, "motion goes on", motion("update", 9.5)) for s in range(4, 31, 2)),
        Step(offset_s + 32, "motion ends", motion("end", 9.5)),
        Step(offset_s + 12, "the wearer presses cancel", lambda traffic, now: [traffic.beep(beeper, "cancel", now)]),
    ]


def burglary(city: City, offset_s: float = 0.0, avoid: set[str] | None = None) -> list[Step]:
    """Two sensors of one panel trip, then both restore."""
    panel = _alarm_panels(city, 1, avoid={c.zone for c in city.cameras[:1]} if avoid is None else avoid)[0]
    return [
        Step(offset_s, "burglary, entry door", lambda traffic, now: [traffic.alarm(panel, 134, now, zone=3)]),
        Step(offset_s + 3, "burglary, interior", lambda traffic, now: [traffic.alarm(panel, 132, now, zone=5)]),
        Step(offset_s + 20, "entry door restored",
             lambda traffic, now: [traffic.alarm(panel, 134, now, qualifier=3, zone=3)]),
        Step(offset_s + 22, "interior restored",
             lambda traffic, now: [traffic.alarm(panel, 132, now, qualifier=3, zone=5)]),
    ]


def every_category(city: City) -> list[Step]:
    """At least one signal of every alert category within about ten seconds."""
    camera = city.cameras[0] if city.cameras else None
    if camera is None:
        raise ScenarioError("every-category needs a camera (for motion)")
    busy = {camera.zone, _panic_camera(city).zone}
    duress, medical, fire, tamper, trouble, watch = _alarm_panels(city, 6, avoid=busy)

    def motion(phase: str, area_pct: float) -> Build:
        return lambda traffic, now: [traffic.motion(camera, phase, f"sim-{traffic.run_tag}-motion", now, area_pct)]

    def signal(panel: Panel, code: int, qualifier: int = 1) -> Build:
        return lambda traffic, now: [traffic.alarm(panel, code, now, qualifier=qualifier)]

    return [
        Step(0, "wake the zones of silent panels", _wake_silent_zones),
        Step(0, "motion on the first camera", motion("start", 6.0)),
        *(Step(float(s), "motion goes on", motion("update", 6.0 + s / 2)) for s in range(1, 7)),
        Step(7, "motion ends", motion("end", 9.0)),
        *panic_with_motion(city, offset_s=1),
        Step(2, "duress code entered", signal(duress, 121)),
        Step(3, "medical emergency", signal(medical, 100)),
        Step(4, "fire", signal(fire, 110)),
        *burglary(city, offset_s=5, avoid=busy),
        Step(6, "tamper", signal(tamper, 144)),
        Step(7, "AC power lost", signal(trouble, AC_LOSS)),
        Step(8, "senior watch: nobody stirred at home", signal(watch, SENIOR_WATCH)),
        Step(40, "AC power restored", signal(trouble, AC_LOSS, qualifier=3)),
    ]


SCENARIOS: dict[str, Callable[[City], list[Step]]] = {
    "panic-with-motion": panic_with_motion,
    "burglary": burglary,
    "every-category": every_category,
}


def script(name: str, city: City) -> list[Step]:
    """The named scenario's steps for `city`, in the order they are played."""
    return sorted(SCENARIOS[name](city), key=lambda step: step.at_s)


def _panic_camera(city: City) -> Camera:
    if not city.cameras:
        raise ScenarioError("panic-with-motion needs a camera")
    first_zone = city.cameras[0].zone
    return next((c for c in city.cameras if c.zone != first_zone), city.cameras[0])


def _alarm_panels(city: City, count: int, avoid: set[str]) -> list[Panel]:
    """`count` different speaking panels outside the `avoid` zones, taken from zone after zone."""
    by_zone: dict[str, list[Panel]] = {}
    for panel in city.panels:
        if panel.zone not in avoid and not is_silent(panel) and panel.checkin is None:  # seniors keep their day
            by_zone.setdefault(panel.zone, []).append(panel)
    interleaved = [p for rank in range(max(map(len, by_zone.values()), default=0))
                   for panels in by_zone.values() if rank < len(panels) for p in [panels[rank]]]
    if len(interleaved) < count:
        raise ScenarioError(f"the scenario needs {count} alarm panels outside the zones {', '.join(sorted(avoid))}")
    return interleaved[:count]


def _wake_silent_zones(traffic: Traffic, now: datetime) -> list[Outgoing]:
    """A test signal from a neighbour of each silent panel: supervision counts from the zone's first event."""
    zones = {panel.zone for panel in traffic.silent}
    woken: list[Outgoing] = []
    for zone in sorted(zones):
        neighbour = next((p for p in traffic.city.panels if p.zone == zone and p not in traffic.silent), None)
        if neighbour is not None:
            woken.append(traffic.alarm(neighbour, TEST_CODE, now))
    return woken
