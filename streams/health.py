"""Each lane's progress, kept in Redis where its worker and the center read it cheaply.

Every CHECK_S a lane writes one hash (layout in docs/streams.md):

    centinela:lanes                    set of the lane records' keys
    centinela:lane:<host>:<pid>        hash, expires RECORD_TTL_S after its last write:
        lane        urgent | motion | evaluate
        host, pid   where the lane process runs
        worker      the pid of the worker that supervises it
        since       epoch s: the lane started, or its partitions were last assigned
        applied_at  epoch s: it last handled a batch (0: not yet)
        checked_at  epoch s: this record was written
        waiting     messages waiting in its input partitions, summed
        lag         JSON {"<topic>/<partition>": waiting}
        holding     1 while it waits on purpose (motion under back-pressure), else 0

A lane stalls when input waits and it applies nothing for `health.stall_s`; faust-streaming
has known silent consumer stalls (#175, #640), so the worker checks (`stall_reason`) and
restarts such a lane rather than trust that it never happens.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence

import redis
import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from streams.ports import Consumed

log = logging.getLogger("centinela.health")

LANES_KEY = "centinela:lanes"
LANE_KEY = "centinela:lane:{host}:{pid}"
CHECK_S = 5.0
RECORD_TTL_S = 120
STARTUP_S = 30.0  # a new lane's first record may wait for its group join


class HealthSettings(BaseModel):
    """The `health:` section of the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stall_s: float = Field(30, gt=0, description="a lane with input waiting that applies nothing this long is restarted")


def lane_key(pid: int, host: str | None = None) -> str:
    return LANE_KEY.format(host=host or socket.gethostname(), pid=pid)


class LaneProgress:
    """What one lane has handled, and its record (pure: the caller supplies offsets and time)."""

    def __init__(self, lane: str, now: float) -> None:
        self.lane = lane
        self.since = now
        self.applied_at = 0.0
        self.holding = False
        self.next: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset to handle

    def assigned(self, now: float) -> None:
        self.since = now
        self.next.clear()

    def handled(self, batch: Sequence[Consumed], now: float) -> None:
        for message in batch:
            self.next[(message.topic, message.partition)] = message.offset + 1
        self.applied_at = now

    def record(self, ends: Mapping[tuple[str, int], int], positions: Mapping[tuple[str, int], int | None],
               now: float) -> dict[str, str]:
        """`ends`: each assigned partition's end offset; `positions`: the consumer's, for those not handled yet."""
        lag = {}
        for tp, end in ends.items():
            position = self.next.get(tp, positions.get(tp))
            if position is not None:
                lag[f"{tp[0]}/{tp[1]}"] = max(0, end - position)
        return {
            "lane": self.lane, "host": socket.gethostname(), "pid": str(os.getpid()), "worker": str(os.getppid()),
            "since": f"{self.since:.3f}", "applied_at": f"{self.applied_at:.3f}", "checked_at": f"{now:.3f}",
            "waiting": str(sum(lag.values())), "lag": json.dumps(lag, sort_keys=True),
            "holding": "1" if self.holding else "0",
        }


async def report(client: aioredis.Redis, record: Mapping[str, str]) -> None:
    key = lane_key(int(record["pid"]))
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(record))  # type: ignore[arg-type]  # redis-py types hset's mapping too narrowly
            pipe.expire(key, RECORD_TTL_S)
            pipe.sadd(LANES_KEY, key)
            await pipe.execute()
    except aioredis.RedisError as error:  # the worker then sees no fresh record and judges by that
        log.warning("could not record the lane's progress: %s", error)


def stall_reason(record: Mapping[str, str], started_at: float, now: float, stall_s: float) -> str | None:
    """Why a lane (started at `started_at`, its record as read) is stalled, or None if it is not."""
    if not record:
        if now - started_at > stall_s + STARTUP_S:
            return f"has written no progress record in {now - started_at:.0f} s"
        return None
    silent = now - float(record["checked_at"])
    # A report is due every CHECK_S and waits for the consumer's thread (a fetch the broker holds): judge
    # silence only past a full period beyond stall_s.
    if silent > stall_s + CHECK_S:
        return f"has not reported its progress for {silent:.0f} s"
    waiting = int(record["waiting"])
    if waiting and record.get("holding") != "1":
        idle = now - max(float(record["applied_at"]), float(record["since"]), started_at)
        if idle > stall_s:
            return f"has {waiting} messages waiting and applied nothing for {idle:.0f} s"
    return None


class LaneWatch:
    """The worker's side: reads its lanes' records, at most every CHECK_S each."""

    def __init__(self, redis_url: str, stall_s: float) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, decode_responses=True)
        self.stall_s = stall_s
        self.checked: dict[int, float] = {}

    def stalled(self, pid: int, started_at: float) -> str | None:
        now = time.time()
        if now - self.checked.get(pid, 0.0) < CHECK_S:
            return None
        self.checked[pid] = now
        try:
            record: dict[str, str] = self.client.hgetall(lane_key(pid))  # type: ignore[assignment]  # redis-py types the reply as a union
        except redis.RedisError:  # without Redis nothing can be judged; the lanes wait for it too
            return None
        return stall_reason(record, started_at, now, self.stall_s)
