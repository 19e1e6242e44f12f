"""What each history writer leaves in Redis for the center's /healthz, as the stream lanes do:

    centinela:history:writers              set of the writers' record keys
    centinela:history:writer:<host>:<pid>  WriterRecord JSON, expires RECORD_TTL_S after its last write
"""

from __future__ import annotations

from pydantic import BaseModel

from vocabulary import topics

WRITERS = "centinela:history:writers"
WRITER = "centinela:history:writer:{host}:{pid}"
REPORT_EVERY_S = 2.0
RECORD_TTL_S = 60


def writer_group() -> str:
    """The writers' consumer group on `alerts`: they share its partitions."""
    return topics.named("centinela-history")


class WriterRecord(BaseModel):
    host: str
    pid: int
    since: float  # epoch s: the writer started
    checked_at: float  # epoch s: this record was written
    stored_at: float = 0.0  # epoch s: it last committed a batch (0: not yet)
    waiting: int = 0  # messages of `alerts` behind its position, on its partitions
    read: int = 0  # messages read since it started
    stored: int = 0  # versions new to the store since it started
    forged: int = 0  # messages ignored: not authenticated with the internal key, or not an Alert
    problem: str = ""  # why it cannot store right now ("" when it can)
