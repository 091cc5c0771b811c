"""Per-candidate evidence for the candidate ranker (numpy, no torch).

The MVLM network proposes K candidate boxes per frame; on validation the
target is among them in 97.5 % of frames, but the top heatmap score is on it
in only 54 % (the top correlation: 66 %). What separates the referent from
its distractors is often explicit and cheap to measure once the boxes
exist: where it is (``on the left``, ``above the car``), how large it is
relative to the others (``the small ball``), how warm (``the heated crate``:
thermal), which way it moves (``heading left``: the candidate's displacement
against the candidates of the previous frames) and what it looks like (a
small colour + thermal crop). :class:`CandidateFeaturizer` turns one frame's
candidates into

* ``features_f32``: (K, NUM_FEATURES) float32, the columns of
  :data:`FEATURE_NAMES` (geometry normalised by the image size, network
  scores, colour in [0, 1], thermal in ~[-3, 3], depth /10 m, velocity in
  px/frame /10, validity flags 0/1);
* ``crops_f32``: (K, 4, S, S) float32 crops of the box enlarged by
  ``crop_context`` -- R, G, B in [-0.5, 0.5] and thermal normalised like the
  network's input (0 when absent).

It keeps the last ``history`` frames' candidate centres (image pixels) to
estimate each candidate's velocity; ``reset()`` drops them (a new stream,
not a new command: motion belongs to the scene).
"""
from __future__ import annotations

from collections import deque
from typing import Deque, Optional, Tuple

import numpy as np

from .candidates import Candidates
from .search_region import THERMAL_CENTER_K, THERMAL_SCALE_K

FEATURE_NAMES: Tuple[str, ...] = (
    "cx", "cy", "w", "h", "log_area", "area_z",
    "cls", "corr", "corr_z", "d_corr", "d_cls", "kappa",
    "r", "g", "b",
    "thermal", "thermal_valid", "depth", "depth_valid",
    "vx", "vy", "velocity_valid", "motion_energy", "motion_valid",
    "global_search",
)
NUM_FEATURES = len(FEATURE_NAMES)
CROP_CHANNELS = 4


