"""The `centinela` command: each module of centinela/ adds its own subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from vocabulary.errors import CentinelaError, ConfigError

Command = Callable[[argparse.Namespace], int]
UNEXPECTED = 70  # EX_SOFTWARE: a bug of ours, not something the user did


def build_parser() -> argparse.ArgumentParser:
    from centinela import (
        broker_commands,
        camera_commands,
        commands,
        demo_commands,
        history_commands,
        partner_commands,
        receiver_commands,
        report_commands,
        rules_commands,
    )

    parser = argparse.ArgumentParser(prog="centinela", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (commands, broker_commands, rules_commands, camera_commands, demo_commands, receiver_commands, history_commands,
                   report_commands, partner_commands):
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    where = f"centinela {args.command}"
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except ConfigError as error:
        for problem in error.problems:
            print(f"{where}: config: {problem}", file=sys.stderr)
        return error.exit_code
    except CentinelaError as error:
        print(f"{where}: {error.message}", file=sys.stderr)
        return error.exit_code
    except Exception as error:
        if os.environ.get("CENTINELA_DEBUG"):
            raise
        print(f"{where}: unexpected error: {type(error).__name__}: {error} "
              "(a bug: CENTINELA_DEBUG=1 shows the traceback)", file=sys.stderr)
        return UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
