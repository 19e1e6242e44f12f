"""`centinela report --out FILE.pdf`: the security commission's report (contract section 14).

It reads the history in the embedded PostgreSQL that `up` runs for `--data` (on `--postgres-port`),
unless CENTINELA_POSTGRES names a running server, and needs no network beyond it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from centinela.commands import load
from centinela.history_commands import store_options
from vocabulary.errors import Unavailable, UsageError

if TYPE_CHECKING:
    from centinela.config import Config
    from commission.pdf import Progress
    from history.reports import Calendar, Period


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from deploy.postgres import DEFAULT_PORT

    report = sub.add_parser("report", help="write the security commission's PDF report from the history")
    report.add_argument("--from", dest="start", help="RFC 3339; default: 30 days before --to")
    report.add_argument("--to", dest="end", help="RFC 3339, excluded; default: now")
    report.add_argument("--out", required=True, type=Path, help="the PDF to write")
    report.add_argument("--resolution", type=int, default=9, choices=range(6, 11), metavar="6..10",
                        help="H3 resolution of the hotspot map (default 9)")
    store_options(report, DEFAULT_PORT)
    report.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from deploy.postgres import store_url
    from history.reports import Calendar, Period

    config = load(args.config)
    period = Period.parse(args.start, args.end)
    if args.out.suffix.lower() != ".pdf":
        raise UsageError(f"--out {args.out}: the report is a PDF: name it .pdf")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: no such directory {args.out.parent}")
    url = store_url(args.data, args.postgres_port)
    began = time.monotonic()

    def progress(step: str) -> None:
        print(f"report: {step} ({time.monotonic() - began:.1f} s)", file=sys.stderr, flush=True)

    pages = asyncio.run(_write(url, config, Calendar.of(config.city, config.rules), period, args, progress))
    progress(f"wrote {args.out}: {pages} pages")
    return 0


async def _write(url: str, config: Config, calendar: Calendar, period: Period, args: argparse.Namespace,
                 progress: Progress) -> int:
    import psycopg

    from commission.pdf import collect, render
    from commission.reports import StudyAreas
    from history.reports import reading_pool
    from history.schema import migrate_store

    try:
        await migrate_store(url, 5)
        async with reading_pool(url, timeout_s=5) as pool:
            report = await collect(pool, period, calendar, StudyAreas(config.city.zones), config.interventions,
                                   progress, args.resolution)
    except psycopg.OperationalError:  # PoolTimeout too: no connection within 5 s
        raise Unavailable("the history store (PostgreSQL) is not reachable") from None
    return await asyncio.to_thread(render, report, args.out, progress)
