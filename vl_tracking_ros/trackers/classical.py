"""Classical, not language-aware baseline: OpenCV's MIL tracker.

It cannot read a command, so the evaluator initialises it from ground truth:
after every command the runner calls :meth:`MilTracker.initialize` with the
first ground-truth box of each referent (the standard one-pass-evaluation
protocol of OTB/LaSOT). From then on it follows what it was given with OpenCV's
Multiple Instance Learning tracker (Babenko et al., CVPR 2009), one
``cv2.TrackerMIL`` per referent. Its numbers anchor the table: a language
tracker must beat a tracker that was *told* where the target is.

Preset ``mil`` (``build_mil``). cv2 is used here, never in ``core/``.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Sequence

import numpy as np

from ..core.tracker import Tracker
from ..core.types import SensorFrame, TargetQuery, TrackerOutput, TrackResult, TrackState


class MilTracker(Tracker):
    """One ``cv2.TrackerMIL`` per initialised target.

    Works on the RGB image only (the other modalities are ignored). Outputs a
    track per initialised target while OpenCV reports success; a failed update
    drops the target for that frame and keeps trying on the next ones.
    """

    name = "mil"
    supported_modalities = ("rgb",)
    multi_target = True
    #: the evaluator must call initialize(frame, box_xyxy, target_id) after each command
    needs_initialization = True

    def __init__(self) -> None:
        import cv2  # lazy: building the registry never needs OpenCV

        self._cv2 = cv2
        self._queries: List[TargetQuery] = []
        self._trackers: Dict[int, Any] = {}
        self._fresh: Dict[int, np.ndarray] = {}   # target id -> box given at initialize, not yet stepped

    def set_commands(self, queries: Sequence[TargetQuery]) -> None:
        """Store the queries and forget every target (MIL cannot read them;
        targets come from :meth:`initialize`)."""
        self._queries = list(queries)
        self._trackers = {}
        self._fresh = {}

    def initialize(self, frame: SensorFrame, box_xyxy: np.ndarray, target_id: int = 0) -> None:
        """Start following ``box_xyxy`` ((4,) float xyxy px in ``frame.image_rgb``) as ``target_id``."""
        box = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
        x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
        w = max(1, int(np.ceil(box[2])) - x0)
        h = max(1, int(np.ceil(box[3])) - y0)
        tracker = self._cv2.TrackerMIL_create()
        tracker.init(self._bgr(frame), (x0, y0, w, h))
        self._trackers[int(target_id)] = tracker
        self._fresh[int(target_id)] = box.astype(np.float32)

    def _bgr(self, frame: SensorFrame) -> np.ndarray:
        return np.ascontiguousarray(frame.image_rgb[:, :, ::-1])

    def step(self, frame: SensorFrame) -> TrackerOutput:
        t0 = time.perf_counter()
        tracks: List[TrackResult] = []
        if self._trackers:
            image_bgr = self._bgr(frame)
            command = str(self._queries[0]) if self._queries else ""
            for target_id, tracker in self._trackers.items():
                if target_id in self._fresh:  # the initialisation frame: report the given box
                    box = self._fresh.pop(target_id)
                    ok = True
                else:
                    ok, (x, y, w, h) = tracker.update(image_bgr)
                    box = np.array([x, y, x + w, y + h], dtype=np.float32)
                if ok:
                    tracks.append(TrackResult(track_id=target_id, box_xyxy=box, confidence=1.0,
                                              state=TrackState.TRACKING, command=command, label="mil"))
        mode = "idle" if not self._queries else ("multi" if any(q.multi for q in self._queries) else "single")
        return TrackerOutput(tracks=tracks, mode=mode, search="local" if tracks else "global",
                             timings_ms={"mil": 1e3 * (time.perf_counter() - t0)})

    def close(self) -> None:
        self._trackers = {}


def build_mil(**options: Any) -> MilTracker:
    """Factory of the ``mil`` preset. Accepts and ignores the common options
    (``device``, ``modalities``, ``backend``, ...): MIL runs on the CPU on RGB."""
    return MilTracker()
