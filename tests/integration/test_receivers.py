"""Contract section 7 over real sockets: a real `centinela receiver`, the real broker, a real
stream worker and the center's API. Panels speak DC-09 over TCP and UDP; phones POST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from alert_rules.city import City
from centinela.config import load_config
from deploy.stack import Stack
from receivers import dc09
from tests.integration.alerts import AlertWatch, find, uid
from tests.integration.center_support import RunningCenter, running_center, wait_until
from tests.integration.receiver_support import (
    AES_KEY,
    BEEPER_KEY,
    PANEL_KEY,
    Panel,
    RunningReceiver,
    receiver,
    receiver_config,
    udp_exchange,
)
from tests.integration.support import TopicReader, now_ts, worker
from vocabulary import progress
from vocabulary.signing import signature

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return receiver_config(tmp_path_factory.mktemp("receiver-city"))


@pytest.fixture(scope="module")
def city(config: Path) -> City:
    return load_config(config).city


@pytest.fixture(scope="module")
def running(stack: Stack, config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    logs = tmp_path_factory.mktemp("receiver-logs")
    with worker(stack, config, logs / "worker.log"), receiver(stack, config, logs / "receiver.log") as running:
        yield running


@pytest.fixture(scope="module")
def center(running: RunningReceiver, stack: Stack, city: City) -> Iterator[RunningCenter]:
    with running_center(city, stack.kafka, stack.redis_url) as made:
        yield made


@pytest.fixture
def panel(running: RunningReceiver) -> Iterator[Panel]:
    made = Panel(running.dc09_port)
    yield made
    made.close()


def stamp(offset_s: float = 0) -> str:
    return dc09.format_timestamp(datetime.now(UTC) + timedelta(seconds=offset_s))


def answer_of(body: bytes) -> dc09.Message:
    return dc09.parse_message(body)


def test_a_frame_is_acked_and_its_alert_is_in_the_center(center: RunningCenter, panel: Panel) -> None:
    panel.send(dc09.frame(f'"ADM-CID"0101R1L1#1234[#1234|1130 01 015]{stamp()}'))
    [ack] = panel.read()
    assert ack == b'"ACK"0101R1L1#1234[]'
    with center.client("op-secret") as operator:
        def mine() -> list[dict]:  # type: ignore[type-arg]
            return [a for a in operator.get("/api/alerts").json()["alerts"] if a["source"]["id"] == "rx-plain"]

        [alert] = wait_until(mine, timeout=45)
    assert (alert["zone_id"], alert["category"], alert["priority"]) == ("zone-a", "intrusion", 2)
    assert alert["title"] == "Burglary (130): panel rx-plain, zone 15"


def test_frames_glued_and_split_non_hex_account_missing_r_and_l(running: RunningReceiver, panel: Panel) -> None:
    frames = [dc09.frame(f'"SIA-DCS"0{n}01#foc7688[#foc7688|Nri1/BA50{n}]{stamp()}') for n in range(1, 4)]
    wire = b"".join(frames)
    panel.send(wire[:30])
    time.sleep(0.2)
    panel.send(wire[30:])
    assert panel.read(3) == [f'"ACK"0{n}01L0#foc7688[]'.encode() for n in range(1, 4)]


def test_a_retransmission_is_counted_once(running: RunningReceiver, stack: Stack, panel: Panel) -> None:
    watch = AlertWatch(stack)
    first = dc09.frame(f'"SIA-DCS"0301R0L0#7777[#7777|Nri1/BA7]{stamp()}')
    again = dc09.frame(f'"SIA-DCS"0301R0L0#7777[#7777|Nri1/BA7]{stamp(1)}')  # a new timestamp, same frame
    other = dc09.frame(f'"SIA-DCS"0302R0L0#7777[#7777|Nri1/BA7]{stamp()}')
    for frame in (first, again, other):
        panel.send(frame)
        assert answer_of(panel.read()[0]).id == "ACK"
    alerts = watch.wait(lambda a: any(x["count"] >= 2 for x in find(a, source={"kind": "alarm", "id": "rx-retx"})),
                        timeout_s=45)
    watch.close()
    [alert] = find(alerts, source={"kind": "alarm", "id": "rx-retx"})
    assert alert["count"] == 2 and len(set(alert["event_ids"])) == 2  # first and other; the repeat dropped


def test_an_encrypted_frame_gets_an_encrypted_ack_and_an_alert(running: RunningReceiver, stack: Stack,
                                                              panel: Panel) -> None:
    watch = AlertWatch(stack)
    cipher = dc09.encrypt(AES_KEY, f"#ABCD|Nri2/FA3]{stamp()}").lower()
    panel.send(dc09.frame(f'"*SIA-DCS"0201R0L0#ABCD[{cipher}'))
    reply = answer_of(panel.read()[0])
    assert (reply.id, reply.encrypted, reply.sequence, reply.account) == ("ACK", True, "0201", "ABCD")
    assert dc09.read_content(reply, AES_KEY).timestamp is not None
    alerts = watch.wait(lambda a: bool(find(a, source={"kind": "alarm", "id": "rx-enc"})), timeout_s=45)
    watch.close()
    [alert] = find(alerts, source={"kind": "alarm", "id": "rx-enc"})
    assert (alert["category"], alert["priority"], alert["zone_id"]) == ("fire", 1, "zone-c")


def test_a_null_poll_keeps_supervision_alive(running: RunningReceiver, stack: Stack, panel: Panel) -> None:
    """rx-quiet is supervised every 3 s: silent, it is overdue; its NULL poll restores it."""
    watch = AlertWatch(stack, from_start=True)
    panel.send(dc09.frame('"SIA-DCS"0601R0L0#8888[#8888|NRP]'))  # zone-b's first event starts its clock
    assert panel.read()[0] == b'"ACK"0601R0L0#8888[]'
    overdue = {"category": "supervision", "source": {"kind": "alarm", "id": "rx-quiet"}}
    alerts = watch.wait(lambda a: bool(find(a, **overdue)), timeout_s=45)
    [alert] = find(alerts, **overdue)
    panel.send(dc09.frame('"NULL"0000R0L0#5150[]'))
    assert panel.read()[0] == b'"ACK"0000R0L0#5150[]'
    alerts = watch.wait(lambda a: a[alert["alert_id"]]["status"] == "resolved", timeout_s=45)
    watch.close()
    assert alerts[alert["alert_id"]]["status"] == "resolved"
    assert any(e.startswith("dc09-poll-") for e in alerts[alert["alert_id"]]["event_ids"])


def test_udp_frames_are_answered(running: RunningReceiver) -> None:
    answer = udp_exchange(running.dc09_port, dc09.frame(f'"ADM-CID"0401R0L0#8888[#8888|1602 00 000]{stamp()}'))
    assert answer == b'"ACK"0401R0L0#8888[]'


def test_nak_duh_and_silence(running: RunningReceiver, stack: Stack, panel: Panel) -> None:
    replies = redis.Redis.from_url(stack.redis_url)
    before = replies.hgetall(progress.RECEIVER_REPLIES)
    panel.send(dc09.frame(f'"SIA-DCS"0501R0L0#1234[#1234|NBA1]{stamp(-120)}'))
    nak = answer_of(panel.read()[0])
    assert nak.id == "NAK" and dc09.read_content(nak, None).timestamp is not None
    panel.send(dc09.frame('"SIA-DCS"0502R0L0#FFFF[#FFFF|NBA1]'))
    assert panel.read()[0] == b'"DUH"0502R0L0#FFFF[]'
    panel.send(dc09.frame('"SIA-DCS"0503R0L0#1234[#1234|NBA1]').replace(b'"SIA', b'"SIB'))  # CRC no longer matches
    panel.send(dc09.frame('"SIA-DCS"0504R0L0#1234[#1234|NRP]'))
    assert panel.read()[0] == b'"ACK"0504R0L0#1234[]'  # the bad frame got nothing

    def grew(reply: str) -> bool:  # reported for /metrics within a few seconds
        field = progress.counter_field("dc09", reply).encode()
        return int(replies.hget(progress.RECEIVER_REPLIES, field) or 0) > int(before.get(field, 0))

    assert wait_until(lambda: grew("NAK") and grew("DUH") and grew("ACK"), timeout=20)


def test_garbage_does_not_stop_the_receiver(running: RunningReceiver) -> None:
    for junk in (b"\x00\xff" * 3000, b"\n" + b"0" * 8 + b'"' * 100, b"\nFFFF0800\"" + b"A" * 9000):
        sender = Panel(running.dc09_port)
        try:
            sender.send(junk)
        except OSError:
            pass  # the receiver may close a connection that overflows its buffer
        sender.close()
    survivor = Panel(running.dc09_port)
    survivor.send(dc09.frame('"NULL"0001R0L0#1234[]'))
    assert survivor.read()[0] == b'"ACK"0001R0L0#1234[]'
    survivor.close()
    assert running.process.poll() is None


# -- HTTP ingestion --------------------------------------------------------------------------------


def signed_beep(device: str, kind: str = "panic", key: str = BEEPER_KEY) -> dict[str, object]:
    event: dict[str, object] = {"event_id": uid(), "device_id": device, "ts": now_ts(), "kind": kind}
    event["sig"] = signature(key, device, str(event["event_id"]), str(event["ts"]), kind)
    return event


def test_ingestion_202_puts_the_event_on_its_topic(running: RunningReceiver, stack: Stack) -> None:
    reader = TopicReader(stack, "devices.beeps")
    beep = signed_beep("rx-bpr")
    answer = httpx.post(running.ingest_url + "/v1/beeps", json=beep, timeout=30)
    assert (answer.status_code, answer.json()) == (202, {"event_id": beep["event_id"]})
    found = reader.read_until(lambda got: any(v.get("event_id") == beep["event_id"] for _, v in got), timeout_s=30)
    reader.close()
    assert [v for _, v in found if v.get("event_id") == beep["event_id"]] == [beep]
    signal: dict[str, object] = {"event_id": uid(), "panel_id": "rx-http", "ts": now_ts(), "qualifier": 1,
                                 "code": 120, "group": 1, "zone": 2}
    signal["sig"] = signature(PANEL_KEY, "rx-http", str(signal["event_id"]), str(signal["ts"]), "1120")
    assert httpx.post(running.ingest_url + "/v1/alarms", json=signal, timeout=30).status_code == 202


@pytest.mark.parametrize(("path", "event"), [
    ("/v1/beeps", {**signed_beep("rx-bpr"), "sig": "00" * 32}),
    ("/v1/beeps", {k: v for k, v in signed_beep("rx-bpr").items() if k != "sig"}),
    ("/v1/beeps", signed_beep("rx-bpr-nokey")),
    ("/v1/beeps", signed_beep("nobody")),
    ("/v1/alarms", {"event_id": "e1", "panel_id": "rx-plain", "ts": now_ts(), "qualifier": 1, "code": 130,
                    "group": 1, "zone": 1, "sig": "00"}),
])
def test_ingestion_401(running: RunningReceiver, path: str, event: dict[str, object]) -> None:
    answer = httpx.post(running.ingest_url + path, json=event, timeout=30)
    assert answer.status_code == 401 and "error" in answer.json()


@pytest.mark.parametrize("body", [b"{", b"[]", json.dumps({"device_id": "rx-bpr"}).encode(),
                                  json.dumps({**signed_beep("rx-bpr"), "kind": "dance"}).encode()])
def test_ingestion_422(running: RunningReceiver, body: bytes) -> None:
    answer = httpx.post(running.ingest_url + "/v1/beeps", content=body, timeout=30)
    assert answer.status_code == 422 and isinstance(answer.json()["error"], str)


def test_ingestion_413(running: RunningReceiver) -> None:
    over_max_bytes = {**signed_beep("rx-bpr"), "padding": "x" * 5000}  # admission.max_bytes is 4096 here
    answer = httpx.post(running.ingest_url + "/v1/beeps", json=over_max_bytes, timeout=30)
    assert (answer.status_code, list(answer.json())) == (413, ["error"])
    huge = b"{" + b" " * (70 * 1024) + b"}"  # over 64 KiB: refused before parsing or authentication
    assert httpx.post(running.ingest_url + "/v1/beeps", content=huge, timeout=30).status_code == 413

    def streamed() -> Iterator[bytes]:  # no Content-Length: the bytes are counted as they come
        for _ in range(80):
            yield b" " * 1024

    answer = httpx.post(running.ingest_url + "/v1/beeps", content=streamed(), timeout=30)
    assert (answer.status_code, list(answer.json())) == (413, ["error"])


def test_ingestion_429_above_the_per_device_rate(running: RunningReceiver) -> None:
    codes = [httpx.post(running.ingest_url + "/v1/beeps", json=signed_beep("rx-bpr-busy", "heartbeat"),
                        timeout=30).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]  # ingest.per_device_per_min is 3 here


# -- the simulator's devices -------------------------------------------------------------------------


def test_the_simulators_devices_go_through_the_receivers(running: RunningReceiver, stack: Stack,
                                                         config: Path) -> None:
    alarms = TopicReader(stack, "devices.alarms")
    env = {**os.environ, "CENTINELA_KAFKA": stack.kafka}
    done = subprocess.run(
        [sys.executable, "-m", "centinela", "simulate", "--config", str(config), "--rate", "6", "--duration", "8",
         "--seed", "3", "--dc09", f"127.0.0.1:{running.dc09_port}", "--ingest", running.ingest_url.split("//")[1]],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [paths] = [line for line in done.stderr.splitlines() if "by path:" in line]
    counts = {path: int(count) for path, count in (part.rsplit(" ", 1) for part in paths.split("by path: ")[1].split(", "))}
    assert sum(n for p, n in counts.items() if p.startswith("dc09")) > 0
    assert all(p.endswith(" ACK") for p in counts if p.startswith("dc09")), counts
    assert all(p in ("http 202", "http 429") for p in counts if p.startswith("http")), counts
    found = alarms.read_until(lambda got: sum(v["event_id"].startswith("dc09-") for _, v in got) >= 1, timeout_s=30)
    alarms.close()
    panels = {v["panel_id"] for _, v in found if v["event_id"].startswith("dc09-")}
    assert panels and panels <= {"rx-plain", "rx-foc", "rx-enc", "rx-retx", "rx-udp", "rx-http",
                                 "acct-a", "acct-b", "acct-c", "acct-d"}
