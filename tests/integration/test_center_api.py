"""The center's HTTP API against the real broker and Redis (contract section 3)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.center_support import (
    OPERATOR,
    RESPONDER,
    VIEWER,
    AlertPublisher,
    RunningCenter,
    make_alert,
    running_center,
    sample_city,
    wait_until,
)
from vocabulary.events import Alert

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("snapshots")
    (directory / "cam-001").mkdir()
    (directory / "cam-002").mkdir()
    (directory / "cam-001" / "m1-start.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    (directory / "cam-002" / "m2-start.jpg").write_bytes(b"\xff\xd8\xff\xe0 another camera's")
    (directory / "cam-001" / "page.html").write_text("<script>alert(1)</script>")
    (directory.parent / "secret.txt").write_text("outside the snapshot directory")
    return directory


@pytest.fixture(scope="module")
def center(stack, snapshots: Path) -> Iterator[RunningCenter]:  # type: ignore[no-untyped-def]
    with running_center(sample_city(), stack.kafka, stack.redis_url, snapshots, keepalive_s=0.5) as running:
        yield running


@pytest.fixture(scope="module")
def publisher(stack) -> Iterator[AlertPublisher]:  # type: ignore[no-untyped-def]
    alerts = AlertPublisher(stack.kafka)
    yield alerts
    alerts.close()


def stored(http: httpx.Client, alert_id: str, version: int = 1) -> dict:
    def found() -> dict | None:
        answer = http.get(f"/api/alerts/{alert_id}")
        return answer.json() if answer.status_code == 200 and answer.json()["version"] >= version else None

    return wait_until(found)  # type: ignore[no-any-return]


def test_every_api_call_needs_a_valid_token(center: RunningCenter) -> None:
    for token in (None, "not-a-token", ""):
        with center.client(token) as http:
            for path in ("/api/alerts", "/api/alerts/x", "/api/alerts/x/history", "/api/stream"):
                answer = http.get(path)
                assert answer.status_code == 401, path
                assert answer.json() == {"error": "a valid bearer token is required"}
            assert http.post("/api/alerts/x/ack").status_code == 401
    with httpx.Client(base_url=center.url, headers={"Authorization": f"Basic {OPERATOR}"}) as http:
        assert http.get("/api/alerts").status_code == 401


def test_queue_is_ordered_by_priority_then_age_and_filters(center: RunningCenter, publisher: AlertPublisher) -> None:
    zone = "order-zone"
    late_p1 = make_alert(zone, priority=1, opened_ago_s=10)
    early_p1 = make_alert(zone, priority=1, opened_ago_s=60)
    oldest_p2 = make_alert(zone, priority=2, category="intrusion", opened_ago_s=600)
    done = make_alert(zone, priority=1, opened_ago_s=900, status="resolved")
    publisher.publish(oldest_p2, late_p1, done, early_p1)
    with center.client(VIEWER) as http:
        stored(http, early_p1.alert_id)
        stored(http, done.alert_id)
        listed = [a["alert_id"] for a in http.get("/api/alerts", params={"zone": zone}).json()["alerts"]]
        assert listed == [early_p1.alert_id, late_p1.alert_id, oldest_p2.alert_id]
        everything = http.get("/api/alerts", params={"zone": zone, "status": "all"}).json()["alerts"]
        assert [a["alert_id"] for a in everything] == [done.alert_id, early_p1.alert_id, late_p1.alert_id, oldest_p2.alert_id]
        intrusions = http.get("/api/alerts", params={"zone": zone, "category": "intrusion"}).json()["alerts"]
        assert [a["alert_id"] for a in intrusions] == [oldest_p2.alert_id]
        for bad in ({"status": "closed"}, {"category": "ufo"}, {"limit": "0"}):
            answer = http.get("/api/alerts", params=bad)
            assert answer.status_code == 422 and set(answer.json()) == {"error"}


def test_newest_version_wins_whatever_the_order_and_replays(center: RunningCenter, publisher: AlertPublisher) -> None:
    first = make_alert("north", priority=2, category="intrusion")
    second = first.model_copy(update={"version": 2, "priority": 1, "change": "escalated", "escalation": 1})
    publisher.publish(second, first, second, first)
    with center.client(OPERATOR) as http:
        assert stored(http, first.alert_id, version=2)["escalation"] == 1
        marker = make_alert("north")
        publisher.publish(marker)  # same partition as the replays: once it is stored, they are too
        stored(http, marker.alert_id)
        assert http.get(f"/api/alerts/{first.alert_id}").json()["version"] == 2
        history = http.get(f"/api/alerts/{first.alert_id}/history").json()
        assert [(h["version"], h["change"]) for h in history] == [(1, "opened"), (2, "escalated")]


def test_responder_sees_only_its_zones_and_categories(center: RunningCenter, publisher: AlertPublisher) -> None:
    mine = make_alert("north", category="panic")
    other_zone = make_alert("south", category="panic")
    other_category = make_alert("north", priority=1, category="fire")
    publisher.publish(mine, other_zone, other_category)
    with center.client(OPERATOR) as operator, center.client(RESPONDER) as responder:
        for alert in (mine, other_zone, other_category):
            stored(operator, alert.alert_id)
        listed = {a["alert_id"] for a in responder.get("/api/alerts", params={"status": "all"}).json()["alerts"]}
        assert mine.alert_id in listed
        assert not listed & {other_zone.alert_id, other_category.alert_id}
        assert responder.get(f"/api/alerts/{mine.alert_id}").status_code == 200
        for hidden in (other_zone, other_category):
            for path in ("", "/history", "/snapshot"):
                answer = responder.get(f"/api/alerts/{hidden.alert_id}{path}")
                assert answer.status_code == 404 and answer.json() == {"error": "no such alert"}
        assert responder.get("/api/alerts", params={"zone": "south"}).json() == {"alerts": []}
        assert [z["id"] for z in responder.get("/api/city").json()["zones"]] == ["north"]


def test_roles_that_may_not_act_and_bad_bodies(center: RunningCenter, publisher: AlertPublisher) -> None:
    alert = make_alert("north")
    publisher.publish(alert)
    with center.client(OPERATOR) as operator:
        stored(operator, alert.alert_id)
        for body in ({}, {"disposition": "maybe", "note": ""}, {"note": "x"}):
            answer = operator.post(f"/api/alerts/{alert.alert_id}/resolve", json=body)
            assert answer.status_code == 422 and set(answer.json()) == {"error"}, body
        answer = operator.post(f"/api/alerts/{alert.alert_id}/dispatch", content=b"{not json", headers={"Content-Type": "application/json"})
        assert answer.status_code == 422 and set(answer.json()) == {"error"}
        assert operator.post(f"/api/alerts/{alert.alert_id}/dispatch", json={"responder": ""}).status_code == 422
        assert operator.post("/api/alerts/no-such-alert/ack").json() == {"error": "no such alert"}
    for token in (VIEWER, RESPONDER):
        with center.client(token) as http:
            answer = http.post(f"/api/alerts/{alert.alert_id}/ack")
            assert answer.status_code == 403 and "may not act" in answer.json()["error"]
    with center.client(VIEWER) as viewer:
        assert viewer.get(f"/api/alerts/{alert.alert_id}").json()["status"] == "open"


def test_an_action_not_applied_in_time_is_pending(stack, publisher: AlertPublisher) -> None:  # type: ignore[no-untyped-def]
    alert = make_alert("north")  # no stream worker runs beside this center: nothing applies the action
    with running_center(sample_city(), stack.kafka, stack.redis_url, action_wait_s=0.3) as center:
        publisher.publish(alert)
        with center.client(OPERATOR) as http:
            stored(http, alert.alert_id)
            answer = http.post(f"/api/alerts/{alert.alert_id}/ack")
            assert (answer.status_code, answer.json()) == (202, {"alert_id": alert.alert_id, "status": "pending"})


def read_stream(center: RunningCenter, token: str, into: list[dict], ready: threading.Event, stop: threading.Event) -> None:
    with center.client(token) as http, http.stream("GET", "/api/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line == ": connected":
                ready.set()
            elif line.startswith("data: "):
                into.append(json.loads(line[6:]))
            if stop.is_set():
                return


def test_live_stream_carries_only_what_the_token_may_see(center: RunningCenter, publisher: AlertPublisher) -> None:
    received: list[dict] = []
    ready, stop = threading.Event(), threading.Event()
    reader = threading.Thread(target=read_stream, args=(center, RESPONDER, received, ready, stop), daemon=True)
    reader.start()
    assert ready.wait(10)
    hidden = make_alert("south")
    mine = make_alert("north")
    started = time.monotonic()
    publisher.publish(hidden, mine)
    wait_until(lambda: any(a["alert_id"] == mine.alert_id for a in received))
    latency = time.monotonic() - started
    with center.client(OPERATOR) as operator:
        stored(operator, hidden.alert_id)
    stop.set()
    reader.join(5)  # the keep-alive comments (every 0.5 s here) wake the reader to stop
    assert not reader.is_alive()
    assert {a["alert_id"] for a in received} == {mine.alert_id}
    assert received[0]["location"] == {"lat": -34.425, "lon": -58.575, "accuracy_m": 8.0}
    print(f"publish to SSE delivery: {latency * 1000:.0f} ms")


def test_snapshots_are_served_only_from_the_alerts_cameras_as_jpeg(center: RunningCenter, publisher: AlertPublisher, snapshots: Path) -> None:
    def with_snapshot(reference: str) -> Alert:
        return make_alert("north", snapshot=reference).model_copy(update={"cameras": ["cam-001"]})

    good = with_snapshot("cam-001/m1-start.jpg")
    absolute = with_snapshot(str(snapshots / "cam-001" / "m1-start.jpg"))
    refused = [with_snapshot(s) for s in (
        "cam-002/m2-start.jpg", "cam-001/page.html", "../secret.txt", str(snapshots.parent / "secret.txt"),
        "/etc/passwd", "http://x/y.jpg")]
    publisher.publish(good, absolute, *refused)
    with center.client(OPERATOR) as http:
        for alert in (good, absolute, *refused):
            stored(http, alert.alert_id)
        for alert in (good, absolute):
            answer = http.get(f"/api/alerts/{alert.alert_id}/snapshot")
            assert answer.status_code == 200 and answer.content.startswith(b"\xff\xd8")
            assert answer.headers["content-type"] == "image/jpeg"
        for alert in refused:
            answer = http.get(f"/api/alerts/{alert.alert_id}/snapshot")
            assert (answer.status_code, answer.json()) == (404, {"error": "no snapshot for this alert"}), alert.snapshot


def test_health_metrics_and_the_console(center: RunningCenter) -> None:
    with httpx.Client(base_url=center.url) as http:
        assert http.get("/healthz").status_code == 200
        text = http.get("/metrics").text
        for name in ("centinela_center_alerts_received_total", 'centinela_center_open_alerts{priority="1"}',
                     "centinela_center_sse_clients", "centinela_center_action_seconds"):
            assert name in text
        page = http.get("/")
        assert page.status_code == 200 and "console.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert http.get("/static/console.js").status_code == 200
        assert http.get("/openapi.json").json()["paths"]["/api/alerts"]


def test_views_are_rebuilt_from_the_topic_and_resume_from_offsets(stack, publisher: AlertPublisher) -> None:  # type: ignore[no-untyped-def]
    alert = make_alert("north")
    publisher.publish(alert, alert.model_copy(update={"version": 2, "change": "grouped", "count": 2}))
    namespace = f"rebuild-{time.monotonic_ns()}:"
    for _ in range(2):  # empty Redis first (rebuild from the beginning), then resume from the stored offsets
        with running_center(sample_city(), stack.kafka, stack.redis_url, namespace=namespace) as center:
            with center.client(VIEWER) as http:
                assert stored(http, alert.alert_id, version=2)["count"] == 2
                assert len(http.get(f"/api/alerts/{alert.alert_id}/history").json()) == 2
            offsets = center.run(center.app.state.center.views.offsets())
            assert offsets and all(o > 0 for o in offsets.values())


def test_health_is_503_while_kafka_is_unreachable(stack) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from center.app import create_app
    from deploy.stack import free_port

    app = create_app(sample_city(), f"127.0.0.1:{free_port()}", stack.redis_url, namespace="unreachable:")
    with TestClient(app) as http:
        answer = http.get("/healthz")
        assert answer.status_code == 503 and answer.json()["status"] == "down"
        kafka = answer.json()["components"]["kafka"]
        assert kafka["ok"] is False and "unreachable" in kafka["detail"]


def test_views_come_back_when_redis_loses_them(stack, publisher: AlertPublisher) -> None:  # type: ignore[no-untyped-def]
    import redis

    alert = make_alert("north")
    publisher.publish(alert)
    with running_center(sample_city(), stack.kafka, stack.redis_url) as center, center.client(VIEWER) as http:
        stored(http, alert.alert_id)
        with redis.Redis.from_url(stack.redis_url) as plain:
            plain.delete(*plain.keys(center.namespace + "*"))
        assert http.get(f"/api/alerts/{alert.alert_id}").status_code == 404
        stored(http, alert.alert_id)
