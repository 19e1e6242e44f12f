"""The commission's two heavy answers on a year of history (contract section 14).

1. `GET /api/reports/hotspots` at resolution 9 over 1,000,000 located incidents (target <= 2 s), through
   the center's app on a private PostgreSQL, against two baselines measured in the same run: a bare
   count(*) of the same incidents, and assigning their points to H3 cells alone.
2. `centinela report --out FILE.pdf` for that year (target <= 30 s), against the same count(*).

The history goes in through the history's own import, with bodies shaped like real Alert snapshots,
over a city of 36 zones (about 500 resolution-9 cells).
Settings: BENCH_INCIDENTS (default 1,000,000).
"""

from __future__ import annotations

import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastapi.testclient import TestClient

from alert_rules.city import City
from center.app import create_app
from commission.cells import locate
from commission.reports import CommissionSettings
from deploy import postgres as embedded
from deploy.stack import free_port
from history.importer import import_stream
from history.schema import migrate
from tests.bench._report import progress_for, report

INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "1000000"))
YEAR_START = datetime(2025, 12, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 12, 1, tzinfo=UTC)
ROWS, COLUMNS, SIDE = 6, 6, 0.01  # 36 zones of about 1.1 km × 0.9 km
WEST, SOUTH = -58.62, -34.46
INCIDENT_CATEGORIES = ["panic", "duress", "intrusion", "medical", "fire"]
progress = progress_for("bench_commission")


def city_yaml() -> str:
    zones = []
    for r in range(ROWS):
        for c in range(COLUMNS):
            x, y = WEST + c * SIDE, SOUTH + r * SIDE
            zones.append(f"  - {{id: z{r}-{c}, polygon: [[{x:.4f}, {y:.4f}], [{x + SIDE:.4f}, {y:.4f}], "
                         f"[{x + SIDE:.4f}, {y + SIDE:.4f}], [{x:.4f}, {y + SIDE:.4f}]]}}")
    return ("zones:\n" + "\n".join(zones) + "\ntokens:\n  - {token: viewer-secret, role: viewer, name: Comision}\n"
            "interventions:\n  - {id: luces, name: Luminarias, start: 2026-06-01, zones: [z0-0, z0-1]}\n")


def write_history(url: str, rng: np.random.Generator) -> None:
    """INCIDENTS located incidents (30 % in eight clusters, the rest uniform), plus 2 % as many without a
    location and 15 % alerts that are no incidents (false alarms, tests, troubles), through the history's import."""
    located, unlocated, other = INCIDENTS, INCIDENTS // 50, INCIDENTS * 15 // 100
    n = located + unlocated + other
    centres = rng.uniform([SOUTH, WEST], [SOUTH + ROWS * SIDE, WEST + COLUMNS * SIDE], size=(8, 2))
    clustered = rng.random(n) < 0.3
    which = rng.integers(0, len(centres), n)
    lat = np.where(clustered, centres[which, 0] + rng.normal(0, 0.002, n), rng.uniform(SOUTH, SOUTH + ROWS * SIDE, n))
    lon = np.where(clustered, centres[which, 1] + rng.normal(0, 0.002, n), rng.uniform(WEST, WEST + COLUMNS * SIDE, n))
    seconds = rng.uniform(0, (YEAR_END - YEAR_START).total_seconds() - 1, n)
    category = rng.choice(INCIDENT_CATEGORIES, n, p=[0.4, 0.05, 0.35, 0.15, 0.05])
    lines = []
    for i in range(n):
        stamp = (YEAR_START + timedelta(seconds=float(seconds[i]))).isoformat().replace("+00:00", "Z")
        kind, disposition = str(category[i]), "real"
        if i >= located + unlocated:
            kind, disposition = [("panic", "false_alarm"), ("intrusion", "test"), ("trouble", "real")][i % 3]
        body = {"alert_id": f"a-{i}", "zone_id": f"z{i % ROWS}-{i % COLUMNS}", "priority": 1, "category": kind,
                "title": "Panic from a beeper", "status": "resolved", "opened_at": stamp, "updated_at": stamp,
                "source": {"kind": "beeper", "id": f"bpr-{i % 5000:04d}"}, "count": 1, "event_ids": [f"ev-{i}"],
                "cameras": [], "cancel_requested": False, "escalation": 0, "rule": "panic", "version": 1,
                "change": "resolved", "changed_by": "Operadora", "disposition": disposition, "steps": []}
        if i < located or i >= located + unlocated:
            body["location"] = {"lat": float(lat[i]), "lon": float(lon[i]), "accuracy_m": 12.0}
        lines.append(json.dumps(body))
        if i % 250_000 == 0:
            progress(f"history: {i:,} of {n:,} alerts made")
    progress("history: importing")
    with psycopg.connect(url) as connection:
        migrate(connection)
        import_stream(connection, io.BytesIO(("\n".join(lines) + "\n").encode()), "bench history")
        connection.execute("ANALYZE")


