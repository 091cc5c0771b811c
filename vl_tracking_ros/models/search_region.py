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


#: the motion input is at 1/MOTION_DOWNSAMPLE of the crop resolution
MOTION_DOWNSAMPLE = 2


def gray_u8(image_rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 luminance (what the motion input stores)."""
    return cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)


def crop_gray_u8(gray: np.ndarray, region: SearchRegion) -> np.ndarray:
    """(H, W) uint8 image gray -> (out_h/2, out_w/2) uint8 crop of ``region``
    at 1/MOTION_DOWNSAMPLE resolution (mid-grey outside the image)."""
    q = MOTION_DOWNSAMPLE
    h, w = region.out_hw[0] // q, region.out_hw[1] // q
    return cv2.warpAffine(gray, region.affine(q), (w, h), flags=cv2.INTER_AREA if region.sx < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_VALUE_RGB)


def motion_images(now_u8: np.ndarray, prev_u8: Optional[np.ndarray],
                  valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Network ``motion_images`` input from same-region gray crops.

    now_u8, prev_u8: (..., h, w) uint8 crops of frames t and t-g (prev None:
    no earlier frame yet); valid: (...) bool, per image whether its prev is
    real (None: all of them when prev is given). Returns (..., 3, h, w)
    float32 [gray_t, gray_{t-g}, valid] with gray in [-1, 1]; where there is
    no previous frame gray_{t-g} = gray_t (no apparent motion) and valid = 0.
    """
    now = now_u8.astype(np.float32) * (2.0 / 255.0) - 1.0
    if prev_u8 is None:
        return np.stack([now, now, np.zeros_like(now)], axis=-3)
    prev = prev_u8.astype(np.float32) * (2.0 / 255.0) - 1.0
    v = np.ones_like(now) if valid is None else np.broadcast_to(
        np.asarray(valid, np.float32)[..., None, None], now.shape)
    return np.stack([now, np.where(v > 0, prev, now), v], axis=-3).astype(np.float32)


def region_box_norm(region: SearchRegion, image_hw: Tuple[int, int]) -> np.ndarray:
    """(4,) float32 [x0, y0, x1, y1]: the search region's extent in
    normalised full-image coordinates (0..1 inside the image; a padded ROI
    may extend beyond). The network's ``region_box`` input."""
    h, w = image_hw
    x1 = region.x0 + region.out_hw[1] / region.sx
    y1 = region.y0 + region.out_hw[0] / region.sy
    return np.array([region.x0 / w, region.y0 / h, x1 / w, y1 / h], np.float32)


def search_inputs(region: SearchRegion, image_rgb: np.ndarray, x_downsample: int, depth_m=None, thermal_k=None,
                  event_frame=None, motion: bool = False, gray_now: Optional[np.ndarray] = None,
                  gray_prev: Optional[np.ndarray] = None, abs_position: bool = False) -> dict:
    """Batch-1 numpy inputs of the per-frame network for one search region.

    image_rgb (H, W, 3) uint8; X arrays as :func:`crop_x` takes them (None =
    absent); gray_now / gray_prev (H, W) uint8 full-image luminance of this
    frame and of the frame ``motion_gap`` back (prev None: none yet), used
    when ``motion``; ``abs_position`` adds ``region_box``. Keys: image,
    x_images, x_present (+ motion_images, region_box); text is added by the
    caller.
    """
    from .image_encoder import normalize_image_rgb

    x, present = crop_x(region, x_downsample, depth_m, thermal_k, event_frame)
    out = {"image": normalize_image_rgb(crop_rgb(image_rgb, region))[None], "x_images": x[None],
           "x_present": present[None]}
    if motion:
        now = gray_now if gray_now is not None else gray_u8(image_rgb)
        prev = gray_prev if gray_prev is not None and gray_prev.shape == now.shape else None
        out["motion_images"] = motion_images(crop_gray_u8(now, region),
                                             None if prev is None else crop_gray_u8(prev, region))[None]
    if abs_position:
        out["region_box"] = region_box_norm(region, image_rgb.shape[:2])[None]
    return out
