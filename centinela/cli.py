"""The `centinela` command: each package adds its own subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from centinela import camera_commands, commands, demo_commands, receiver_commands, rules_commands

    parser = argparse.ArgumentParser(prog="centinela", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (commands, rules_commands, camera_commands, demo_commands, receiver_commands):
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a one-line reason for the user; the traceback only when asked for
        if os.environ.get("CENTINELA_DEBUG"):
            raise
        print(f"centinela {args.command}: {type(error).__name__}: {error} (CENTINELA_DEBUG=1 shows where)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
