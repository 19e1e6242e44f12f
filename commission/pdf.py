"""The commission's PDF report (contract section 14): matplotlib's PDF backend, no tiles, no network.

`collect` reads everything from the history; `render` draws it, page by page: the response figures
(section 13), the hotspot map over the zones' outlines, weekly counts per category, the
interventions, and the sources with the most false alarms (ids only). Text is TrueType (fonttype
42), so every number can be copied out of the PDF.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from psycopg_pool import AsyncConnectionPool

from alert_rules.city import Zone
from commission import queries
from commission.cells import outline
from commission.hotspots import Hotspots
from commission.interventions import DEFAULT_CATEGORIES, Comparison, Intervention
from commission.reports import DEFAULT_WEEKS, StudyAreas, evaluate, hotspot_test
from history import reports as history
from vocabulary.events import format_timestamp

Progress = Callable[[str], None]
COLOURS = {"hot": "#c0392b", "cold": "#2e86c1", "none": "#e5e7e9"}
PAGE = (11.69, 8.27)  # A4 landscape, inches


@dataclass(frozen=True)
class CommissionReport:
    start: datetime
    end: datetime
    zones: Sequence[Zone]
    response: dict[str, Any]
    hotspots: Hotspots
    weekly: list[tuple[datetime, str, int]]
    interventions: list[tuple[Intervention, Comparison]]
    false_alarms: list[dict[str, Any]]


async def collect(pool: AsyncConnectionPool, period: history.Period, calendar: history.Calendar,
                  areas: StudyAreas, interventions: Sequence[Intervention], progress: Progress,
                  resolution: int = 9) -> CommissionReport:
    progress("response figures")
    response = await history.response(pool, period, calendar)
    async with pool.connection() as connection:
        progress("hotspots")
        found = await hotspot_test(connection, areas.at(resolution), period.start, period.end, DEFAULT_CATEGORIES)
        progress("weekly counts")
        weekly = await queries.weekly(connection, period.start, period.end, DEFAULT_CATEGORIES)
        progress("interventions")
        evaluated = [(i, await evaluate(connection, i, DEFAULT_WEEKS)) for i in interventions]
    progress("false-alarm leaders")
    leaders = (await history.false_alarms(pool, period, calendar))["sources"][:15]
    return CommissionReport(period.start, period.end, areas.zones, response, found, weekly, evaluated, leaders)


def render(report: CommissionReport, path: Path, progress: Progress) -> int:
    """Write the PDF; returns its page count."""
    pages = [("response figures", _response_page), ("hotspot map", _map_page), ("weekly counts", _weekly_page),
             ("interventions", _interventions_page), ("false-alarm leaders", _false_alarm_page)]
    with rc_context({"pdf.fonttype": 42, "font.size": 9}), PdfPages(path, metadata={"Title": "Centinela: report for the security commission"}) as pdf:
        for name, draw in pages:
            progress(f"drawing {name}")
            figure = Figure(figsize=PAGE)
            draw(figure, report)
            pdf.savefig(figure)
    return len(pages)


def _title(figure: Figure, report: CommissionReport, what: str) -> None:
    figure.suptitle(f"{what} — {format_timestamp(report.start)[:10]} to {format_timestamp(report.end)[:10]}",
                    fontsize=13, x=0.02, ha="left")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _table(figure: Figure, rect: tuple[float, float, float, float], header: list[str], rows: list[list[str]],
           title: str = "") -> None:
    ax = figure.add_axes(rect)
    ax.axis("off")
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    if not rows:
        ax.text(0, 0.9, "none in this period", va="top")
        return
    table = ax.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)


def _response_page(figure: Figure, report: CommissionReport) -> None:
    _title(figure, report, "Response figures (section 13)")
    response = report.response
    rows = [[priority, str(e["alerts"]), str(e["acknowledged"]), _seconds(e["ack_s"]["p50"]),
             _seconds(e["ack_s"]["p90"]), _seconds(e["dispatch_s"]["p50"]), _seconds(e["resolve_s"]["p50"]),
             "—" if e["within_deadline"] is None else f"{100 * e['within_deadline']:.0f} %"]
            for priority, e in sorted(response["by_priority"].items())]
    _table(figure, (0.03, 0.52, 0.6, 0.38),
           ["priority", "alerts", "acknowledged", "ack p50 s", "ack p90 s", "dispatch p50 s", "resolve p50 s",
            "ack within deadline"], rows, f"{response['alerts']} alerts")
    outcomes = response["dispositions"]
    _table(figure, (0.67, 0.62, 0.3, 0.28), ["disposition", "alerts"],
           [[name, str(outcomes[name])] for name in ("real", "false_alarm", "test", "unresolved")], "Dispositions")
    hours = figure.add_axes((0.06, 0.08, 0.9, 0.36))
    hours.bar(range(24), response["by_hour"], color="#5d6d7e")
    hours.set_xticks(range(24))
    hours.set_xlabel("hour of the day (each zone's time zone)")
    hours.set_ylabel("alerts")


def _map_page(figure: Figure, report: CommissionReport) -> None:
    found = report.hotspots
    _title(figure, report, f"Hotspots: Getis-Ord Gi*, FDR 5 % (H3 resolution {found.area.resolution})")
    ax = figure.add_axes((0.07, 0.1, 0.56, 0.8))
    names = found.area.names()
    polygons = [outline(cell) for cell in names]
    ax.add_collection(PolyCollection(polygons, facecolors=[COLOURS[c] for c in found.classes],
                                     edgecolors="#ffffff", linewidths=0.2))
    for zone in report.zones:
        ring = [*zone.polygon, zone.polygon[0]]
        ax.plot([p[0] for p in ring], [p[1] for p in ring], color="#17202a", linewidth=1)
        centre = (sum(p[0] for p in zone.polygon) / len(zone.polygon), sum(p[1] for p in zone.polygon) / len(zone.polygon))
        ax.annotate(zone.name or zone.id, centre, fontsize=7, ha="center", color="#17202a")
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.ticklabel_format(useOffset=False)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    hot = [i for i, c in enumerate(found.classes) if c != "none"]
    hot.sort(key=lambda i: -abs(float(found.z[i])))
    rows = [[names[i], found.classes[i], str(int(found.counts[i])), f"{found.z[i]:.2f}", f"{found.p[i]:.2g}"]
            for i in hot[:25]]
    summary = (f"incidents in the study area: {found.incidents}; outside it: {found.outside}; "
               f"without a location: {found.unlocated}; cells: {found.area.n}; "
               f"hot: {found.classes.count('hot')}; cold: {found.classes.count('cold')}")
    figure.text(0.02, 0.01, summary, fontsize=8)
    _table(figure, (0.66, 0.1, 0.32, 0.8), ["cell", "class", "count", "z", "p"], rows, "Significant cells (red hot, blue cold)")


def _weekly_page(figure: Figure, report: CommissionReport) -> None:
    _title(figure, report, "Incidents per week and category (located or not; false alarms and tests left out)")
    ax = figure.add_axes((0.07, 0.35, 0.88, 0.55))
    weeks = sorted({week for week, _, _ in report.weekly})
    categories = sorted({category for _, category, _ in report.weekly})
    counts = {(week, category): n for week, category, n in report.weekly}
    for category in categories:
        ax.plot(np.array(weeks, dtype="datetime64[D]"), [counts.get((w, category), 0) for w in weeks],
                marker="o", markersize=2, label=category)
    ax.set_ylabel("incidents")
    if categories:
        ax.legend(loc="upper left", fontsize=8)
    recent = weeks[-8:]
    rows = [[category, *(str(counts.get((w, category), 0)) for w in recent)] for category in categories]
    labels = [(w + timedelta(days=3)).strftime("%G-W%V") for w in recent]
    _table(figure, (0.07, 0.03, 0.88, 0.25), ["category", *labels], rows, "The last eight weeks")


def _interventions_page(figure: Figure, report: CommissionReport) -> None:
    _title(figure, report, f"Interventions: treated zones against all others, {DEFAULT_WEEKS} weeks before and after")
    rows = []
    for intervention, result in report.interventions:
        ratio = "—" if result.rate_ratio is None else f"{result.rate_ratio:.2f}"
        interval = "—" if result.ci95 is None else f"{result.ci95[0]:.2f} – {result.ci95[1]:.2f}"
        p = "—" if result.p is None else f"{result.p:.3g}"
        rows.append([intervention.id, intervention.name[:30], intervention.start.isoformat(), ", ".join(intervention.zones)[:30],
                     str(result.treated.before), str(result.treated.after), str(result.comparison.before),
                     str(result.comparison.after), ratio, interval, p])
    _table(figure, (0.02, 0.35, 0.96, 0.55), ["id", "name", "start", "zones", "treated before", "treated after",
                                              "others before", "others after", "rate ratio", "95 % CI", "p"], rows)
    reasons = [f"{i.id}: {r.reason}" for i, r in report.interventions if r.reason]
    if reasons:
        figure.text(0.02, 0.25, "\n".join(reasons), fontsize=8, va="top")


def _false_alarm_page(figure: Figure, report: CommissionReport) -> None:
    _title(figure, report, "Sources with the most false alarms (at least 3 alerts; ids only)")
    rows = [[s["kind"], s["id"], str(s["alerts"]), str(s["resolved"]), str(s["false_alarm"]),
             "—" if s["rate"] is None else f"{100 * s['rate']:.0f} %"] for s in report.false_alarms]
    _table(figure, (0.03, 0.1, 0.7, 0.8), ["kind", "id", "alerts", "resolved", "false alarms", "rate"], rows)
