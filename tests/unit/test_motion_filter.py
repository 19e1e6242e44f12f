"""Camera motion that cannot change its zone is dropped at admission, and counted."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from alert_rules.engine import RuleEngine, zone_event
from alert_rules.rules import Rules
from streams.admission import MotionFilter
from streams.admit import Received
from tests.unit.test_engine import CITY, at, beep, motion

RULES = Rules.model_validate({"motion": [{"id": "cam-2-any", "cameras": ["cam-2"], "min_duration_s": 60}]})


class Attaching:
    def __init__(self, zones: set[str] | None) -> None:
        self.zones = zones

    async def attaching(self) -> set[str]:
        if self.zones is None:
            raise aioredis.ConnectionError("redis is away")
        return set(self.zones)


class Counts:
    """The few Redis calls the filter makes to count what it dropped."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def pipeline(self, transaction: bool = False) -> Any:
        counts = self.counts

        class Pipe:
            async def __aenter__(self) -> Pipe:
                return self

            async def __aexit__(self, *_: object) -> None:
                return None

            def hincrby(self, key: str, field: str, n: int) -> None:
                counts[field] = counts.get(field, 0) + n

            async def execute(self) -> None:
                return None
        return Pipe()


def admitted(*events: Any) -> list[Any]:
    found = []
    for event in events:
        zoned = zone_event(CITY, event, at(0))
        assert zoned is not None
        found.append((zoned, Received("cameras.motion", None, b"{}")))
    return found


def kept_ids(zones: set[str] | None, *events: Any) -> tuple[list[str], dict[str, int]]:
    counts = Counts()
    keep = MotionFilter(RuleEngine(CITY, RULES), Attaching(zones), counts)  # type: ignore[arg-type]
    kept = asyncio.run(keep.keep(admitted(*events), at(0)))
    return [event.event.event_id for event, _ in kept], counts.counts


def test_motion_no_rule_matches_in_a_zone_without_an_alert_to_attach_to_is_dropped_and_counted() -> None:
    ids, counts = kept_ids(set(), motion("m1", camera="cam-1"), motion("m2", camera="cam-1", phase="end"),
                           motion("m3", camera="cam-2"))
    assert ids == ["m2", "m3"], "an episode's end, and motion a rule may match once it lasts, are kept"
    assert counts == {"centro": 1}


def test_motion_is_kept_where_it_attaches_to_an_alert_and_when_that_is_unknown() -> None:
    assert kept_ids({"centro"}, motion("m1", camera="cam-1"))[0] == ["m1"]
    assert kept_ids(None, motion("m1", camera="cam-1"))[0] == ["m1"], "Redis away: nothing is dropped"


def test_panics_are_never_filtered() -> None:
    assert kept_ids(set(), beep("p1"))[0] == ["p1"]
