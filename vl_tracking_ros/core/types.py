"""Shared, validated data types every layer converts into (numpy only).

These are the contract between the ROS glue (``ros/``), the trackers
(``trackers/``), the data generator (``data/``) and the evaluation
(``eval/``). Nothing here imports ROS or torch.

Conventions
-----------
* Images are numpy arrays, row-major ``(H, W[, C])``, in the RGB camera's
  pixel grid after alignment (see ``core.align``).
* Boxes are ``xyxy`` float pixels in the original RGB image: ``x_min, y_min,
  x_max, y_max`` with x to the right and y down.
* Times are integer nanoseconds (``*_ns``) or microseconds (``*_us``).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

#: Modalities a frame can carry besides RGB, in canonical order.
X_MODALITIES = ("depth", "thermal", "event")
ALL_MODALITIES = ("rgb",) + X_MODALITIES


def parse_modality_list(text: Optional[str]) -> Optional[tuple]:
    """A command-line modality list, e.g. ``"rgb, thermal"`` -> ``("rgb", "thermal")``.

    Names are stripped and empty entries dropped, in the given order; no
    check of the names here (the tracker that receives them says which it
    supports). ``None`` or ``""`` gives ``None``, meaning "the preset's own
    choice".
    """
    if not text:
        return None
    return tuple(m.strip() for m in text.split(",") if m.strip())


@dataclass(frozen=True)
class TargetQuery:
    """One thing the user asked to track (parsed from a command).

    expression: the referring expression without the verb, e.g. "the red car".
    multi: True for "track all ..." (every matching object, referring MOT),
        False for "track ..." (the single best match, single-target tracking).
    """

    expression: str
    multi: bool = False

    def __str__(self) -> str:
        return ("track all " if self.multi else "track ") + self.expression


class TrackState(enum.IntEnum):
    """Matches the constants of ``msg/Track.msg``."""

    TRACKING = 0          # locked on; next frame searches a compact ROI
    SEARCHING_LOCAL = 1   # unsure; still searching the local ROI
    RELOCALIZING = 2      # lost; searching the whole image
    LOST = 3              # not found for a while; box is the last known one


@dataclass
class CameraIntrinsics:
    """Pinhole intrinsics of the RGB camera (from sensor_msgs/CameraInfo).

    fx, fy, cx, cy in pixels; width, height in pixels; frame_id names the
    camera optical frame (REP 103: x right, y down, z forward).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    frame_id: str = "camera_optical_frame"

    def k_matrix(self) -> np.ndarray:
        """(3, 3) float64 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass
class EventBatch:
    """Raw events in one window. Parallel 1-D arrays of equal length N.

    x_px, y_px: (N,) uint16 pixel coordinates in the event sensor grid.
    t_us: (N,) int64 microseconds, absolute (same clock as frame stamps / 1e3).
    polarity: (N,) uint8, 1 = brightness increase, 0 = decrease.
    width, height: sensor size in pixels.
    """

    x_px: np.ndarray
    y_px: np.ndarray
    t_us: np.ndarray
    polarity: np.ndarray
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.x_px.shape[0])


@dataclass
class SensorFrame:
    """One synchronized multi-modal sample, everything aligned to RGB.

    image_rgb: (H, W, 3) uint8 RGB.
    depth_m: (H, W) float32 metres, NaN where invalid; or None.
    thermal_k: (H, W) float32 Kelvin; or None.
    event_frame: (H, W, C) float32 event representation (see
        ``core.events``), already accumulated; or None.
    camera: intrinsics of the RGB camera, or None if no CameraInfo yet.
    stamp_ns: sensor time of the RGB image, integer nanoseconds.
    frame_index: running index within a stream (for logs / evaluation).
    """

    image_rgb: np.ndarray
    stamp_ns: int = 0
    depth_m: Optional[np.ndarray] = None
    thermal_k: Optional[np.ndarray] = None
    event_frame: Optional[np.ndarray] = None
    camera: Optional[CameraIntrinsics] = None
    frame_index: int = 0
    frame_id: str = ""

    @property
    def height(self) -> int:
        return int(self.image_rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.image_rgb.shape[1])

    def available_modalities(self) -> List[str]:
        """Names of the modalities present in this frame, RGB first."""
        out = ["rgb"]
        if self.depth_m is not None:
            out.append("depth")
        if self.thermal_k is not None:
            out.append("thermal")
        if self.event_frame is not None:
            out.append("event")
        return out


@dataclass
class TrackResult:
    """One tracked target in one frame (maps 1:1 onto ``msg/Track.msg``).

    box_xyxy: (4,) float32 pixels in the original RGB image.
    confidence: [0, 1].
    kappa: MVLM fused confidence in [-1, 1] (0.0 when the model has none).
    command: the expression this track answers.
    expression_score: [0, 1] match of the track to the expression.
    position_m: (3,) float32 camera-frame metres, or None without depth.
    modality_weights: modality name -> weight (router probabilities), sums to 1.
    """

    track_id: int
    box_xyxy: np.ndarray
    confidence: float
    state: TrackState = TrackState.TRACKING
    command: str = ""
    kappa: float = 0.0
    expression_score: float = 0.0
    label: str = ""
    position_m: Optional[np.ndarray] = None
    modality_weights: Dict[str, float] = field(default_factory=dict)
    age: int = 0


@dataclass
class TrackerOutput:
    """What a tracker returns for one frame.

    tracks: the targets (empty when idle or nothing found).
    mode: "idle", "single" or "multi".
    search: "local" or "global" -- where the next frame will be searched.
    timings_ms: per-stage latencies (preprocess, network, postprocess, gating).
    """

    tracks: List[TrackResult] = field(default_factory=list)
    mode: str = "idle"
    search: str = "global"
    timings_ms: Dict[str, float] = field(default_factory=dict)


def as_box_xyxy(values: Sequence[float]) -> np.ndarray:
    """Validate and return a (4,) float32 xyxy box; raises ValueError if malformed."""
    arr = np.asarray(values, dtype=np.float32).reshape(-1)
    if arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"box must be 4 finite numbers xyxy, got {values!r}")
    if arr[2] < arr[0] or arr[3] < arr[1]:
        raise ValueError(f"box must satisfy x_max >= x_min and y_max >= y_min, got {arr.tolist()}")
    return arr
