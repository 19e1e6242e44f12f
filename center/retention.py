"""Resolved alerts leave Redis `retention.resolved_days` after they were resolved (contract section 10)."""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from center.views import AlertViews

log = logging.getLogger("centinela.center.retention")


class RetentionSettings(BaseModel):
    """The `retention:` section of the configuration."""

    model_config = ConfigDict(extra="forbid")
    resolved_days: float = Field(30.0, gt=0, description="days a resolved alert and its history stay in Redis")
    sweep_s: float = Field(300.0, gt=0, description="how often the expired ones are removed")

    @property
    def resolved_s(self) -> float:
        return self.resolved_days * 86400


async def sweep_forever(views: AlertViews, every_s: float) -> None:
    while True:
        try:
            removed = await views.sweep()
            if removed:
                log.info("removed %d alerts resolved more than %.0f days ago", removed, views.retention_s / 86400)
        except RedisError as error:
            log.warning("retention sweep skipped: %s", type(error).__name__)
        await asyncio.sleep(every_s)
