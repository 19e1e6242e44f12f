"""The history's schema, as numbered migrations that Centinela applies itself at start.

Every process that uses the store calls `migrate` (or `migrate_async`) first: the migrations run
under one advisory lock in one transaction, each recorded in `schema_migrations`, so two
processes starting together apply each exactly once and a migration half applied never stays.
"""

from __future__ import annotations

import psycopg

LOCK_KEY = 7_401_300_913  # pg_advisory_xact_lock's key for migrations: any constant of our own

# (version, name, SQL). Never edit a migration once released: add the next one.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "alert versions and current alerts", """
        CREATE TABLE alert_versions (
            alert_id    text        NOT NULL,
            version     integer     NOT NULL,
            zone_id     text        NOT NULL,
            priority    smallint    NOT NULL,
            category    text        NOT NULL,
            status      text        NOT NULL,
            opened_at   timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            change      text        NOT NULL,
            changed_by  text        NOT NULL,
            source_kind text        NOT NULL,
            source_id   text        NOT NULL,
            disposition text,
            body        jsonb       NOT NULL,
            PRIMARY KEY (alert_id, version)
        );
        -- the operators' report: versions that record an operator's action
        CREATE INDEX alert_versions_actions ON alert_versions (alert_id) INCLUDE (changed_by, change)
            WHERE change IN ('acknowledged', 'dispatched', 'resolved', 'step');

        -- one row per alert: its latest version (its body is that version's), and when it was first
        -- acknowledged, dispatched, resolved
        CREATE TABLE alerts (
            alert_id    text        PRIMARY KEY,
            version     integer     NOT NULL,
            zone_id     text        NOT NULL,
            priority    smallint    NOT NULL,
            category    text        NOT NULL,
            status      text        NOT NULL,
            opened_at   timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            source_kind text        NOT NULL,
            source_id   text        NOT NULL,
            disposition text,
            ack_at      timestamptz,
            ack_by      text,
            dispatch_at timestamptz,
            resolve_at  timestamptz,
            -- the reports' times, in seconds from opening
            ack_s       float8 GENERATED ALWAYS AS (extract(epoch FROM ack_at - opened_at)::float8) STORED,
            dispatch_s  float8 GENERATED ALWAYS AS (extract(epoch FROM dispatch_at - opened_at)::float8) STORED,
            resolve_s   float8 GENERATED ALWAYS AS (extract(epoch FROM resolve_at - opened_at)::float8) STORED
        );
        -- every report selects a period of opened_at (optionally one zone) and reads only these columns
        CREATE INDEX alerts_opened ON alerts (opened_at)
            INCLUDE (zone_id, priority, category, status, disposition, ack_s, dispatch_s, resolve_s, ack_by,
                     source_kind, source_id);
        CREATE INDEX alerts_zone_opened ON alerts (zone_id, opened_at);
    """),
    (2, "the location of each current alert", """
        -- the latest version's location (NULL without one), so the commission's maps read only `alerts`
        ALTER TABLE alerts ADD COLUMN lat float8, ADD COLUMN lon float8;
        UPDATE alerts a SET lat = (v.body #>> '{location,lat}')::float8, lon = (v.body #>> '{location,lon}')::float8
        FROM alert_versions v
        WHERE v.alert_id = a.alert_id AND v.version = a.version AND jsonb_typeof(v.body->'location') = 'object';
    """),
    (3, "an index for each grouping of the reports", """
        -- each report groups a period by priority, zone, operator: an index in that order gives every group's
        -- rows presorted, and the columns the report reads
        CREATE INDEX alerts_priority_opened ON alerts (priority, opened_at)
            INCLUDE (zone_id, category, status, disposition, ack_s, dispatch_s, resolve_s);
        DROP INDEX alerts_zone_opened;
        CREATE INDEX alerts_zone_opened ON alerts (zone_id, opened_at) INCLUDE (ack_s);
        CREATE INDEX alerts_acker_opened ON alerts (ack_by, opened_at) INCLUDE (ack_s);
        -- the operators' actions by their alert's opened_at, which every version carries: no join
        DROP INDEX alert_versions_actions;
        CREATE INDEX alert_versions_actions ON alert_versions (opened_at) INCLUDE (changed_by, change)
            WHERE change IN ('acknowledged', 'dispatched', 'resolved', 'step');
    """),
)


def _pending_sql(applied: set[int]) -> list[tuple[int, str, str]]:
    return [m for m in MIGRATIONS if m[0] not in applied]


CREATE_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""


def migrate(connection: psycopg.Connection) -> list[int]:
    """Apply what is missing; returns the versions applied now."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        connection.execute(CREATE_LEDGER)
        applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
        pending = _pending_sql(applied)
        for version, name, sql in pending:
            connection.execute(sql.encode())
            connection.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
    return [m[0] for m in pending]


async def migrate_async(connection: psycopg.AsyncConnection) -> list[int]:
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await connection.execute(CREATE_LEDGER)
        applied = {row[0] for row in await (await connection.execute("SELECT version FROM schema_migrations")).fetchall()}
        pending = _pending_sql(applied)
        for version, name, sql in pending:
            await connection.execute(sql.encode())
            await connection.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
    return [m[0] for m in pending]


async def migrate_store(url: str, connect_timeout_s: int) -> list[int]:
    """`migrate_async` over a connection of its own, which fails at once where the server is down."""
    async with await psycopg.AsyncConnection.connect(url, connect_timeout=connect_timeout_s) as connection:
        return await migrate_async(connection)
