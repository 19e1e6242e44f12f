"""`centinela receiver`: SIA DC-09 panels and HTTP ingestion in, events on the broker (contract section 7)."""

from __future__ import annotations

import argparse
import logging
import os

from centinela.commands import load, run_until_signal
from vocabulary.errors import UsageError


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    receiver = sub.add_parser(
        "receiver", help="receive SIA DC-09 (TCP and UDP, CENTINELA_DC09) and HTTP events (CENTINELA_INGEST) "
                         "and put them on CENTINELA_KAFKA")
    receiver.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    receiver.set_defaults(run=run_receiver)


def run_receiver(args: argparse.Namespace) -> int:
    from receivers.ingest import Window
    from receivers.service import addresses, serve
    from vocabulary import internal
    from vocabulary.kafka_security import KafkaSecurity

    config = load(args.config)
    security = KafkaSecurity.from_environment()
    kafka = os.environ.get("CENTINELA_KAFKA")
    if not kafka:
        raise UsageError("the receiver needs CENTINELA_KAFKA (host:port)")
    dc09, ingest = addresses(os.environ)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    admission = config.admission
    window = Window(admission.max_bytes, admission.stale_s, admission.future_s)
    return run_until_signal(serve(config.city, config.ingest, window, kafka, dc09, ingest,
                                  internal.key_from_environment(), security,
                                  redis_url=os.environ.get("CENTINELA_REDIS")))


def receiver_ports() -> list[tuple[str, int, str]]:
    """The receivers' addresses, for `up` to check before it starts anything."""
    from receivers.service import addresses

    dc09, ingest = addresses(os.environ)
    return [(*dc09, "DC-09 receiver (CENTINELA_DC09)"), (*ingest, "ingestion (CENTINELA_INGEST)")]
