"""Camera snapshots on disk, served only from inside the configured directory."""

from __future__ import annotations

from pathlib import Path


def snapshot_file(directory: Path | None, reference: str | None) -> Path | None:
    """The file an alert's `snapshot` names, or None: URLs, missing files and anything
    outside `directory` (`..`, absolute paths elsewhere, symlinks out) are refused."""
    if directory is None or not reference or "://" in reference or "\x00" in reference:
        return None
    base = directory.resolve()
    candidate = (base / reference).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate
