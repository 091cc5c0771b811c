"""Box utilities and box -> 3D point back-projection (numpy only).

Boxes are ``xyxy`` float pixels (x right, y down, max exclusive) in the RGB
image; arrays of boxes are ``(N, 4)``. 3D points are in the camera optical
frame (REP 103: x right, y down, z forward), metres.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from .types import CameraIntrinsics

__all__ = [
    "as_boxes_xyxy",
    "clip_box",
    "clip_boxes",
    "box_center",
    "box_area",
    "boxes_area",
    "boxes_iou",
    "box_iou",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
    "cxcywh_to_xyxy",
    "xyxy_to_cxcywh",
    "scale_boxes",
    "held_box_history",
    "box_to_point_m",
    "pixel_to_point_m",
]


def as_boxes_xyxy(boxes) -> np.ndarray:
    """Any (4,) or (N, 4) array-like -> (N, 4) float32; raises ValueError
    for a wrong shape or non-finite values."""
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        if arr.size == 0:
            return np.zeros((0, 4), np.float32)
        raise ValueError(f"boxes must be (N, 4) xyxy, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("boxes contain non-finite values")
    return arr


def clip_box(box_xyxy, width: int, height: int) -> np.ndarray:
    """(4,) box clipped to the image ``[0, width] x [0, height]`` -> (4,) float32."""
    b = np.asarray(box_xyxy, dtype=np.float32).reshape(4).copy()
    b[[0, 2]] = np.clip(b[[0, 2]], 0, width)
    b[[1, 3]] = np.clip(b[[1, 3]], 0, height)
    return b


def clip_boxes(boxes_xyxy, width: int, height: int) -> np.ndarray:
    """(N, 4) boxes clipped to the image -> (N, 4) float32."""
    b = as_boxes_xyxy(boxes_xyxy).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def box_center(box_xyxy) -> np.ndarray:
    """(4,) -> (2,) float32 centre (x, y); (N, 4) -> (N, 2)."""
    b = np.asarray(box_xyxy, dtype=np.float32)
    return np.stack([(b[..., 0] + b[..., 2]) * 0.5, (b[..., 1] + b[..., 3]) * 0.5], axis=-1)


def boxes_area(boxes_xyxy) -> np.ndarray:
    """(N, 4) -> (N,) float32 areas (0 for degenerate boxes)."""
    b = as_boxes_xyxy(boxes_xyxy)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_area(box_xyxy) -> float:
    """Area of one (4,) box in square pixels."""
    return float(boxes_area(box_xyxy)[0])


def boxes_iou(a_xyxy, b_xyxy) -> np.ndarray:
    """Pairwise IoU: (N, 4), (M, 4) -> (N, M) float32 in [0, 1] (0 where
    both boxes are empty)."""
    a = as_boxes_xyxy(a_xyxy)
    b = as_boxes_xyxy(b_xyxy)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]), np.float32)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = boxes_area(a)[:, None] + boxes_area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(np.float32)


def box_iou(a_xyxy, b_xyxy) -> float:
    """IoU of two (4,) boxes."""
    return float(boxes_iou(a_xyxy, b_xyxy)[0, 0])


def xywh_to_xyxy(boxes_xywh) -> np.ndarray:
    """(…, 4) x, y, w, h -> (…, 4) float32 xyxy."""
    b = np.asarray(boxes_xywh, dtype=np.float32)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:4]], axis=-1)


def xyxy_to_xywh(boxes_xyxy) -> np.ndarray:
    """(…, 4) xyxy -> (…, 4) float32 x, y, w, h."""
    b = np.asarray(boxes_xyxy, dtype=np.float32)
    return np.concatenate([b[..., :2], b[..., 2:4] - b[..., :2]], axis=-1)


def cxcywh_to_xyxy(boxes_cxcywh) -> np.ndarray:
    """(…, 4) centre x, centre y, w, h -> (…, 4) float32 xyxy."""
    b = np.asarray(boxes_cxcywh, dtype=np.float32)
    half = b[..., 2:4] * 0.5
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def xyxy_to_cxcywh(boxes_xyxy) -> np.ndarray:
    """(…, 4) xyxy -> (…, 4) float32 centre x, centre y, w, h."""
    b = np.asarray(boxes_xyxy, dtype=np.float32)
    return np.concatenate([(b[..., :2] + b[..., 2:4]) * 0.5, b[..., 2:4] - b[..., :2]], axis=-1)


def scale_boxes(boxes_xyxy, sx: float, sy: float) -> np.ndarray:
    """Boxes from one image size to another: x * sx, y * sy -> float32."""
    b = np.asarray(boxes_xyxy, dtype=np.float32).copy()
    b[..., [0, 2]] *= sx
    b[..., [1, 3]] *= sy
    return b


def held_box_history(box_at: Callable[[int], Optional[np.ndarray]], frame_ids: Sequence[int],
                     newest_box) -> np.ndarray:
    """(len(frame_ids), 4) float32 boxes of one object at ``frame_ids``
    (oldest first; any box format). ``box_at(frame)`` is its box there or
    None; a frame without one holds the box of the nearest LATER frame in
    ``frame_ids`` that has one, and ``newest_box`` where no later frame has
    one (so before the object appeared: its first box in the window).

    The one gap-filling rule of FlexHook's track history, shared by training
    (``train.rmot_train``) and the tracker (``trackers.referring_tracker``).
    """
    out = np.zeros((len(frame_ids), 4), np.float32)
    last = newest_box
    for k in range(len(frame_ids) - 1, -1, -1):
        b = box_at(frame_ids[k])
        if b is not None:
            last = b
        out[k] = last
    return out


def pixel_to_point_m(u: float, v: float, z_m: float, camera: CameraIntrinsics) -> np.ndarray:
    """Back-project pixel (u, v) at depth z (metres) -> (3,) float32 point
    in the camera optical frame. (u, v) are pixel-index coordinates (pixel
    i's centre is at i, as for CameraInfo's K)."""
    x = (u - camera.cx) * z_m / camera.fx
    y = (v - camera.cy) * z_m / camera.fy
    return np.array([x, y, z_m], dtype=np.float32)


def box_to_point_m(box_xyxy, depth_m: np.ndarray, camera: CameraIntrinsics, core_fraction: float = 0.5,
                   min_valid: int = 5) -> Optional[np.ndarray]:
    """3D point of a box's centre from a depth map, robust to holes.

    box_xyxy: (4,) pixels in the RGB image. depth_m: (H, W) float metres,
    NaN / <= 0 invalid, in the RGB pixel grid. camera: RGB intrinsics (if
    its width/height differ from the depth map, the principal point and
    focal lengths are scaled to the depth map's size).

    The depth is the median of the valid pixels in the central
    ``core_fraction`` of the box (by width and height): a smaller core avoids
    background pixels at the box border but sees fewer pixels. Returns None
    when fewer than ``min_valid`` valid pixels remain (higher is more robust
    to speckle, lower answers for smaller / holier boxes) or the box misses
    the image. The returned (3,) float32 point is the back-projected box
    centre at that depth.
    """
    if not 0.0 < core_fraction <= 1.0:
        raise ValueError(f"core_fraction must be in (0, 1], got {core_fraction}")
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise ValueError(f"depth_m must be (H, W), got shape {depth.shape}")
    h, w = depth.shape
    b = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
    if not np.all(np.isfinite(b)):
        return None
    cam = camera
    if camera.width and camera.height and (camera.width, camera.height) != (w, h):
        sx, sy = w / camera.width, h / camera.height
        cam = CameraIntrinsics(camera.fx * sx, camera.fy * sy, (camera.cx + 0.5) * sx - 0.5,
                               (camera.cy + 0.5) * sy - 0.5, w, h, camera.frame_id)
        b = b * np.array([sx, sy, sx, sy])
    # box edges are continuous coordinates (pixel i spans [i, i + 1)); the
    # intrinsics put pixel i's centre at i, hence the -0.5 when back-projecting
    cx, cy = (b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5
    half_w = max((b[2] - b[0]) * core_fraction * 0.5, 0.5)
    half_h = max((b[3] - b[1]) * core_fraction * 0.5, 0.5)
    x0, x1 = int(np.floor(cx - half_w)), int(np.ceil(cx + half_w))
    y0, y1 = int(np.floor(cy - half_h)), int(np.ceil(cy + half_h))
    x0, x1 = max(x0, 0), min(x1, w)
    y0, y1 = max(y0, 0), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    patch = depth[y0:y1, x0:x1].astype(np.float64)
    valid = patch[np.isfinite(patch) & (patch > 0)]
    if valid.size < max(int(min_valid), 1):
        return None
    z = float(np.median(valid))
    return pixel_to_point_m(cx - 0.5, cy - 0.5, z, cam)
