"""The center's connections to the history in PostgreSQL (CENTINELA_POSTGRES, which `up` sets).

A request that reads the history opens its own: one connection, or for a report a few that run
its queries side by side (history.reports.reading_pool). Without the variable, or while the server
does not answer, the route is a 503.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from center.errors import ApiError
from history.reports import SESSION_OPTIONS, reading_pool
from history.schema import migrate_store
from vocabulary.redaction import redacted

log = logging.getLogger("centinela.center.history")
STORE_ENV = "CENTINELA_POSTGRES"
CONNECT_TIMEOUT_S = 3
_migrated: set[str] = set()


@asynccontextmanager
async def _store() -> AsyncIterator[str]:
    """The store's URL, migrated once per process and server; 503 without it or when it fails."""
    url = os.environ.get(STORE_ENV)
    if not url:
        raise ApiError(503, f"no history store: the center was started without {STORE_ENV}")
    try:
        if url not in _migrated:  # a server that is down fails this at once, not after the pool's timeout
            await migrate_store(url, CONNECT_TIMEOUT_S)
            _migrated.add(url)
        yield url
    except psycopg.OperationalError as error:  # PoolTimeout too: no connection within CONNECT_TIMEOUT_S
        log.warning("the history store failed: %s", redacted(error))
        raise ApiError(503, "the history store (PostgreSQL) is not reachable") from None


@asynccontextmanager
async def history_store() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """One connection to the history."""
    async with _store() as url, await psycopg.AsyncConnection.connect(
            url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True, options=SESSION_OPTIONS) as connection:
        yield connection


@asynccontextmanager
async def history_readers() -> AsyncIterator[AsyncConnectionPool]:
    """Connections for one report's queries, closed after it."""
    async with _store() as url, reading_pool(url, timeout_s=CONNECT_TIMEOUT_S) as pool:
        yield pool
