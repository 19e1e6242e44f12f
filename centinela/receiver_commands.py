"""`centinela receiver`: SIA DC-09 panels and HTTP ingestion in, events on the broker (contract section 7)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from centinela.commands import fail, load_or_report
from vocabulary.errors import CentinelaError


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    receiver = sub.add_parser(
        "receiver", help="receive SIA DC-09 (TCP and UDP, CENTINELA_DC09) and HTTP events (CENTINELA_INGEST) "
                         "and put them on CENTINELA_KAFKA")
    receiver.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    receiver.set_defaults(run=run_receiver)


def run_receiver(args: argparse.Namespace) -> int:
    from receivers.service import DEFAULT_DC09, DEFAULT_INGEST, parse_address, serve

    config = load_or_report(args.config)
    if config is None:
        return 1
    kafka = os.environ.get("CENTINELA_KAFKA")
    if not kafka:
        return fail("the receiver needs CENTINELA_KAFKA (host:port)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    async def until_signal() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        dc09 = parse_address(os.environ.get("CENTINELA_DC09", DEFAULT_DC09), "CENTINELA_DC09")
        ingest = parse_address(os.environ.get("CENTINELA_INGEST", DEFAULT_INGEST), "CENTINELA_INGEST")
        await serve(config.city, config.ingest, config.admission.max_bytes, kafka, dc09, ingest)

    try:
        asyncio.run(until_signal())
    except CentinelaError as error:
        return fail(error.message, error.exit_code)
    except asyncio.CancelledError:
        pass
    return 0