def _inner(box_xyxy: np.ndarray, frac: float, h: int, w: int) -> Tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) of the central ``frac`` of a box, clipped, >= 1 px."""
    x0, y0, x1, y1 = [float(v) for v in box_xyxy]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = max((x1 - x0) * frac / 2, 0.5), max((y1 - y0) * frac / 2, 0.5)
    a = int(np.clip(np.floor(cx - hw), 0, w - 1))
    b = int(np.clip(np.floor(cy - hh), 0, h - 1))
    c = int(np.clip(np.ceil(cx + hw), a + 1, w))
    d = int(np.clip(np.ceil(cy + hh), b + 1, h))
    return a, b, c, d


class CandidateFeaturizer:
    """Stateful per-frame candidate featurizer (see the module docstring).

    crop_size: side S of the crops (pixels of the resampled crop).
    crop_context: crop side = box side * this (some background around it).
    history: frames of candidate centres kept for the velocity estimate.
    """

    def __init__(self, crop_size: int = 16, crop_context: float = 1.25, history: int = 3):
        if crop_size < 4:
            raise ValueError(f"crop_size must be >= 4, got {crop_size}")
        self.crop_size = int(crop_size)
        self.crop_context = float(crop_context)
        self._history: Deque[Tuple[np.ndarray, np.ndarray]] = deque(maxlen=int(history))
        self._hw: Optional[Tuple[int, int]] = None

    def reset(self) -> None:
        """Forget the candidate history (new stream / resolution change)."""
        self._history.clear()
        self._hw = None

    # ----------------------------------------------------------------
    def __call__(self, image_rgb: np.ndarray, cands: Candidates, d_corr: np.ndarray, d_cls: np.ndarray,
                 kappa: np.ndarray, global_search: bool, thermal_k: Optional[np.ndarray] = None,
                 depth_m: Optional[np.ndarray] = None, gray_now: Optional[np.ndarray] = None,
                 gray_prev: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """One frame -> (features_f32 (K, NUM_FEATURES), crops_f32 (K, 4, S, S)).

        image_rgb: (H, W, 3) uint8; cands: K boxes in image pixels;
        d_corr, d_cls, kappa: (K,) MVLM margins / confidence of this frame;
        thermal_k (H, W) Kelvin, depth_m (H, W) metres (NaN invalid), gray
        frames (H, W) uint8 at t and t - gap -- each optional.
        """
        h, w = image_rgb.shape[:2]
        if self._hw != (h, w):
            self._history.clear()
            self._hw = (h, w)
        boxes = np.asarray(cands.boxes_xyxy, np.float64).reshape(-1, 4)
        k = boxes.shape[0]
        feats = np.zeros((k, NUM_FEATURES), np.float32)
        crops = np.zeros((k, CROP_CHANNELS, self.crop_size, self.crop_size), np.float32)
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1) if k else \
            np.zeros((0, 2))
        sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1).clip(1.0) if k else np.zeros((0, 2))
        if k:
            area = sizes[:, 0] * sizes[:, 1] / float(h * w)
            log_area = np.log(area)
            feats[:, 0] = centres[:, 0] / w
            feats[:, 1] = centres[:, 1] / h
            feats[:, 2] = sizes[:, 0] / w
            feats[:, 3] = sizes[:, 1] / h
            feats[:, 4] = log_area / 5.0
            feats[:, 5] = (log_area - log_area.mean()) / (log_area.std() + 0.25) if k > 1 else 0.0
            feats[:, 6] = cands.cls_scores
            feats[:, 7] = cands.corr_scores
            scale = max(float(cands.corr_scale), 0.05)
            feats[:, 8] = np.clip((cands.corr_scores - cands.corr_background) / scale, -5, 5) / 5.0
            feats[:, 9] = d_corr
            feats[:, 10] = d_cls
            feats[:, 11] = kappa
            feats[:, 24] = 1.0 if global_search else 0.0
            diff = None
            if gray_now is not None and gray_prev is not None and gray_prev.shape == gray_now.shape:
                diff = np.abs(gray_now.astype(np.int16) - gray_prev.astype(np.int16))
            for i in range(k):
                a, b, c, d = _inner(boxes[i], 0.5, h, w)
                feats[i, 12:15] = image_rgb[b:d, a:c].reshape(-1, 3).mean(0) / 255.0
                if thermal_k is not None:
                    feats[i, 15] = np.clip((float(np.mean(thermal_k[b:d, a:c])) - THERMAL_CENTER_K)
                                           / THERMAL_SCALE_K, -3, 3)
                    feats[i, 16] = 1.0
                if depth_m is not None:
                    vals = depth_m[b:d, a:c]
                    vals = vals[np.isfinite(vals)]
                    if vals.size:
                        feats[i, 17] = min(float(np.median(vals)), 30.0) / 10.0
                        feats[i, 18] = 1.0
                if diff is not None:
                    a2, b2, c2, d2 = _inner(boxes[i], 1.2, h, w)
                    feats[i, 22] = float(diff[b2:d2, a2:c2].mean()) / 32.0
                    feats[i, 23] = 1.0
                crops[i] = self._crop(image_rgb, thermal_k, boxes[i])
            feats[:, 19:22] = self._velocity(centres, sizes)
        self._history.appendleft((centres.copy(), sizes.copy()))
        return feats, crops

    def _velocity(self, centres: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """(K, 3) [vx/10, vy/10, valid]: mean over the kept previous frames
        of the displacement (px per frame) to the nearest similar-size
        candidate there (within 2 box diagonals, size ratio in [0.5, 2])."""
        k = centres.shape[0]
        acc = np.zeros((k, 2))
        n = np.zeros(k)
        for lag, (pc, ps) in enumerate(self._history, start=1):
            if pc.shape[0] == 0:
                continue
            dist = np.linalg.norm(centres[:, None, :] - pc[None, :, :], axis=2)
            ratio = np.sqrt((sizes[:, None, 0] * sizes[:, None, 1]) / (ps[None, :, 0] * ps[None, :, 1]))
            reach = 2.0 * np.linalg.norm(sizes, axis=1)[:, None] * lag
            ok = (dist <= np.maximum(reach, 8.0)) & (ratio >= 0.5) & (ratio <= 2.0)
            dist = np.where(ok, dist, np.inf)
            j = np.argmin(dist, axis=1)
            hit = np.isfinite(dist[np.arange(k), j])
            acc[hit] += (centres[hit] - pc[j[hit]]) / lag
            n[hit] += 1
        out = np.zeros((k, 3), np.float32)
        m = n > 0
        out[m, :2] = np.clip(acc[m] / n[m, None] / 10.0, -3, 3)
        out[m, 2] = 1.0
        return out

    def _crop(self, image_rgb: np.ndarray, thermal_k: Optional[np.ndarray], box: np.ndarray) -> np.ndarray:
        """(4, S, S) nearest-neighbour crop of the enlarged box (edge pixels
        repeat outside the image)."""
        h, w = image_rgb.shape[:2]
        s = self.crop_size
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        bw, bh = max(box[2] - box[0], 1.0) * self.crop_context, max(box[3] - box[1], 1.0) * self.crop_context
        xs = np.clip(np.floor(cx - bw / 2 + (np.arange(s) + 0.5) * bw / s), 0, w - 1).astype(np.intp)
        ys = np.clip(np.floor(cy - bh / 2 + (np.arange(s) + 0.5) * bh / s), 0, h - 1).astype(np.intp)
        out = np.zeros((CROP_CHANNELS, s, s), np.float32)
        out[:3] = image_rgb[np.ix_(ys, xs)].transpose(2, 0, 1) / 255.0 - 0.5
        if thermal_k is not None:
            out[3] = np.clip((thermal_k[np.ix_(ys, xs)] - THERMAL_CENTER_K) / THERMAL_SCALE_K, -3, 3)
        return out
