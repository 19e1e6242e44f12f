"""The soak's verdict on one beeper's alert (tests/soak/rounds.py `check`), on made-up snapshots:
it must pass a whole alert and catch every way a panic can be lost, doubled or reordered,
whether the alert still shows all its event ids or only the newest 50."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.soak.rounds import City, Round, check

CITY = City("t", zones=1, beepers=1, cameras=[0], located={})


def verdict(sent: list[str], shown: list[str], count: int) -> Round:
    alert: dict[str, Any] = {"alert_id": "a", "zone_id": "t-z0", "source": {"kind": "beeper", "id": "t-b0"},
                             "event_ids": shown, "count": count, "version": 1}
    result = Round("unit")
    check(SimpleNamespace(latest={"a": alert}, messages=[(None, alert)]), CITY, {"t-b0": sent}, result)  # type: ignore[arg-type]
    return result


@pytest.mark.parametrize("panics", [8, 80])
def test_a_whole_alert_passes_with_or_without_camera_ids_among_its_newest(panics: int) -> None:
    sent = [f"p{i}" for i in range(panics)]
    assert verdict(sent, sent[-50:], panics).passed
    assert verdict(sent, (sent[:-5] + ["motion-x"] * 5 + sent[-5:])[-50:], panics).passed


@pytest.mark.parametrize("panics", [8, 80])
@pytest.mark.parametrize(("name", "change", "lost", "doubled"), [
    ("lost and not counted", lambda s: ([i for i in s[-50:] if i != s[-3]], len(s) - 1), 1, 0),
    ("counted but not shown", lambda s: (s[-50:][1:], len(s)), 0, 0),
    ("counted twice", lambda s: (s[-49:-1] + [s[-1]] * 2, len(s) + 1), 0, 2),
    ("out of order", lambda s: ([*s[-50:-2], s[-1], s[-2]], len(s)), 0, 0),
])
def test_every_kind_of_wrong_alert_fails(panics: int, name: str, change: Any, lost: int, doubled: int) -> None:
    sent = [f"p{i}" for i in range(panics)]
    shown, count = change(sent)
    result = verdict(sent, shown, count)
    assert not result.passed, name
    assert (result.lost, result.doubled) == (lost, doubled), name


def test_an_alert_in_the_wrong_zone_or_a_second_alert_fails() -> None:
    sent = ["p0", "p1"]
    alert = {"alert_id": "a", "zone_id": "t-z9", "source": {"kind": "beeper", "id": "t-b0"},
             "event_ids": sent, "count": 2, "version": 1}
    result = Round("unit")
    check(SimpleNamespace(latest={"a": alert}, messages=[(None, alert)]), CITY, {"t-b0": sent}, result)  # type: ignore[arg-type]
    assert result.problems == ["t-b0: alert in t-z9, not t-z0"]
    second = {**alert, "alert_id": "b", "zone_id": "t-z0", "event_ids": ["p1"], "count": 1}
    first = {**alert, "zone_id": "t-z0", "event_ids": ["p0"], "count": 1}
    result = Round("unit")
    check(SimpleNamespace(latest={"a": first, "b": second}, messages=[(None, first), (None, second)]), CITY,  # type: ignore[arg-type]
          {"t-b0": sent}, result)
    assert (result.passed, result.doubled) == (False, 1)
