"""The simulator's panels build frames the receiver understands, as the signal they stand for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alert_rules.city import Panel
from centinela.device_links import dc09_frame
from receivers import dc09
from receivers.dc09 import Framer
from receivers.handling import FrameHandler

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
PANELS = [
    Panel(id="clear", zone="z", account="1001"),
    Panel(id="aes", zone="z", account="1002", dc09_key="ab" * 24),
    Panel(id="odd", zone="z", account="foc1007", key="6b6579", dc09_clear=True),
]


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p.id)
@pytest.mark.parametrize("sia_style", [False, True])
@pytest.mark.parametrize(("qualifier", "code"), [(1, 130), (3, 130), (1, 134), (1, 602), (3, 301), (1, 121)])
def test_frames_come_back_as_the_same_signal(panel: Panel, sia_style: bool, qualifier: int, code: int) -> None:
    value: dict[str, object] = {"qualifier": qualifier, "code": code, "group": 1, "zone": 7}
    frame = dc09_frame(panel, value, 42, dc09.format_timestamp(NOW), sia_style=sia_style, poll=False)
    [body] = Framer().feed(frame)
    outcome = FrameHandler(PANELS).handle(body, NOW)
    assert outcome.kind == "ACK", outcome.detail
    assert outcome.event is not None
    assert (outcome.event.panel_id, outcome.event.qualifier, outcome.event.code, outcome.event.group,
            outcome.event.zone) == (panel.id, qualifier, code, 1, 7)


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p.id)
def test_keep_alives_are_null_polls(panel: Panel) -> None:
    value: dict[str, object] = {"qualifier": 1, "code": 602, "group": 1, "zone": 1}
    frame = dc09_frame(panel, value, 7, dc09.format_timestamp(NOW), sia_style=False, poll=True)
    [body] = Framer().feed(frame)
    assert dc09.parse_message(body).id == "NULL"
    outcome = FrameHandler(PANELS).handle(body, NOW)
    assert outcome.kind == "ACK" and outcome.poll == panel.id
