"""The detector on synthetic frames: masks, regions, boxes, settings; the CDnet scorer."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from detectors.detector import MotionDetector
from vocabulary.motion import MotionSettings


def scene(square_at: tuple[int, int] | None = None) -> np.ndarray:
    """A textured 640x480 scene (deterministic), with a bright 60x60 square when asked."""
    frame = np.random.default_rng(1).integers(60, 120, (480, 640, 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(frame, (9, 9), 0)
    if square_at:
        x, y = square_at
        frame[y : y + 60, x : x + 60] = 230
    return frame


def settled(detector: MotionDetector) -> MotionDetector:
    for _ in range(detector.settings.relearn_frames + 3):
        assert not detector.detect(scene()).moving
    return detector


def test_a_square_is_found_where_it_is_with_its_region() -> None:
    detector = settled(MotionDetector(regions={"left": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]],
                                               "right": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}))
    detection = detector.detect(scene((100, 200)))
    assert len(detection.boxes) == 1
    x, y, w, h = detection.boxes[0]
    assert x == pytest.approx(100 / 640, abs=0.02) and y == pytest.approx(200 / 480, abs=0.02)
    assert w == pytest.approx(60 / 640, abs=0.02) and h == pytest.approx(60 / 480, abs=0.02)
    assert detection.regions == ["left"]
    assert detection.area_pct == pytest.approx(100 * 3600 / (640 * 480), rel=0.4)  # the blur widens edges by a few pixels


def test_motion_inside_a_mask_is_never_reported() -> None:
    detector = settled(MotionDetector(masks=[[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]]))
    assert not detector.detect(scene((100, 200))).moving
    assert detector.detect(scene((450, 200))).moving


def test_a_speck_below_the_minimum_area_is_ignored() -> None:
    detector = settled(MotionDetector())
    frame = scene()
    frame[200:204, 300:304] = 255
    assert not detector.detect(frame).moving


@pytest.mark.parametrize("model", ["mog2", "knn"])
def test_the_opencv_background_models_are_selectable(model: str) -> None:
    detector = settled(MotionDetector(MotionSettings(background=model)))
    for _ in range(20):
        detector.detect(scene())
    assert detector.detect(scene((300, 200))).moving


def test_a_grey_frame_works_like_a_colour_one() -> None:
    detector = MotionDetector()
    for _ in range(12):
        detector.detect(cv2.cvtColor(scene(), cv2.COLOR_BGR2GRAY))
    assert detector.detect(cv2.cvtColor(scene((300, 200)), cv2.COLOR_BGR2GRAY)).moving


def test_settings_reject_unknown_and_bad_fields() -> None:
    with pytest.raises(ValidationError):
        MotionSettings.model_validate({"treshold": 10})
    with pytest.raises(ValidationError):
        MotionSettings(blur_size=4)
    with pytest.raises(ValidationError):
        MotionSettings(start_frames=4, start_window=2)


def test_settings_import_without_opencv() -> None:
    code = "import sys; import vocabulary.motion; assert 'cv2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
