"""The center's pure parts: tokens, scope, snapshots, queue order, fan-out, webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from alert_rules.city import City, Token
from center.auth import Tokens, require_actor
from center.errors import ApiError
from center.hub import AlertHub, TooManyStreams
from center.metrics import CenterMetrics
from center.snapshots import snapshot_file
from center.sse import LiveStream, alert_event, alert_events
from center.views import index_pair, qualifies, queue_score
from center.webhooks import Webhook
from vocabulary.errors import Unavailable, UsageError
from vocabulary.events import Alert
from vocabulary.listening import bind, parse_address
from vocabulary.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER

OPERATOR = Token(token="operator-secret", role="operator", name="Ana")
VIEWER = Token(token="viewer-secret", role="viewer", name="Eva")
PATROL = Token(
    token="patrol-secret", role="responder", name="Patrol 7", zones=["north"], categories=["panic"],
    webhook="http://patrol.invalid/hook", webhook_key="00ff",
)


def alert(zone: str = "north", category: str = "panic", priority: int = 1, opened: str = "2026-11-21T14:00:00Z", **more: object) -> Alert:
    return Alert.model_validate_json(json.dumps({
        "alert_id": more.pop("alert_id", f"{zone}-{category}-{priority}-{opened}".replace("+", "p")), "zone_id": zone, "priority": priority,
        "category": category, "title": "t", "status": "open", "opened_at": opened, "updated_at": opened,
        "source": {"kind": "beeper", "id": "b-1"}, "count": 1, "event_ids": [], "rule": "r", **more,
    }))


def test_tokens_are_found_by_their_whole_secret_only() -> None:
    tokens = Tokens(City(tokens=[OPERATOR, VIEWER, PATROL]))
    assert tokens.find("operator-secret") is OPERATOR
    for guess in ("operator-secre", "operator-secret ", "OPERATOR-SECRET", "", "ñ"):
        assert tokens.find(guess) is None
    assert tokens.with_webhooks == [PATROL]


def test_only_operators_and_supervisors_act() -> None:
    require_actor(OPERATOR)
    require_actor(Token(token="super-secret", role="supervisor", name="Luis"))
    for token in (VIEWER, PATROL):
        with pytest.raises(ApiError) as refused:
            require_actor(token)
        assert refused.value.status == 403


def test_queue_score_orders_by_priority_then_oldest() -> None:
    ordered = [
        alert(priority=1, opened="2026-11-21T13:00:00Z"),
        alert(priority=1, opened="2026-11-21T14:00:00.001Z"),
        alert(priority=2, opened="2020-01-01T00:00:00Z"),
        alert(priority=5, opened="2026-11-21T14:00:00+03:00"),
    ]
    assert sorted(reversed(ordered), key=queue_score) == ordered


def test_a_listing_reads_the_indexes_of_the_pairs_its_zone_category_and_scope_allow() -> None:
    pairs = [index_pair(a.zone_id, a.category) for a in (alert("north"), alert("south"), alert("north", "fire"))]
    assert [p for p in pairs if qualifies(p, None, None, None)] == pairs
    assert [p for p in pairs if qualifies(p, "south", None, None)] == ["south|panic"]
    assert [p for p in pairs if qualifies(p, None, "fire", None)] == ["north|fire"]
    assert [p for p in pairs if qualifies(p, None, None, PATROL.sees)] == pairs[:1]
    assert [p for p in pairs if qualifies(p, "south", None, PATROL.sees)] == []


def test_snapshots_are_served_only_from_the_alerts_own_cameras_folders(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    (shots / "cam-1").mkdir(parents=True)
    (shots / "cam-2").mkdir()
    (shots / "cam-1" / "a.jpg").write_bytes(b"jpeg")
    (shots / "cam-2" / "b.jpg").write_bytes(b"jpeg")
    (shots / "cam-1" / "page.html").write_text("<script>alert(1)</script>")
    (shots / "top.jpg").write_bytes(b"jpeg")
    (tmp_path / "secret.jpg").write_text("no")
    (shots / "cam-1" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    mine = ["cam-1"]
    assert snapshot_file(shots, "cam-1/a.jpg", mine) == (shots / "cam-1" / "a.jpg").resolve()
    assert snapshot_file(shots, str(shots / "cam-1" / "a.jpg"), mine) == (shots / "cam-1" / "a.jpg").resolve()
    for reference in ("cam-2/b.jpg", "cam-1/page.html", "top.jpg", "cam-1/../cam-2/b.jpg", "../secret.jpg",
                      str(tmp_path / "secret.jpg"), "cam-1/link.jpg", "/etc/passwd", "cam-1/missing.jpg",
                      "http://x/a.jpg", "", None, "cam-1/a.jpg\x00"):
        assert snapshot_file(shots, reference, mine) is None, reference
    for cameras in ([], [".", ".."], ["cam-2"]):
        assert snapshot_file(shots, "cam-1/a.jpg", cameras) is None, cameras
    assert snapshot_file(None, "cam-1/a.jpg", mine) is None


def test_an_alert_id_is_an_identifier_so_it_cannot_break_an_sse_frame() -> None:
    with pytest.raises(ValueError, match="alert_id"):
        alert(alert_id="x\ndata: {}\n\nevent: alert")
    with pytest.raises(ValueError, match="alert_id"):
        alert(alert_id="x" * 65)


def test_sse_frame_is_one_alert_event() -> None:
    frame = alert_event(alert(version=3))
    lines = frame.split("\n")
    assert frame.endswith("\n\n") and lines[0] == "event: alert" and lines[1].endswith(":3")
    assert Alert.model_validate_json(lines[2].removeprefix("data: ")).version == 3


def test_http_address_and_a_taken_port() -> None:
    assert parse_address("0.0.0.0:9000", "CENTINELA_HTTP") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:8081", "CENTINELA_HTTP") == ("::1", 8081)
    for bad in ("8080", "host:", "host:0", "host:99999", "host:http"):
        with pytest.raises(UsageError, match="CENTINELA_HTTP: expected host:port"):
            parse_address(bad, "CENTINELA_HTTP")
    taken = bind("127.0.0.1", 0, "the center")
    try:
        with pytest.raises(Unavailable, match=r"the center cannot listen on 127\.0\.0\.1"):
            bind("127.0.0.1", taken.getsockname()[1], "the center")
    finally:
        taken.close()
    assert isinstance(taken, socket.socket)


def test_hub_sends_each_stream_only_what_its_token_sees_and_wakes_waiters() -> None:
    async def scenario() -> None:
        hub = AlertHub(None, "changes", CenterMetrics())  # type: ignore[arg-type]  # publish() needs no Redis
        patrol, operator = hub.subscribe(PATROL), hub.subscribe(OPERATOR)
        waiter = hub.expect("north-panic", newer_than=1)
        hub.publish(alert("south", alert_id="south-panic"))
        hub.publish(alert("north", alert_id="north-panic", version=1))
        assert not waiter.done()
        hub.publish(alert("north", alert_id="north-panic", version=2))
        assert (await waiter).version == 2
        assert [patrol.changes.get_nowait().alert_id for _ in range(patrol.changes.qsize())] == ["north-panic"] * 2
        assert operator.changes.qsize() == 3
        hub.close()
        drained = [operator.changes.get_nowait() for _ in range(operator.changes.qsize())]
        assert len(drained) == 4 and drained[-1] is None  # the stream ends after what it already had

    asyncio.run(scenario())


def test_a_stream_that_falls_behind_is_closed_not_waited_for() -> None:
    async def scenario() -> None:
        metrics = CenterMetrics()
        hub = AlertHub(None, "changes", metrics, stream_capacity=2)  # type: ignore[arg-type]
        slow = hub.subscribe(OPERATOR)
        for n in range(3):
            hub.publish(alert(alert_id=f"a-{n}"))
        assert metrics.sse_dropped._value.get() == 1  # type: ignore[attr-defined]
        items = [slow.changes.get_nowait() for _ in range(slow.changes.qsize())]
        assert items[-1] is None

    asyncio.run(scenario())


def test_webhook_signs_a_timestamp_with_the_body_retries_and_drops_oldest_when_full() -> None:
    calls: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503 if len(calls) == 1 else 204)

    async def scenario() -> CenterMetrics:
        metrics = CenterMetrics()
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as client:
            hook = Webhook(PATROL, client, metrics, capacity=2, first_retry_s=0.001)
            hook.offer(alert("south", alert_id="not-mine"))
            for n in range(3):
                hook.offer(alert(alert_id=f"mine-{n}"))
            delivering = asyncio.create_task(hook.run())
            while len(calls) < 3:
                await asyncio.sleep(0.001)
            delivering.cancel()
        return metrics

    metrics = asyncio.run(scenario())
    delivered = [json.loads(c.content)["alert_id"] for c in calls]
    assert delivered == ["mine-1", "mine-1", "mine-2"]  # mine-0 dropped as the oldest; the 503 retried
    for call in calls:
        stamp = call.headers[TIMESTAMP_HEADER]
        assert abs(int(stamp) - time.time()) < 60
        expected = hmac.new(bytes.fromhex("00ff"), stamp.encode() + b"." + call.content, hashlib.sha256).hexdigest()
        assert call.headers[SIGNATURE_HEADER] == f"sha256={expected}"
        replayed = hmac.new(bytes.fromhex("00ff"), call.content, hashlib.sha256).hexdigest()
        assert call.headers[SIGNATURE_HEADER] != f"sha256={replayed}", "the body alone must not verify"
    assert metrics.webhook_dropped.labels(role="responder")._value.get() == 1  # type: ignore[attr-defined]
    assert metrics.webhook_deliveries.labels(role="responder", outcome="delivered")._value.get() == 2  # type: ignore[attr-defined]
    assert b"Patrol 7" not in generate_latest(metrics.registry), "metrics carry roles, never names"


def test_a_full_webhook_queue_merges_updates_and_drops_less_urgent_alerts_before_a_p1() -> None:
    hook = Webhook(PATROL, None, CenterMetrics(), capacity=3)  # type: ignore[arg-type]  # offer() sends nothing
    hook.offer(alert(alert_id="p1-a", priority=1))
    hook.offer(alert(alert_id="p3", priority=3, category="panic"))
    hook.offer(alert(alert_id="p1-b", priority=1))
    for version in (2, 5, 4):  # updates of a queued alert replace it in place, the newest kept
        hook.offer(alert(alert_id="p1-a", priority=1, version=version))
    assert [(a.alert_id, a.version) for a in hook._pending.values()] == [("p1-a", 5), ("p3", 1), ("p1-b", 1)]
    hook.offer(alert(alert_id="p1-c", priority=1))  # full: the P3 goes, not the oldest P1
    assert list(hook._pending) == ["p1-a", "p1-b", "p1-c"]
    hook.offer(alert(alert_id="p2", priority=2))  # less urgent than everything queued: it is the one dropped
    assert list(hook._pending) == ["p1-a", "p1-b", "p1-c"]


def test_a_webhook_survives_any_failure_of_a_delivery() -> None:
    delivered: list[str] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        alert_id = json.loads(request.content)["alert_id"]
        if alert_id == "boom":
            raise RuntimeError("a bug in a transport")
        delivered.append(alert_id)
        return httpx.Response(204)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as client:
            hook = Webhook(PATROL, client, CenterMetrics(), attempts=2, first_retry_s=0.001)
            delivering = asyncio.create_task(hook.run())
            hook.offer(alert(alert_id="boom"))
            hook.offer(alert(alert_id="after"))
            while not delivered:
                await asyncio.sleep(0.001)
                assert not delivering.done(), "the webhook's task ended"
            delivering.cancel()

    asyncio.run(scenario())
    assert delivered == ["after"]


def test_webhook_gives_up_after_its_attempts() -> None:
    attempts = 0

    def down(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("refused", request=request)

    async def scenario() -> CenterMetrics:
        metrics = CenterMetrics()
        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
            hook = Webhook(PATROL, client, metrics, attempts=3, first_retry_s=0.001)
            await hook._deliver(alert())
        return metrics

    metrics = asyncio.run(scenario())
    assert attempts == 3
    assert metrics.webhook_deliveries.labels(role="responder", outcome="failed")._value.get() == 1  # type: ignore[attr-defined]


def test_live_streams_are_capped_per_token_and_in_total() -> None:
    hub = AlertHub(None, "changes", CenterMetrics(), max_per_token=2, max_total=3)  # type: ignore[arg-type]
    first, _ = hub.subscribe(OPERATOR), hub.subscribe(OPERATOR)
    with pytest.raises(TooManyStreams, match="this token already holds 2"):
        hub.subscribe(OPERATOR)
    hub.subscribe(VIEWER)
    with pytest.raises(TooManyStreams, match="already serves 3"):
        hub.subscribe(PATROL)
    hub.unsubscribe(first)
    hub.subscribe(PATROL)  # a closed stream frees its place


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout() -> None:
    async def scenario() -> None:
        hub = AlertHub(None, "changes", CenterMetrics())  # type: ignore[arg-type]
        subscription = hub.subscribe(OPERATOR)
        response = LiveStream(alert_events(hub, subscription, keepalive_s=0.01), send_timeout_s=0.2)
        sent: list[object] = []
        stuck = asyncio.Event()

        async def send(message: object) -> None:  # the client's window is full after the first writes
            sent.append(message)
            if len(sent) > 2:
                await stuck.wait()

        async def receive() -> dict[str, str]:
            await stuck.wait()
            return {"type": "http.disconnect"}

        started = time.monotonic()
        await asyncio.wait_for(response({"type": "http", "asgi": {"spec_version": "2.4"}}, receive, send), 5)
        assert time.monotonic() - started < 2 and response.timed_out
        for n in range(5000):  # what is published later is not kept for it
            hub.publish(alert(alert_id=f"a-{n}"))
        assert subscription not in hub._subscriptions and subscription.changes.qsize() == 0

    asyncio.run(scenario())


def test_a_step_note_with_a_lone_surrogate_is_refused_as_resolve_notes_are() -> None:
    from pydantic import ValidationError

    from center.routes.plans import StepBody
    with pytest.raises(ValidationError):  # FastAPI answers 422, not a 500 when the action is encoded
        StepBody.model_validate(json.loads(b'{"step": "call-home", "outcome": "done", "note": "\\ud800"}'))
    assert StepBody.model_validate_json(b'{"step": "call-home", "outcome": "done", "note": "\\u00f1"}').note == "ñ"
