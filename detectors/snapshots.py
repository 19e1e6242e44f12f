"""Snapshots: a JPEG of the frame with the motion boxes drawn, for operators to verify an alert."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detectors.detector import Box

BOX_COLOUR = (0, 0, 255)  # red in OpenCV's BGR


def write_snapshot(path: str | Path, frame: np.ndarray, boxes: list[Box], quality: int = 85) -> Path:
    """Write `frame` with `boxes` (frame-relative) drawn to `path`, creating its folder."""
    height, width = frame.shape[:2]
    image = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
    thickness = max(1, round(height / 360))
    for x, y, w, h in boxes:
        top_left = (round(x * width), round(y * height))
        bottom_right = (round((x + w) * width) - 1, round((y + h) * height) - 1)
        cv2.rectangle(image, top_left, bottom_right, BOX_COLOUR, thickness)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"cannot encode a JPEG for {target}")
    target.write_bytes(data.tobytes())
    return target
