"""HTTP ingestion answers 202 only for what admission will take: an event outside admission's
time window gets 422 with the reason, before anything is published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from alert_rules.city import Beeper, City, Zone
from receivers.ingest import Window, create_ingest_app
from receivers.settings import IngestSettings
from vocabulary.events import format_timestamp
from vocabulary.signing import signature

NOW = datetime(2026, 12, 7, 2, 0, 0, tzinfo=UTC)
KEY = "00112233445566778899aabbccddeeff"
CITY = City(zones=[Zone(id="z", polygon=[[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42]])],
            beepers=[Beeper(id="bpr-1", home_zone="z", key=KEY)])


def signed_beep(event_id: str, ts: datetime) -> dict[str, str]:
    text = format_timestamp(ts)
    return {"event_id": event_id, "device_id": "bpr-1", "ts": text, "kind": "panic",
            "sig": signature(KEY, "bpr-1", event_id, text, "panic")}


def test_an_event_outside_admissions_window_gets_422_with_the_reason_and_is_not_published() -> None:
    published: list[str] = []

    async def publish(topic: str, key: str, value: bytes) -> None:
        published.append(key)

    app = create_ingest_app(CITY, IngestSettings(), Window(65536, stale_s=300, future_s=60), publish,
                            clock=lambda: NOW)
    with TestClient(app) as client:
        stale = client.post("/v1/beeps", json=signed_beep("old", NOW - timedelta(seconds=301)))
        future = client.post("/v1/beeps", json=signed_beep("ahead", NOW + timedelta(seconds=61)))
        fresh = client.post("/v1/beeps", json=signed_beep("now", NOW - timedelta(seconds=299)))
    assert (stale.status_code, stale.json()["error"].split(":")[0]) == (422, "stale")
    assert (future.status_code, future.json()["error"].split(":")[0]) == (422, "future")
    assert fresh.status_code == 202 and published == ["bpr-1"], "only the fresh one is on its topic"
