"""The zones' states in a Faust table, keyed by zone id, each saved whole.

The table's changelog topic is the durable copy: a worker assigned a zone's partition,
after a restart or a rebalance, recovers the zone from it before it applies the zone's
next event. The key is the zone id, as on zone.events, so a zone's record lands on the
partition of its events and has the same owner. A zone is one record so that a save is
never half applied: a crash leaves each zone at one save or the next, and the events
after that save, not yet acknowledged, are applied again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from faust.stores import STORES
from faust.stores.rocksdb import Store as RocksDBStore
from faust.stores.rocksdb import rocksdict
from kafka.partitioner.default import murmur2
from pydantic_core import to_json

from alert_rules.engine import RuleEngine, ZoneState

log = logging.getLogger("centinela.evaluate")


def partition_of(zone_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as in Java)."""
    return (murmur2(zone_id.encode()) & 0x7FFFFFFF) % partitions


def table_store(directory: Path | None) -> str:
    """Where the table lives: RocksDB under `directory` when given and rocksdict installs, else memory."""
    return "memory://" if directory is None or rocksdict is None else "zonedb://"


class ZoneDB(RocksDBStore):
    """Faust's RocksDB store, writing each zone to its own partition's database.

    Faust's store writes a key into the database of the partition of the event being
    processed, and asserts there is one; zones are saved after batches and from a timer,
    where there is none. A zone id key's partition is the one Kafka gives it.
    """

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = partition_of(key.decode(), self.table.partitions or 1)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)


STORES.aliases["zonedb"] = f"{__name__}:ZoneDB"


class ChangelogTable(Protocol):
    """What the store needs of a Faust table: its local data, and its changelog."""

    @property
    def data(self) -> MutableMapping[bytes, bytes]: ...

    def send_changelog(self, partition: int | None, key: bytes, value: bytes) -> Awaitable[object]: ...


def dump(state: ZoneState) -> bytes:
    return to_json(state.to_json(), inf_nan_mode="constants")


class ZoneStore:
    """The states of the zones this worker owns: in memory, saved to the table.

    While this worker owns a zone's partition it is the zone's only writer, so the state in
    memory is the truth and the table its copy; `forget()` at every rebalance.
    """

    def __init__(self, table: ChangelogTable, partitions: int) -> None:
        self.table = table
        self.partitions = partitions
        self.states: dict[str, ZoneState] = {}
        self.dirty: set[str] = set()
        self.deadlines: dict[str, float] = {}  # zone -> when its timer is next due (inf: never)

    def forget(self) -> None:
        self.states.clear()
        self.dirty.clear()
        self.deadlines.clear()

    def load(self, zone_id: str) -> ZoneState | None:
        state = self.states.get(zone_id)
        if state is None and (raw := self.table.data.get(zone_id.encode())) is not None:
            try:
                state = self.states[zone_id] = ZoneState.from_json(json.loads(raw))
            except (ValueError, KeyError, TypeError) as error:  # a bug, not input: start the zone afresh, loudly
                log.error("zone %s: its saved state does not load (%s); it starts afresh", zone_id, error)
        return state

    def take(self, engine: RuleEngine) -> Save:
        """The records of the zones changed since the last take, and their next deadlines; nothing is written yet."""
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for zone_id in sorted(self.dirty):
            state = self.states[zone_id]
            by_partition.setdefault(partition_of(zone_id, self.partitions), []).append(
                (zone_id.encode(), dump(state)))
            due = engine.next_deadline(state)
            self.deadlines[zone_id] = due.timestamp() if due else math.inf
        last = [records.pop() for records in by_partition.values()]  # what remains goes first
        first = [record for records in by_partition.values() for record in records]
        save = Save(zones=set(self.dirty), first=first, last=last)
        self.dirty.clear()
        return save

    async def write(self, save: Save) -> None:
        """Write a save and wait until the broker has all of it; each partition's last record alone.

        Tansu reports a partition's end as the first offset of its last batch plus one, and a
        worker recovering the table reads only up to there. This waits for each record's own
        delivery: Faust's producer flush gives up after 0.1 s with messages still in its
        buffer, so after it the records, and the offsets committed behind them, may not be.
        """
        await asyncio.gather(*(self._keep(key, value) for key, value in save.first))
        await asyncio.gather(*(self._keep(key, value) for key, value in save.last))

    def _keep(self, key: bytes, value: bytes) -> Awaitable[object]:
        """What `table[key] = value` does, but with the changelog record's delivery to wait for."""
        self.table.data[key] = value
        return self.table.send_changelog(None, key, value)  # None: by key, the zone's own partition


@dataclass
class Save:
    """Zone records taken at one moment (`ZoneStore.take`), to be written (`ZoneStore.write`)."""

    zones: set[str]
    first: list[tuple[bytes, bytes]]
    last: list[tuple[bytes, bytes]]  # one per partition
