"""Search-region geometry and input preprocessing (numpy + OpenCV).

A :class:`SearchRegion` maps image pixels to crop pixels with an axis-aligned
scale + offset: global search resizes the whole image to ``global_size_hw``;
local ROI search crops a square of side ``roi_scale * sqrt(w*h)`` around the
last box (MVLM "compact ROI"), padding outside the image with mid-grey.

X modalities are normalised to roughly [-1, 1] and resampled to 1/q of the
crop resolution (the network's ``x_images`` input):

* depth_m: NaN/invalid -> 0 (and ``valid`` implied by value 0 = "unknown"),
  metres mapped by ``clip(d / DEPTH_RANGE_M, 0, 1) * 2 - 1``;
* thermal_k: ``clip((T - THERMAL_CENTER_K) / THERMAL_SCALE_K, -3, 3)``;
* event_frame (H, W, 2) counts: ``log1p(count)`` per polarity channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .config import X_MODALITY_ORDER

DEPTH_RANGE_M = 20.0
THERMAL_CENTER_K = 300.0
THERMAL_SCALE_K = 15.0
PAD_VALUE_RGB = 127


@dataclass(frozen=True)
class SearchRegion:
    """Crop = (image - (x0, y0)) * (sx, sy); out_hw = (H, W) crop pixels.

    kind: "global" (whole image) or "local" (ROI).
    """

    x0: float
    y0: float
    sx: float
    sy: float
    out_hw: Tuple[int, int]
    kind: str = "global"

    def affine(self, q: int = 1) -> np.ndarray:
        """(2, 3) float64 image->crop affine for a crop downsampled by q."""
        sx, sy = self.sx / q, self.sy / q
        return np.array([[sx, 0.0, -self.x0 * sx], [0.0, sy, -self.y0 * sy]], dtype=np.float64)

    def crop_to_image(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(K, 4) crop-pixel boxes -> (K, 4) image-pixel boxes (float32)."""
        b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        out = np.empty_like(b)
        out[:, 0::2] = b[:, 0::2] / self.sx + self.x0
        out[:, 1::2] = b[:, 1::2] / self.sy + self.y0
        return out.astype(np.float32)

    def image_to_crop(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(K, 4) image-pixel boxes -> (K, 4) crop-pixel boxes (float32)."""
        b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        out = np.empty_like(b)
        out[:, 0::2] = (b[:, 0::2] - self.x0) * self.sx
        out[:, 1::2] = (b[:, 1::2] - self.y0) * self.sy
        return out.astype(np.float32)


def global_region(image_hw: Tuple[int, int], out_hw: Sequence[int]) -> SearchRegion:
    """Whole image resized (anisotropically) to out_hw."""
    h, w = image_hw
    return SearchRegion(0.0, 0.0, out_hw[1] / float(w), out_hw[0] / float(h), (int(out_hw[0]), int(out_hw[1])), "global")


def local_region(box_xyxy: np.ndarray, out_side: int, roi_scale: float, min_side_px: float,
                 max_side_px: Optional[float] = None) -> SearchRegion:
    """Square ROI of side clip(roi_scale * sqrt(w*h), min_side_px, max_side_px)
    centred on box_xyxy (image px), resized to out_side x out_side."""
    x1, y1, x2, y2 = [float(v) for v in box_xyxy]
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
    side = roi_scale * np.sqrt(max(x2 - x1, 1.0) * max(y2 - y1, 1.0))
    side = max(side, min_side_px)
    if max_side_px is not None:
        side = min(side, max_side_px)
    s = out_side / side
    return SearchRegion(cx - side / 2, cy - side / 2, s, s, (int(out_side), int(out_side)), "local")


def crop_rgb(image_rgb: np.ndarray, region: SearchRegion) -> np.ndarray:
    """(H, W, 3) uint8 -> (out_h, out_w, 3) uint8 crop of the region."""
    h, w = region.out_hw
    return cv2.warpAffine(image_rgb, region.affine(), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE_RGB,) * 3)


def normalize_depth(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) float metres (NaN invalid) -> (H, W) float32 in [-1, 1], 0 where invalid."""
    d = np.asarray(depth_m, np.float32)
    valid = np.isfinite(d) & (d > 0)
    out = np.zeros_like(d)
    out[valid] = np.clip(d[valid] / DEPTH_RANGE_M, 0.0, 1.0) * 2.0 - 1.0
    return out


def normalize_thermal(thermal_k: np.ndarray) -> np.ndarray:
    """(H, W) Kelvin -> (H, W) float32 roughly in [-3, 3]."""
    t = np.nan_to_num(np.asarray(thermal_k, np.float32), nan=THERMAL_CENTER_K)
    return np.clip((t - THERMAL_CENTER_K) / THERMAL_SCALE_K, -3.0, 3.0)


def normalize_event(event_frame: np.ndarray) -> np.ndarray:
    """(H, W, C) event histogram -> (H, W, 2) float32 log1p counts (C = 1 is
    duplicated, C > 2 keeps the first two channels)."""
    e = np.asarray(event_frame, np.float32)
    if e.ndim == 2:
        e = e[:, :, None]
    if e.shape[2] == 1:
        e = np.concatenate([e, e], axis=2)
    return np.log1p(np.abs(e[:, :, :2]))


def crop_x(region: SearchRegion, q: int, depth_m=None, thermal_k=None, event_frame=None,
           allowed: Sequence[str] = X_MODALITY_ORDER) -> Tuple[np.ndarray, np.ndarray]:
    """Normalised X crops at 1/q resolution.

    Returns (x_images (4, H/q, W/q) float32 [depth, thermal, event+, event-],
    x_present (3,) float32). Modalities that are None or not in ``allowed``
    stay zero with present = 0.
    """
    h, w = region.out_hw[0] // q, region.out_hw[1] // q
    x = np.zeros((4, h, w), np.float32)
    present = np.zeros(3, np.float32)

    def warp(a: np.ndarray) -> np.ndarray:
        if region.kind == "global" and region.x0 == 0 and region.y0 == 0:
            return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)  # exact box-filter downsampling
        full = cv2.warpAffine(a, region.affine(1), (region.out_hw[1], region.out_hw[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA)

    if depth_m is not None and "depth" in allowed:
        x[0] = warp(normalize_depth(depth_m)); present[0] = 1
    if thermal_k is not None and "thermal" in allowed:
        x[1] = warp(normalize_thermal(thermal_k)); present[1] = 1
    if event_frame is not None and "event" in allowed:
        ev = warp(normalize_event(event_frame))
        x[2], x[3] = ev[:, :, 0], ev[:, :, 1]; present[2] = 1
    return x, present
