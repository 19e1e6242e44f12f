"""One error hierarchy: every error a user can cause is a `CentinelaError`.

Each carries the exit code of the command it stops and a one-line message, so the CLI
catches this base alone and anything else is a bug, reported as one.
"""

from __future__ import annotations

USAGE = 2  # bad configuration, arguments or input: the user must change something
UNAVAILABLE = 1  # a port taken, a server unreachable: the environment must change


class CentinelaError(Exception):
    exit_code = UNAVAILABLE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CentinelaError):
    """Arguments or input that cannot be used as given."""

    exit_code = USAGE


class ConfigError(UsageError):
    """The configuration does not validate; `problems` are one line each, naming file, entry and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Unavailable(CentinelaError):
    """Something outside Centinela is not there: a taken port, an unreachable broker."""
