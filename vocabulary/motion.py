"""A camera's motion settings (the `motion:` entry of a camera in the configuration).

Importable without OpenCV: the configuration loader validates every camera's `motion`
dict with `MotionSettings` to report errors by file, entry and field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Fraction = Annotated[float, Field(ge=0, le=1)]


class MotionSettings(BaseModel):
    """Every threshold of the motion detector and of its episodes, with its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frame_height: int = Field(240, ge=48, le=1080, description="height of the working copy every frame is scaled to, in pixels")
    blur_size: int = Field(7, ge=1, le=31, description="Gaussian blur kernel (odd, working pixels); smooths sensor noise")
    background: Literal["running_average", "mog2", "knn"] = Field(
        "running_average", description="background model: running average (fast), or OpenCV's MOG2 or KNN"
    )
    learning_rate: Fraction = Field(0.03, description="share of each frame blended into the background where nothing moves")
    foreground_learning_rate: Fraction = Field(
        0.002, description="share blended in where something moves, so a parked object fades in slowly"
    )
    threshold: int = Field(14, ge=1, le=255, description="grey-level difference from the background that counts as change")
    noise_factor: float = Field(
        2.0, ge=0, le=20, description="extra threshold per unit of a pixel's usual flicker (leaves, water, noise)"
    )
    noise_learning_rate: Fraction = Field(0.02, description="how fast each pixel's usual flicker is learnt")
    dark_threshold: int = Field(
        6, ge=1, le=255, description="threshold over a black background: it falls from `threshold` towards this in the dark"
    )
    dark_level: int = Field(
        80, ge=1, le=255, description="brightness (grey) below which the threshold falls towards dark_threshold: the scene's mean, and in a dark scene each pixel's own"
    )
    relight_grid: int = Field(
        8, ge=0, le=40, description="columns of the grid of brightness gains that undo flicker and passing lights (0: one gain)"
    )
    weak_ratio: Fraction = Field(
        0.35, description="share of the threshold a change must pass to be weak evidence of a new object"
    )
    weak_frames: int = Field(
        2, ge=1, le=20, description="frames a weak change, touching no strong one, must persist (each near the last, gaps up to weak_gap) to count as motion"
    )
    fine_level: int = Field(
        40, ge=0, le=255,
        description="scene brightness (the background's mean grey) below which weak change is cleaned by a 2x2 opening, not open_size, keeping a faint walker's thin parts",
    )
    weak_gap: int = Field(
        1, ge=0, le=10, description="frames a weak change may vanish (too faint that frame) without ending its run of weak_frames"
    )
    track_pixels: int = Field(
        6, ge=0, le=40, description="how far a weak change may move between frames (working pixels) and still persist"
    )
    light_sharpness: float = Field(
        0.1, ge=0, le=1,
        description="a blob whose change (frame / background) falls off at its edge by less than this share of its mean size, per pixel, is a pool of light (headlights), not an object (0: off)",
    )
    shake_pixels: int = Field(
        1, ge=0, le=5, description="camera shake tolerated, in working pixels: a pixel must differ from all its neighbours' background"
    )
    open_size: int = Field(3, ge=0, le=15, description="morphological opening kernel; removes specks and thin streaks (rain)")
    close_size: int = Field(9, ge=0, le=31, description="morphological closing kernel; joins the parts of one object")
    min_area: Fraction = Field(0.0015, description="smallest moving blob reported, as a share of the frame")
    global_change: Fraction = Field(
        0.6, description="share of the frame changed at once that means lights, IR switch or exposure: relearn, no motion"
    )
    relit_change: Fraction = Field(
        0.15, description="share of the frame still changed after relighting that, with global_change before it, is a light switch"
    )
    compensate_exposure: bool = Field(
        True, description="scale each frame, block by block (relight_grid), to the background's brightness before comparing"
    )
    relearn_frames: int = Field(8, ge=1, le=500, description="frames of fast learning after start or a global change, reporting nothing")
    relearn_rate: Fraction = Field(0.3, description="learning rate while relearning")

    start_frames: int = Field(2, ge=1, le=100, description="motion frames needed within start_window to start an episode")
    start_window: int = Field(3, ge=1, le=100, description="analysed frames in which start_frames must show motion")
    update_interval_s: float = Field(5.0, gt=0, description="at most one update event per episode this often, in seconds")
    quiet_s: float = Field(4.0, gt=0, description="seconds without motion that end an episode")
    snapshot_quality: int = Field(85, ge=10, le=100, description="JPEG quality of snapshots")

    @field_validator("blur_size")
    @classmethod
    def _odd(cls, size: int) -> int:
        if size % 2 == 0:
            raise ValueError("must be odd")
        return size

    @field_validator("start_window")
    @classmethod
    def _window_holds_start(cls, window: int, info: ValidationInfo) -> int:
        if window < info.data.get("start_frames", 1):
            raise ValueError("must be at least start_frames")
        return window
