"""The center's connection to the history in PostgreSQL (CENTINELA_POSTGRES, which `up` sets).

Every route that reads the history takes one connection per request; without the variable, or while
the server does not answer, the route is a 503.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from center.errors import ApiError
from history.reports import SESSION_OPTIONS
from history.schema import migrate_async
from vocabulary.redaction import redacted

log = logging.getLogger("centinela.center.history")
STORE_ENV = "CENTINELA_POSTGRES"
CONNECT_TIMEOUT_S = 3
_migrated: set[str] = set()


@asynccontextmanager
async def history_store() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection to the history, migrated once per process and server; 503 without it or when it fails."""
    url = os.environ.get(STORE_ENV)
    if not url:
        raise ApiError(503, f"no history store: the center was started without {STORE_ENV}")
    try:
        connection = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True,
                                                           options=SESSION_OPTIONS)
    except psycopg.Error as error:
        log.warning("the history store does not answer: %s", redacted(error))
        raise ApiError(503, "the history store (PostgreSQL) is not reachable") from None
    try:
        async with connection:
            if url not in _migrated:
                await migrate_async(connection)
                _migrated.add(url)
            yield connection
    except psycopg.OperationalError as error:
        log.warning("the history store failed: %s", redacted(error))
        raise ApiError(503, "the history store (PostgreSQL) is not reachable") from None
