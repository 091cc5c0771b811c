"""Turn decoded sensor streams into aligned :class:`SensorFrame` objects.

This is what the tracker node calls (numpy only). The node decodes each
message (``core.imageconv`` / ``core.events``) and hands the arrays to a
:class:`FrameAssembler`; ``pop()`` returns the frames that are ready:

1. :class:`~vl_tracking_ros.core.sync.MultiStreamSynchronizer` pairs every
   RGB frame with the nearest depth / thermal / event sample within the slop
   and never waits for a silent stream;
2. each modality is warped into the RGB pixel grid by its
   :class:`~vl_tracking_ros.core.align.Alignment` (configured homography;
   a modality at another resolution is resized to RGB's): depth with
   nearest-neighbour, thermal and events bilinear;
3. raw events in the window ending at the RGB stamp are accumulated into the
   configured representation (``core.events.accumulate_events``); event
   images are mapped onto the same channel layout.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .align import Alignment, AlignmentError
from .events import EVENT_REPRESENTATIONS, accumulate_events, representation_channels
from .sync import MultiStreamSynchronizer
from .types import X_MODALITIES, CameraIntrinsics, EventBatch, SensorFrame

__all__ = ["AssemblerError", "AssemblerConfig", "FrameAssembler", "event_image_to_representation"]


class AssemblerError(ValueError):
    """Bad input to the assembler (wrong array shape / dtype, a disabled
    modality) or an invalid configuration."""


@dataclass
class AssemblerConfig:
    """How frames are assembled (validated on construction).

    modalities: enabled non-RGB streams, a subset of ("depth", "thermal",
        "event"); frames report the others as absent.
    slop_ns: largest RGB-to-sample stamp difference accepted as a match
        (larger tolerates more skew but pairs frames further apart in time).
    silence_timeout_ns: a stream silent this long is no longer waited for.
    max_wait_ns: how long a frame waits for late streams (default slop_ns);
        larger tolerates slow cameras at the cost of latency.
    event_window_us: raw events accumulated per frame, microseconds (longer
        shows slower motion, blurs fast motion).
    event_representation: 'histogram' (2 ch, the models' default),
        'time_surface' (2 ch) or 'voxel' (``event_bins`` ch).
    event_bins: voxel time bins (more = finer timing, sparser bins).
    homographies: modality -> (3, 3) homography mapping that modality's
        pixels onto the RGB image (None / absent = identity + resize).
    max_queue: bound of every synchroniser queue.
    wall_clock_release: also release a frame after ``max_wait_ns`` of wall
        time (live use); disable for deterministic offline replays.
    """

    modalities: Tuple[str, ...] = X_MODALITIES
    slop_ns: int = 50_000_000
    silence_timeout_ns: int = 1_000_000_000
    max_wait_ns: Optional[int] = None
    event_window_us: int = 33_000
    event_representation: str = "histogram"
    event_bins: int = 5
    homographies: Dict[str, Any] = field(default_factory=dict)
    max_queue: int = 30
    wall_clock_release: bool = True

    def __post_init__(self) -> None:
        self.modalities = tuple(self.modalities)
        unknown = [m for m in self.modalities if m not in X_MODALITIES]
        if unknown or len(set(self.modalities)) != len(self.modalities):
            raise AssemblerError(f"modalities must be distinct names from {X_MODALITIES}, got {self.modalities}")
        for name in ("slop_ns", "silence_timeout_ns", "event_window_us", "max_queue", "event_bins"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise AssemblerError(f"{name} must be a positive integer, got {value!r}")
        if self.max_wait_ns is not None and (int(self.max_wait_ns) < 0):
            raise AssemblerError(f"max_wait_ns must be >= 0, got {self.max_wait_ns!r}")
        if self.event_representation not in EVENT_REPRESENTATIONS:
            raise AssemblerError(f"event_representation must be one of {EVENT_REPRESENTATIONS}, "
                                 f"got {self.event_representation!r}")
        homographies = dict(self.homographies or {})
        for key in homographies:
            if key not in X_MODALITIES:
                raise AssemblerError(f"homography given for unknown modality {key!r}; expected {X_MODALITIES}")
        try:
            self._alignments = {m: Alignment(homographies.get(m)) for m in X_MODALITIES}
        except AlignmentError as exc:
            raise AssemblerError(f"bad homography: {exc}") from exc
        self.homographies = homographies

    @classmethod
    def from_ms(cls, enabled: Sequence[str] = X_MODALITIES, slop_ms: float = 50.0,
                silence_timeout_ms: float = 1000.0, event_window_ms: float = 33.0,
                event_representation: str = "histogram", homographies: Optional[Mapping[str, Any]] = None,
                **kwargs: Any) -> "AssemblerConfig":
        """Build from millisecond values (as configured by people)."""
        for name, v in (("slop_ms", slop_ms), ("silence_timeout_ms", silence_timeout_ms),
                        ("event_window_ms", event_window_ms)):
            if not np.isfinite(v) or v <= 0:
                raise AssemblerError(f"{name} must be positive, got {v!r}")
        return cls(modalities=tuple(enabled), slop_ns=int(round(slop_ms * 1e6)),
                   silence_timeout_ns=int(round(silence_timeout_ms * 1e6)),
                   event_window_us=int(round(event_window_ms * 1e3)), event_representation=event_representation,
                   homographies=dict(homographies or {}), **kwargs)

    @property
    def enabled(self) -> Tuple[str, ...]:
        return self.modalities

    def alignment(self, modality: str) -> Alignment:
        return self._alignments[modality]


def event_image_to_representation(image: np.ndarray, channels: int) -> np.ndarray:
    """Map an event *image* ((h, w) or (h, w, C) counts) onto ``channels``
    float32 channels in [0, 1]: values are normalised by their 99th
    percentile of non-zero entries; a one-channel image (no polarity) fills
    every channel; extra channels are dropped, missing ones stay zero."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    img = np.nan_to_num(np.abs(img), nan=0.0, posinf=0.0, neginf=0.0)
    nz = img[img > 0]
    if nz.size:
        img = np.clip(img / max(float(np.percentile(nz, 99)), 1e-6), 0.0, 1.0)
    out = np.zeros(img.shape[:2] + (channels,), np.float32)
    if img.shape[2] == 1:
        out[...] = img
    else:
        k = min(channels, img.shape[2])
        out[..., :k] = img[..., :k]
    return out


class FrameAssembler:
    """Synchronise, align and accumulate decoded streams into SensorFrames.

    Feed it with ``add_rgb`` / ``add_depth`` / ``add_thermal`` /
    ``add_events`` / ``add_event_image`` (any order, any thread as long as
    calls are serialised by the caller) and collect frames with ``pop()``.
    """

    def __init__(self, config: Optional[AssemblerConfig] = None, wall_clock=None):
        self.config = cfg = config or AssemblerConfig()
        if wall_clock is None and cfg.wall_clock_release:
            wall_clock = time.monotonic_ns
        self.sync = MultiStreamSynchronizer(
            optional_streams=cfg.modalities, slop_ns=cfg.slop_ns, silence_timeout_ns=cfg.silence_timeout_ns,
            max_queue=cfg.max_queue, event_window_ns=cfg.event_window_us * 1000, max_wait_ns=cfg.max_wait_ns,
            wall_clock=wall_clock if cfg.wall_clock_release else None)
        self.camera: Optional[CameraIntrinsics] = None
        self.frames_out = 0
        self._channels = representation_channels(cfg.event_representation, cfg.event_bins)
        self._align_ms: Dict[str, float] = {}
        self._last_shapes: Dict[str, Tuple[int, ...]] = {}
        self._alignments: Dict[str, Alignment] = {m: cfg.alignment(m) for m in X_MODALITIES}

    # ------------------------------------------------------------ inputs
    def _enabled(self, modality: str) -> None:
        if modality not in self.config.modalities:
            raise AssemblerError(f"{modality} is not an enabled modality (enabled: "
                                 f"{', '.join(self.config.modalities) or 'none'})")

    def add_rgb(self, stamp_ns: int, image_rgb: np.ndarray, frame_id: str = "") -> bool:
        """image_rgb: (H, W, 3) uint8. Returns False when the stamp was a
        duplicate / out of order (counted, frame dropped)."""
        img = np.asarray(image_rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or img.shape[0] == 0 or img.shape[1] == 0:
            raise AssemblerError(f"image_rgb must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
        self._last_shapes["rgb"] = img.shape
        return self.sync.add_rgb(stamp_ns, (img, frame_id))

    def add_depth(self, stamp_ns: int, depth_m: np.ndarray) -> bool:
        """depth_m: (h, w) float metres, NaN invalid; any size (resized /
        warped to RGB)."""
        self._enabled("depth")
        d = np.asarray(depth_m)
        if d.ndim != 2 or not np.issubdtype(d.dtype, np.floating) or d.size == 0:
            raise AssemblerError(f"depth_m must be (h, w) float metres, got shape {d.shape} dtype {d.dtype}")
        self._last_shapes["depth"] = d.shape
        return self.sync.add("depth", stamp_ns, d.astype(np.float32, copy=False))

    def add_thermal(self, stamp_ns: int, thermal_k: np.ndarray) -> bool:
        """thermal_k: (h, w) float Kelvin; any size."""
        self._enabled("thermal")
        t = np.asarray(thermal_k)
        if t.ndim != 2 or not np.issubdtype(t.dtype, np.floating) or t.size == 0:
            raise AssemblerError(f"thermal_k must be (h, w) float Kelvin, got shape {t.shape} dtype {t.dtype}")
        self._last_shapes["thermal"] = t.shape
        return self.sync.add("thermal", stamp_ns, t.astype(np.float32, copy=False))

    def add_events(self, batch: EventBatch, stamp_ns: Optional[int] = None) -> bool:
        """Raw events (absolute ``t_us`` on the RGB clock)."""
        self._enabled("event")
        if not isinstance(batch, EventBatch):
            raise AssemblerError(f"add_events takes an EventBatch, got {type(batch).__name__}")
        self._last_shapes["event"] = (batch.height, batch.width)
        return self.sync.add_events(batch, stamp_ns=stamp_ns, stream="event")

    def add_event_image(self, stamp_ns: int, image: np.ndarray) -> bool:
        """An event frame rendered by the camera driver: (h, w) or (h, w, C)
        counts; mapped onto the configured representation's channels."""
        self._enabled("event")
        img = np.asarray(image)
        if img.ndim not in (2, 3) or img.size == 0 or not np.issubdtype(img.dtype, np.number):
            raise AssemblerError(f"event image must be (h, w) or (h, w, C) numbers, got shape {img.shape} "
                                 f"dtype {img.dtype}")
        self._last_shapes["event"] = img.shape
        return self.sync.add("event", stamp_ns, img)

    def set_camera(self, camera: Optional[CameraIntrinsics]) -> None:
        """Intrinsics of the RGB camera (attached to every later frame)."""
        if camera is not None and not isinstance(camera, CameraIntrinsics):
            raise AssemblerError(f"set_camera takes CameraIntrinsics, got {type(camera).__name__}")
        self.camera = camera

    # ------------------------------------------------------------ output
    def _timed_align(self, modality: str, image: np.ndarray, out_hw: Tuple[int, int], interpolation: str):
        t0 = time.perf_counter()
        align = self._alignments[modality]
        if align.out_hw != out_hw:
            align = align.with_output(out_hw)
            self._alignments[modality] = align
        out = align.apply(image, interpolation=interpolation)
        self._align_ms[modality] = (time.perf_counter() - t0) * 1e3
        return out

    def _event_frame(self, payload: Any, stamp_ns: int, out_hw: Tuple[int, int]) -> np.ndarray:
        cfg = self.config
        if isinstance(payload, EventBatch):
            if cfg.homographies.get("event") is None and payload.height >= out_hw[0] and payload.width >= out_hw[1]:
                # same size or downscaling: accumulate straight into the RGB
                # grid (coordinates scaled, so counts are summed, none skipped)
                return accumulate_events(payload, out_hw[0], out_hw[1], cfg.event_representation,
                                         bins=cfg.event_bins, window_us=cfg.event_window_us,
                                         t_end_us=stamp_ns // 1000)
            # upscaling or a homography: accumulate natively, then warp bilinearly
            native = accumulate_events(payload, payload.height, payload.width, cfg.event_representation,
                                       bins=cfg.event_bins, window_us=cfg.event_window_us,
                                       t_end_us=stamp_ns // 1000)
            return self._timed_align("event", native, out_hw, "linear").astype(np.float32)
        img = event_image_to_representation(payload, self._channels)
        return self._timed_align("event", img, out_hw, "linear").astype(np.float32)

    def pop(self, now_ns: Optional[int] = None) -> List[SensorFrame]:
        """Frames whose matches are final, oldest first (see
        ``MultiStreamSynchronizer.pop_ready`` for ``now_ns``)."""
        return [self._build(s) for s in self.sync.pop_ready(now_ns)]

    def flush(self) -> List[SensorFrame]:
        """Every pending frame now, with whatever matched (end of stream)."""
        return [self._build(s) for s in self.sync.flush()]

    def _build(self, sample) -> SensorFrame:
        image_rgb, frame_id = sample.rgb
        out_hw = (int(image_rgb.shape[0]), int(image_rgb.shape[1]))
        frame = SensorFrame(image_rgb=image_rgb, stamp_ns=sample.stamp_ns, camera=self.camera,
                            frame_index=self.frames_out, frame_id=frame_id)
        streams = sample.streams
        if "depth" in streams:
            frame.depth_m = self._timed_align("depth", streams["depth"], out_hw, "nearest")
        if "thermal" in streams:
            frame.thermal_k = self._timed_align("thermal", streams["thermal"], out_hw, "linear")
        if "event" in streams:
            t0 = time.perf_counter()
            frame.event_frame = self._event_frame(streams["event"], sample.stamp_ns, out_hw)
            self._align_ms["event_total"] = (time.perf_counter() - t0) * 1e3
        self.frames_out += 1
        return frame

    def diagnostics(self) -> Dict[str, Any]:
        """Flat key -> scalar health values: ``frames_out``, ``pending``,
        per stream ``<name>.rate_hz / last_stamp_ns / silent / received /
        matched / missing / duplicate / out_of_order / overflow ...``,
        ``<name>.shape`` of the last input and ``<name>.align_ms``."""
        out: Dict[str, Any] = {"frames_out": self.frames_out, "pending": self.sync.pending,
                               "camera_info": self.camera is not None}
        for name, entry in self.sync.status().items():
            for key, value in entry.items():
                out[f"{name}.{key}"] = value
        for name, shape in self._last_shapes.items():
            out[f"{name}.shape"] = "x".join(str(int(v)) for v in shape)
        for name, ms in self._align_ms.items():
            out[f"{name}.align_ms"] = round(ms, 3)
        return out
