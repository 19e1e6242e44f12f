"""`centinela demo` end to end: alerts of every category reach the center's API, then it stops cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deploy.stack import Stack, free_port
from tests.processes import alive, descendants

pytestmark = pytest.mark.e2e

CATEGORIES = {"panic", "duress", "medical", "fire", "intrusion", "motion", "tamper", "trouble", "supervision", "welfare"}
OPERATOR = "demo-operator"
PANIC_ZONE, PANIC_CAMERA = "tigre-norte", "cam-avenida"  # the bundled city's second camera, where the panic is


def _alerts(base: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{base}/api/alerts?status=all", headers={"Authorization": f"Bearer {OPERATOR}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return list(json.load(response)["alerts"])
    except (urllib.error.URLError, OSError):
        return []  # the center is still starting


def test_the_demo_shows_every_category_then_stops_cleanly(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    redis_db = stack.redis_url.rsplit("/", 1)[0] + "/7"  # its own database and topics: other tests never mix in
    env = {**os.environ, "CENTINELA_KAFKA": stack.kafka, "CENTINELA_REDIS": redis_db,
           "CENTINELA_HTTP": f"127.0.0.1:{port}", "CENTINELA_TOPIC_PREFIX": f"demo{port}.",
           "CENTINELA_DC09": f"127.0.0.1:{free_port()}", "CENTINELA_INGEST": f"127.0.0.1:{free_port()}"}
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "centinela", "demo", "--scenario", "every-category", "--duration", "55",
             "--data", str(tmp_path / "demo"), "--postgres-port", str(free_port())],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        started = time.monotonic()
        alerts: list[dict[str, Any]] = []
        while time.monotonic() - started < 40 and demo.poll() is None:
            alerts = _alerts(base)
            panics = [a for a in alerts if a["category"] == "panic" and a["zone_id"] == PANIC_ZONE and a.get("snapshot")]
            if {a["category"] for a in alerts} >= CATEGORIES and panics:
                break
            time.sleep(1)
        seen = {a["category"] for a in alerts}
        assert seen >= CATEGORIES, f"missing {sorted(CATEGORIES - seen)}; demo output:\n{log.read_text()[-3000:]}"
        panic = next(a for a in alerts if a["category"] == "panic" and a["zone_id"] == PANIC_ZONE and a.get("snapshot"))
        assert PANIC_CAMERA in panic["cameras"] and f"/{PANIC_CAMERA}/" in panic["snapshot"]
        assert panic["location"] is not None
        # The signal that opened each alarm alert (camera motion attached later adds its own ids).
        opening = [a["event_ids"][0] for a in alerts
                   if a["source"]["kind"] == "alarm" and a["category"] != "supervision" and a["event_ids"]]
        assert opening and all(e.startswith("dc09-") for e in opening), f"panels speak DC-09 to the receiver: {opening}"
        banner = log.read_text()
        assert f"http://127.0.0.1:{port}/" in banner and OPERATOR in banner
        data = tmp_path / "demo"
        for private in (data, data / "config", data / "config" / "devices.yaml"):
            assert stat.S_IMODE(private.stat().st_mode) & 0o077 == 0, f"{private} is readable by others"

        children = descendants(demo.pid)
        assert children, "the demo runs its processes as children"
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(15) == 0
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in children if alive(pid)], "children outlived the demo"
    finally:
        if demo.poll() is None:
            leftovers = descendants(demo.pid)
            demo.terminate()
            try:
                demo.wait(15)
            except subprocess.TimeoutExpired:
                for pid in [demo.pid, *leftovers]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                demo.wait()
