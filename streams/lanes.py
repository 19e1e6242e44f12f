"""A worker's lanes: each its own process and consumer group (see `streams.app`)."""

from __future__ import annotations

from typing import Literal

Lane = Literal["urgent", "motion", "evaluate"]
LANES: tuple[Lane, ...] = ("urgent", "motion", "evaluate")