def timed(work: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(29)
    with tempfile.TemporaryDirectory(prefix="bench-commission-") as scratch:
        data = Path(scratch)
        embedded.ensure_initialised(data)
        port = free_port()
        log = (data / "postgres.log").open("wb")
        server = subprocess.Popen(embedded.postgres_argv(port, data), stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            url = embedded.postgres_url(port, data)
            embedded.wait_until_answers(url)
            write_history(url, rng)
            figures = measure(url, data)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
            log.close()
    report("bench_commission", {"located incidents": INCIDENTS, "unlocated incidents": INCIDENTS // 50,
                                "other alerts": INCIDENTS * 15 // 100, "zones": ROWS * COLUMNS,
                                "resolution": 9, "period": "one year", "repeats": 3}, figures)


def measure(url: str, data: Path) -> dict[str, object]:
    from centinela.config import load_config

    config_dir = data / "city"
    config_dir.mkdir()
    (config_dir / "city.yaml").write_text(city_yaml())
    config = load_config(config_dir)
    city: City = config.city
    app = create_app(city, "127.0.0.1:1", "redis://127.0.0.1:1/0", internal_key=b"bench" * 8,
                     commission_settings=CommissionSettings(config.interventions, config.open_data))
    os.environ["CENTINELA_POSTGRES"] = url
    client = TestClient(app)
    params = {"from": "2025-12-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "resolution": 9}
    headers = {"Authorization": "Bearer viewer-secret"}

    progress("first hotspot answer (builds the study area)")
    began = time.perf_counter()
    first = client.get("/api/reports/hotspots", params=params, headers=headers)
    first_s = time.perf_counter() - began
    assert first.status_code == 200, first.text
    body = first.json()
    located_in_period = body["incidents"] + body["outside"]
    assert located_in_period == INCIDENTS, located_in_period

    def count() -> None:
        with psycopg.connect(url) as connection:
            connection.execute("SELECT count(*) FROM alerts WHERE opened_at >= %s AND opened_at < %s "
                               "AND category = ANY(%s) AND (disposition IS NULL OR disposition NOT IN "
                               "('false_alarm', 'test'))", (YEAR_START, YEAR_END, INCIDENT_CATEGORIES)).fetchone()

    points = np.random.default_rng(1).uniform([SOUTH, WEST], [SOUTH + ROWS * SIDE, WEST + COLUMNS * SIDE],
                                              size=(located_in_period, 2))
    progress("baselines")
    count_s = timed(count)
    h3_s = timed(lambda: locate(points[:, 0], points[:, 1], 9))
    progress("hotspots through the API")
    api_s = timed(lambda: client.get("/api/reports/hotspots", params=params, headers=headers).raise_for_status())

    progress("the year's PDF report")
    out = data / "year.pdf"
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "centinela", "report", "--config", str(config_dir),
                           "--from", "2025-12-01T00:00:00Z", "--to", "2026-12-01T00:00:00Z", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "CENTINELA_POSTGRES": url}, check=False)
    pdf_s = time.perf_counter() - began
    assert done.returncode == 0, done.stderr
    return {
        "located incidents in the answer (incidents + outside)": located_in_period,
        "study cells": len(body["features"]),
        "hot / cold cells": f"{sum(f['properties']['class'] == 'hot' for f in body['features'])} / "
                            f"{sum(f['properties']['class'] == 'cold' for f in body['features'])}",
        "baseline: count(*) of the incidents, s": round(count_s, 3),
        "baseline: H3 assignment of as many points, s": round(h3_s, 3),
        "hotspots API, first answer (study area built), s": round(first_s, 3),
        "hotspots API, median of 3, s": round(api_s, 3),
        "hotspots API / count(*)": round(api_s / count_s, 1),
        "hotspots API / H3 assignment": round(api_s / h3_s, 2),
        "hotspots API target <= 2 s met": api_s <= 2.0,
        "PDF report for the year, s": round(pdf_s, 2),
        "PDF report / count(*)": round(pdf_s / count_s, 1),
        "PDF report target <= 30 s met": pdf_s <= 30.0,
        "PDF size, KiB": out.stat().st_size // 1024,
    }


if __name__ == "__main__":
    main()
