"""Muting: configured silences, run-time silences and inhibitions behind one small interface.

A mute holds back a signal that would raise or update an alert; the engine asks every
mute of the zone the same question and records what held the signal back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Signal:
    """The labels muting looks at, of a signal or of an unresolved alert."""

    zone_id: str
    category: str
    source_id: str
    priority: int


class Mute(Protocol):
    @property
    def holder(self) -> str:
        """Who holds signals back, as recorded: "silence:<id>" or "inhibition:<id>"."""
        ...

    def holds(self, signal: Signal, t: float, unresolved: Sequence[Signal]) -> bool:
        """Whether this mute holds `signal` back at `t`, given the zone's unresolved alerts."""
        ...


def held_by(mutes: Iterable[Mute], signal: Signal, t: float, unresolved: Sequence[Signal]) -> str | None:
    """The first mute that holds the signal back, or None."""
    return next((mute.holder for mute in mutes if mute.holds(signal, t, unresolved)), None)
