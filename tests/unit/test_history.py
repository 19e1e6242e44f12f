"""The history's pure pieces: periods, ranking, CSV, verification of `alerts`, the demo's year, the
embedded server's files and command line."""

from __future__ import annotations

import csv
import io
import stat
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from center.health import history_component
from centinela.config import load_config
from deploy import postgres
from deploy.history_demo import generate
from deploy.simulate import DEMO_CITY
from history import reports
from history.progress import WriterRecord
from history.writer import authentic
from vocabulary import internal
from vocabulary.errors import UsageError
from vocabulary.events import Alert

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KEY = bytes(range(32))


def test_a_period_defaults_to_the_30_days_before_now() -> None:
    period = reports.Period.parse(None, None, now=NOW)
    assert (period.start, period.end) == (NOW - timedelta(days=30), NOW)
    assert reports.Period.parse("2026-11-01T00:00:00-03:00", None, now=NOW).start == datetime(2026, 11, 1, 3, tzinfo=UTC)
    assert reports.Period.parse(None, "2026-11-01T00:00:00Z").start == datetime(2026, 10, 2, tzinfo=UTC)


@pytest.mark.parametrize(("start", "end", "says"), [
    ("yesterday", None, "from:"), (None, "2026-11-01", "to:"), ("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z", "before"),
    ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", "before"),
])
def test_a_bad_period_says_what_is_wrong(start: str | None, end: str | None, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        reports.Period.parse(start, end, now=NOW)


def test_sources_rank_by_rate_then_alerts_and_never_resolved_last() -> None:
    rows = [{"kind": "alarm", "id": i, "alerts": a, "resolved": r, "false_alarm": f}
            for i, a, r, f in [("a", 5, 4, 1), ("b", 3, 0, 0), ("c", 9, 4, 1), ("d", 4, 2, 2), ("e", 3, 3, 0)]]
    assert [(s["id"], s["rate"]) for s in reports.rank_sources(rows)] == [
        ("d", 1.0), ("c", 0.25), ("a", 0.25), ("e", 0.0), ("b", None)]


def test_operators_merge_actions_and_acknowledgements_by_name() -> None:
    merged = reports.merge_operators(
        [{"name": "Beto", "acknowledged": 1, "dispatched": 2, "resolved": 0, "steps": 3}],
        [{"name": "Ana", "ack_p50_s": 12.5}, {"name": "Beto", "ack_p50_s": 3.0}])
    assert merged == [
        {"name": "Ana", "acknowledged": 0, "dispatched": 0, "resolved": 0, "steps": 0, "ack_p50_s": 12.5},
        {"name": "Beto", "acknowledged": 1, "dispatched": 2, "resolved": 0, "steps": 3, "ack_p50_s": 3.0}]


def test_within_deadline_is_a_share_of_the_alerts_that_have_a_deadline() -> None:
    row = {"alerts": 4, "acknowledged": 3, "with_deadline": 4, "within": 1,
           **{f"{k}_{p}": None for k in ("ack_s", "dispatch_s", "resolve_s") for p in ("p50", "p90", "max")}}
    assert reports.priority_entry(row)["within_deadline"] == 0.25
    assert reports.priority_entry({**row, "with_deadline": 0, "within": 0})["within_deadline"] is None
    assert reports.hours([{"hour": 23, "alerts": 4}, {"hour": 0, "alerts": 1}]) == [1] + [0] * 22 + [4]


def test_reports_as_csv_have_a_header_and_empty_cells_for_null() -> None:
    sources = {"sources": [{"kind": "alarm", "id": "pn-1", "alerts": 3, "resolved": 0, "false_alarm": 0, "rate": None}]}
    assert list(csv.reader(io.StringIO(reports.false_alarms_csv(sources)))) == [
        ["kind", "id", "alerts", "resolved", "false_alarm", "rate"], ["alarm", "pn-1", "3", "0", "0", ""]]
    times = {"p50": 1.5, "p90": 2.0, "max": 3.0}
    response = {"by_priority": {"1": {"alerts": 2, "acknowledged": 2, "ack_s": times, "dispatch_s": times,
                                      "resolve_s": times, "within_deadline": 0.5}}}
    table = list(csv.reader(io.StringIO(reports.response_csv(response))))
    assert table[0][:4] == ["priority", "alerts", "acknowledged", "ack_s_p50"] and table[0][-1] == "within_deadline"
    assert table[1] == ["1", "2", "2", "1.5", "2.0", "3.0", "1.5", "2.0", "3.0", "1.5", "2.0", "3.0", "0.5"]


def test_calendar_takes_each_zones_time_zone_and_overridden_deadlines() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "integration" / "history_city")
    calendar = reports.Calendar.of(config.city, config.rules)
    assert calendar.timezones == {"centro": "America/Argentina/Buenos_Aires", "costa": "UTC"}
    assert calendar.deadlines[("costa", 1)] == 60 and calendar.deadlines[("centro", 1)] == 30
    assert calendar.deadlines[("centro", 4)] is None and calendar.default_deadlines[2] == 60


