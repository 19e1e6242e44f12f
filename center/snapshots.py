"""Camera snapshots on disk: an alert's snapshot is served only from its own cameras' folders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

JPEG_SUFFIXES = (".jpg", ".jpeg")


def snapshot_file(directory: Path | None, reference: str | None, cameras: Iterable[str]) -> Path | None:
    """The JPEG an alert's `snapshot` names, or None.

    Only a .jpg or .jpeg file inside `directory/<camera id>/` of one of the alert's own
    cameras (where the detectors write them) is served: URLs, missing files, other cameras'
    folders and anything outside (`..`, absolute paths elsewhere, symlinks out) are refused.
    """
    if directory is None or not reference or "://" in reference or "\x00" in reference:
        return None
    base = directory.resolve()
    candidate = (base / reference).resolve()
    if candidate.suffix.lower() not in JPEG_SUFFIXES or not candidate.is_file():
        return None
    for camera in cameras:
        folder = (base / camera).resolve()
        if folder != base and folder.is_relative_to(base) and candidate.is_relative_to(folder):
            return candidate
    return None
