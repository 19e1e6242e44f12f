"""The commission's endpoints on a real PostgreSQL holding a history with known answers (contract section 14)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import h3
import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from centinela.config import load_config
from commission.reports import CommissionSettings
from tests.integration import commission_history as known

pytestmark = pytest.mark.integration
PERIOD = {"from": "2026-08-31T00:00:00Z", "to": "2026-11-23T00:00:00Z"}
OPERATOR = {"Authorization": "Bearer operator-secret"}
VIEWER = {"Authorization": "Bearer viewer-secret"}


@pytest.fixture(scope="module")
def history_url(postgres: str) -> Iterator[str]:
    with known.database(postgres) as url:
        known.load(url, known.known_alerts())
        yield url


@pytest.fixture(scope="module")
def client(history_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = load_config(known.write_city(tmp_path_factory.mktemp("city")))
    app = create_app(config.city, "127.0.0.1:1", "redis://127.0.0.1:1/0", rules=config.rules,
                     commission_settings=CommissionSettings(config.interventions, config.open_data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CENTINELA_POSTGRES", history_url)
        yield TestClient(app)  # no lifespan: these endpoints need neither Kafka nor Redis


def test_hotspots_count_incidents_as_the_contract_defines_them(client: TestClient) -> None:
    answer = client.get("/api/reports/hotspots", params=PERIOD, headers=VIEWER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/geo+json")
    body = answer.json()
    assert body["type"] == "FeatureCollection"
    assert (body["incidents"], body["outside"], body["unlocated"]) == (92, 2, 3)
    by_cell = {f["properties"]["cell"]: f for f in body["features"]}
    assert by_cell[known.cell(known.R)]["properties"]["count"] == 78
    assert by_cell[known.cell(known.B)]["properties"]["count"] == 13
    assert by_cell[known.cell(known.ROSA)]["properties"]["count"] == 1
    assert sum(f["properties"]["count"] for f in body["features"]) == 92
    # Gi* of R by the contract's formula, over the n study cells returned, R's ring-1 neighbours among them
    counts = {c: f["properties"]["count"] for c, f in by_cell.items()}
    n, r = len(counts), known.cell(known.R)
    mean = 92 / n
    s = math.sqrt(sum(x * x for x in counts.values()) / n - mean * mean)
    weighted = [c for c in h3.grid_disk(r, 1) if c in counts]
    w = len(weighted)
    z = (sum(counts[c] for c in weighted) - mean * w) / (s * math.sqrt((n * w - w * w) / (n - 1)))
    assert by_cell[r]["properties"]["z"] == pytest.approx(z)
    assert by_cell[r]["properties"]["p"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    # one busy spot among quiet cells is a weak cluster: its p (0.015) is no discovery among n tests at q = 0.05
    assert 0.05 / n < by_cell[r]["properties"]["p"] < 0.05 and by_cell[r]["properties"]["class"] == "none"
    assert all(f["properties"]["class"] == "none" for f in body["features"])


def test_hotspots_are_geojson_that_qgis_opens(client: TestClient) -> None:
    body = client.get("/api/reports/hotspots", params=PERIOD, headers=OPERATOR).json()
    for feature in body["features"]:
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
        (ring,) = feature["geometry"]["coordinates"]
        assert ring[0] == ring[-1] and len(ring) >= 4
        assert all(-58.6 < lon < -58.55 and -34.44 < lat < -34.40 for lon, lat in ring)  # [lon, lat], not [lat, lon]
        assert set(feature["properties"]) == {"cell", "count", "z", "p", "class"}
        assert 0 <= feature["properties"]["p"] <= 1


def test_categories_choose_the_incidents(client: TestClient) -> None:
    body = client.get("/api/reports/hotspots", params={**PERIOD, "category": ["motion"]}, headers=VIEWER).json()
    assert (body["incidents"], body["outside"], body["unlocated"]) == (1, 0, 0)
    body = client.get("/api/reports/hotspots", params={**PERIOD, "category": ["medical", "intrusion"]},
                      headers=VIEWER).json()
    assert (body["incidents"], body["outside"], body["unlocated"]) == (13, 0, 3)


def test_resolution_changes_the_cells(client: TestClient) -> None:
    coarse = client.get("/api/reports/hotspots", params={**PERIOD, "resolution": 7}, headers=VIEWER).json()
    fine = client.get("/api/reports/hotspots", params=PERIOD, headers=VIEWER).json()
    assert len(coarse["features"]) < len(fine["features"])
    assert coarse["incidents"] + coarse["outside"] == 94


def test_trends_by_hand(client: TestClient) -> None:
    answer = client.get("/api/reports/trends", params={"weeks": 12, "to": PERIOD["to"]}, headers=VIEWER)
    assert answer.status_code == 200, answer.text
    cells = {c["cell"]: c for c in answer.json()["cells"]}
    assert set(cells) == {known.cell(known.R), known.cell(known.B)}  # rosa's cell has 1 incident, fewer than 10
    rising = cells[known.cell(known.R)]
    # S = 66, Var = 12·11·29/18, Z = 65/sqrt(Var) = 4.457: p = 8.3e-6
    assert (rising["incidents"], rising["tau"], rising["trend"], rising["hot"]) == (78, 1.0, "increasing", False)
    assert rising["p"] == pytest.approx(math.erfc(65 / math.sqrt(12 * 11 * 29 / 18) / math.sqrt(2)))
    burst = cells[known.cell(known.B)]
    # [12, 0×7, 1, 0×3]: S = −11 + 7 − 3 = −7; ten tied zeros take 10·9·25: Var = (3828 − 2250)/18
    assert (burst["incidents"], burst["tau"], burst["trend"]) == (13, pytest.approx(-7 / 66), "none")
    assert burst["p"] == pytest.approx(math.erfc(6 / math.sqrt(1578 / 18) / math.sqrt(2)))


def test_an_intervention_by_hand(client: TestClient) -> None:
    answer = client.get("/api/reports/interventions/luces-norte", params={"weeks": 6}, headers=VIEWER)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # treated (norte): before R's weeks 0-5 (21) + 2 outside + rosa = 24, after weeks 6-11: 57;
    # comparison (sur): before the 12 intrusions, after `moved` and the 3 unlocated: 4
    assert body["treated"] == {"before": 24, "after": 57}
    assert body["comparison"] == {"before": 12, "after": 4}
    ratio = (57 / 24) / (4 / 12)
    spread = 1.96 * math.sqrt(1 / 57 + 1 / 24 + 1 / 4 + 1 / 12)
    assert body["rate_ratio"] == pytest.approx(ratio)
    assert body["ci95"] == pytest.approx([ratio * math.exp(-spread), ratio * math.exp(spread)])
    assert body["p"] == pytest.approx(math.erfc(abs(math.log(ratio)) / (spread / 1.96) / math.sqrt(2)))
    assert body["reason"] is None


def test_an_intervention_with_a_zero_count_says_why(client: TestClient) -> None:
    body = client.get("/api/reports/interventions/patrulla-sur", params={"weeks": 2}, headers=VIEWER).json()
    assert body["treated"] == {"before": 4, "after": 0}
    assert body["comparison"] == {"before": 17, "after": 21}
    assert (body["rate_ratio"], body["ci95"], body["p"]) == (None, None, None)
    assert "treated after" in body["reason"]


def test_open_data_publishes_only_counts_of_at_least_five(client: TestClient) -> None:
    answer = client.get("/open/incidents.geojson", params=PERIOD)
    assert answer.status_code == 200, answer.text
    features = answer.json()["features"]
    found = {(f["properties"]["cell"], f["properties"]["week"], f["properties"]["category"]): f["properties"]["count"]
             for f in features}
    r8, b8, rosa8 = known.cell(known.R, 8), known.cell(known.B, 8), known.cell(known.ROSA, 8)
    assert rosa8 not in {r8, b8}
    expected = {(r8, f"2026-W{36 + w}", "panic"): w + 1 for w in range(4, 12)}
    expected[(b8, "2026-W36", "intrusion")] = 12
    assert found == expected
    assert all(set(f["properties"]) == {"cell", "week", "category", "count"} for f in features)


@pytest.mark.parametrize(("path", "params"), [
    ("/api/reports/hotspots", {"resolution": 11}),
    ("/api/reports/hotspots", {"from": "yesterday"}),
    ("/api/reports/hotspots", {"from": "2026-11-23T00:00:00Z", "to": "2026-11-01T00:00:00Z"}),
    ("/api/reports/hotspots", {"category": "robbery"}),
    ("/api/reports/trends", {"weeks": 1}),
    ("/api/reports/trends", {"to": "soon"}),
    ("/api/reports/interventions/luces-norte", {"weeks": 0}),
    ("/open/incidents.geojson", {"to": "soon"}),
])
def test_bad_parameters_are_422_with_an_error(client: TestClient, path: str, params: dict[str, object]) -> None:
    answer = client.get(path, params=params, headers=VIEWER)
    assert answer.status_code == 422
    assert set(answer.json()) == {"error"}


def test_roles(client: TestClient) -> None:
    for path in ("/api/reports/hotspots", "/api/reports/trends", "/api/reports/interventions/luces-norte"):
        assert client.get(path, headers={"Authorization": "Bearer responder-secret"}).status_code == 403
        assert client.get(path).status_code == 401
    assert client.get("/api/reports/interventions/nada", headers=OPERATOR).status_code == 404


def test_without_the_store_it_is_503_and_open_data_is_404_when_disabled(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(known.write_city(tmp_path))
    app = create_app(config.city, "127.0.0.1:1", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("CENTINELA_POSTGRES", raising=False)
    client = TestClient(app)
    answer = client.get("/api/reports/hotspots", headers=VIEWER)
    assert answer.status_code == 503 and "error" in answer.json()
    assert client.get("/open/incidents.geojson").status_code == 404
    monkeypatch.setenv("CENTINELA_POSTGRES", "postgresql://nobody:x@127.0.0.1:1/none")
    assert client.get("/api/reports/trends", headers=VIEWER).status_code == 503