def _message(value: bytes, partition: int = 0, key: bytes = b"zone-a", signed_for: int | None = None) -> SimpleNamespace:
    headers = internal.Signer(KEY).headers("alerts", partition if signed_for is None else signed_for, key, value)
    return SimpleNamespace(key=key, value=value, headers=headers, partition=partition)


ALERT = Alert.model_validate({
    "alert_id": "a-1", "zone_id": "zone-a", "priority": 1, "category": "panic", "title": "Panic", "status": "open",
    "opened_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:00Z", "source": {"kind": "beeper", "id": "b"},
    "count": 1, "event_ids": [], "rule": "beep:panic"}).model_dump_json().encode()


def test_the_writer_stores_only_alerts_signed_with_the_internal_key_for_their_partition() -> None:
    row = authentic(KEY, _message(ALERT))
    assert row is not None and (row.alert_id, row.version, row.body) == ("a-1", 1, ALERT.decode())
    forged = _message(ALERT)
    forged.headers = internal.Signer(bytes(32)).headers("alerts", 0, forged.key, ALERT)
    assert authentic(KEY, forged) is None
    assert authentic(KEY, _message(ALERT, partition=1, signed_for=0)) is None  # copied to another partition
    assert authentic(KEY, SimpleNamespace(key=b"zone-a", value=ALERT, headers=[], partition=0)) is None
    assert authentic(KEY, _message(b'{"alert_id": 1}')) is None  # signed, but not an Alert


def test_the_demo_year_is_seeded_plausible_and_valid() -> None:
    city = load_config(DEMO_CITY).city
    lines = generate(city, NOW, alerts=600)
    assert lines == generate(city, NOW, alerts=600)
    alerts = [Alert.model_validate_json(line) for line in lines]
    latest = {a.alert_id: a for a in sorted(alerts, key=lambda a: a.version)}
    assert len(latest) == 600 and all(NOW - timedelta(days=366) < a.opened_at < NOW for a in alerts)
    assert all(a.status == "resolved" for a in latest.values())
    intrusions = Counter(a.opened_at.astimezone(ZoneInfo(city.zone_by_id[a.zone_id].timezone)).hour
                         for a in latest.values() if a.category == "intrusion")
    night, midday = sum(intrusions[h] for h in (0, 1, 2, 3)), sum(intrusions[h] for h in (10, 11, 12, 13))
    assert night > 2 * midday  # burglaries at night
    false_by_panel = Counter(a.source.id for a in latest.values() if a.disposition == "false_alarm")
    assert false_by_panel.most_common(1)[0][1] >= 3  # a few panels cry wolf


def test_the_password_file_is_the_owners_alone_and_kept(tmp_path: Path) -> None:
    first = postgres.password(tmp_path / "data")
    assert len(first) == 48 and postgres.password(tmp_path / "data") == first
    assert stat.S_IMODE(postgres.password_file(tmp_path / "data").stat().st_mode) == 0o600
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # no temporary file left
    assert postgres.postgres_url(5433, tmp_path / "data") == f"postgresql://centinela:{first}@127.0.0.1:5433/centinela"


def test_the_server_listens_on_loopback_with_its_own_socket_directory(tmp_path: Path) -> None:
    argv = postgres.postgres_argv(6543, tmp_path)
    assert argv[argv.index("-p") + 1] == "6543" and argv[argv.index("-D") + 1] == str(tmp_path / "postgres")
    assert "listen_addresses=127.0.0.1" in argv and f"unix_socket_directories={tmp_path}/postgres.run" in argv
    if postgres.os.geteuid() == 0:  # PostgreSQL refuses root: the server runs as the postgres user
        assert argv[0] == "setpriv" and "--pdeathsig=keep" in argv


def test_centinela_postgres_names_a_running_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.ENV, raising=False)
    with pytest.raises(postgres.PostgresError, match="centinela up --data"):
        postgres.store_url(tmp_path)
    monkeypatch.setenv(postgres.ENV, "postgresql://u:p@db.example:5432/centinela")
    assert postgres.store_url(tmp_path) == "postgresql://u:p@db.example:5432/centinela"


def test_health_shows_the_history_writers() -> None:
    now = 1_000.0
    fine = WriterRecord(host="h", pid=7, since=900, checked_at=999, stored_at=998, waiting=3, forged=2)
    assert history_component([], now, 30, expected=False) is None  # no history kept here
    assert history_component([], now, 30, expected=True).level == "degraded"  # type: ignore[union-attr]
    ok = history_component([fine], now, 30, expected=True)
    assert ok is not None and ok.level == "ok" and "3 waiting" in ok.detail and "2 forged" in ok.detail
    stalled = fine.model_copy(update={"stored_at": 950.0})
    assert "nothing stored for 50 s" in history_component([stalled], now, 30, True).detail  # type: ignore[union-attr]
    failing = fine.model_copy(update={"problem": "OperationalError"})
    assert history_component([failing], now, 30, True).level == "degraded"  # type: ignore[union-attr]
    silent = fine.model_copy(update={"checked_at": 980.0})
    assert "not reported for 20 s" in history_component([silent], now, 30, True).detail  # type: ignore[union-attr]
