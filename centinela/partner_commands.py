"""`centinela partners`: CAP 1.2 to the partner agencies (contract section 16); `partners listen`: one agency's end."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from centinela.commands import load, run_until_signal, running_servers
from vocabulary.errors import UsageError
from vocabulary.listening import parse_address


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    partners = sub.add_parser(
        "partners", help="deliver alerts as CAP 1.2 to the configured partner agencies "
                         "(reads alerts from CENTINELA_KAFKA, queues in CENTINELA_REDIS)")
    partners.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    partners.set_defaults(run=run_partners)
    partners_sub = partners.add_subparsers(dest="partners_command", metavar="COMMAND")
    listen = partners_sub.add_parser(
        "listen", help="receive one partner's CAP messages, check their signatures and log them (demos, rehearsals)")
    listen.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    listen.add_argument("--partner", help="the partner's id (default: the only one configured)")
    listen.add_argument("--listen", default="127.0.0.1:8091", metavar="HOST:PORT", help="where to listen")
    listen.add_argument("--save", type=Path, help="keep each document received as DIR/<identifier>.xml")
    listen.set_defaults(run=run_listen)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per POST would name the partners' URLs


def run_partners(args: argparse.Namespace) -> int:
    from partners.delivery import serve
    from vocabulary import internal
    from vocabulary.kafka_security import KafkaSecurity

    config = load(args.config)
    kafka, redis_url = running_servers("centinela partners")
    secret = internal.key_from_environment()
    security = KafkaSecurity.from_environment()
    _logging()
    return run_until_signal(serve(config.city, config.cap, kafka, redis_url, secret, security))


def run_listen(args: argparse.Namespace) -> int:
    from partners.listener import listen

    config = load(args.config)
    partners = config.city.partners
    if args.partner is None and len(partners) != 1:
        raise UsageError(f"--partner: one of {', '.join(p.id for p in partners) or '(none configured)'}")
    partner = config.city.partner_by_id.get(args.partner or partners[0].id)
    if partner is None:
        raise UsageError(f"--partner: no partner {args.partner!r} in the configuration")
    host, port = parse_address(args.listen, "--listen")
    _logging()
    return run_until_signal(listen(partner, host, port, args.save))
