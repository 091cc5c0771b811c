"""OneTrack-M training targets and losses (arXiv 2502.04478, §3.5).

The paper trains its three heads with focal loss (heatmap) and L1 losses
(dimension and displacement), combined as a weighted sum. We add a
supervised-contrastive term for the appearance-embedding head that the
issue's lost-track re-identification needs (same object across the window's
frames = positive).

Targets are built per window on the stride-8 grid (numpy), and gathered at
the ground-truth centre cells for the regression losses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .onetrack_heads import STRIDE


@dataclass
class WindowTargets:
    """Targets of one training window (numpy).

    heatmap: (W, 1, H8, W8) float32 Gaussian centre maps (peak 1 at centres).
    obj_t, obj_y, obj_x: (M,) int64 frame slot and stride-8 cell of each object.
    dims: (M, 4) float32 (log(w/8), log(h/8), offset_x, offset_y).
    disp: (M, 2) float32 centre displacement to the previous frame, input px.
    disp_valid: (M,) bool -- the object was also present one frame earlier.
    obj_id: (M,) int64 object identity (for the embedding loss).
    """

    heatmap: np.ndarray
    obj_t: np.ndarray
    obj_y: np.ndarray
    obj_x: np.ndarray
    dims: np.ndarray
    disp: np.ndarray
    disp_valid: np.ndarray
    obj_id: np.ndarray


def build_window_targets(frames_boxes: Sequence[Dict[int, np.ndarray]],
                         prev_boxes: Optional[Dict[int, np.ndarray]],
                         out_hw: Tuple[int, int]) -> WindowTargets:
    """frames_boxes[t]: {object_id: (4,) xyxy box in model-input pixels} for the
    W frames of the window; prev_boxes: the frame before the window (or None);
    out_hw: (H8, W8) stride-8 grid size."""
    h8, w8 = out_hw
    wn = len(frames_boxes)
    heat = np.zeros((wn, 1, h8, w8), np.float32)
    ys_grid, xs_grid = np.mgrid[0:h8, 0:w8].astype(np.float32)
    rows: List[tuple] = []
    for t, objs in enumerate(frames_boxes):
        before = prev_boxes if t == 0 else frames_boxes[t - 1]
        for oid, box in objs.items():
            x0, y0, x1, y1 = [float(v) for v in box]
            bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
            cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
            ix, iy = int(np.floor(cx)), int(np.floor(cy))
            if not (0 <= ix < w8 and 0 <= iy < h8):
                continue
            sigma = max(0.7, np.sqrt(bw * bh) / STRIDE / 6.0)
            g = np.exp(-((xs_grid - ix) ** 2 + (ys_grid - iy) ** 2) / (2 * sigma * sigma))
            np.maximum(heat[t, 0], g, out=heat[t, 0])
            heat[t, 0, iy, ix] = 1.0
            d = np.zeros(2, np.float32)
            valid = False
            if before is not None and oid in before:
                pb = before[oid]
                d = np.array([(x0 + x1) / 2 - (pb[0] + pb[2]) / 2, (y0 + y1) / 2 - (pb[1] + pb[3]) / 2], np.float32)
                valid = True
            rows.append((t, iy, ix, np.log(bw / STRIDE), np.log(bh / STRIDE), cx - ix, cy - iy, d[0], d[1], valid, oid))
    if rows:
        arr = list(zip(*rows))
        return WindowTargets(heat, np.array(arr[0], np.int64), np.array(arr[1], np.int64), np.array(arr[2], np.int64),
                             np.stack([np.array(arr[i], np.float32) for i in range(3, 7)], 1),
                             np.stack([np.array(arr[7], np.float32), np.array(arr[8], np.float32)], 1),
                             np.array(arr[9], bool), np.array(arr[10], np.int64))
    z = np.zeros(0, np.int64)
    return WindowTargets(heat, z, z, z, np.zeros((0, 4), np.float32), np.zeros((0, 2), np.float32),
                         np.zeros(0, bool), z)


def collate_targets(targets: Sequence[WindowTargets]) -> Dict[str, torch.Tensor]:
    """Stack per-window targets into batch tensors (objects flattened with a
    batch index ``obj_b``)."""
    out = {"heatmap": torch.from_numpy(np.stack([t.heatmap for t in targets]))}
    cols = {"obj_b": [], "obj_t": [], "obj_y": [], "obj_x": [], "dims": [], "disp": [], "disp_valid": [], "obj_id": []}
    for b, t in enumerate(targets):
        cols["obj_b"].append(np.full(len(t.obj_t), b, np.int64))
        for k in ("obj_t", "obj_y", "obj_x", "dims", "disp", "disp_valid", "obj_id"):
            cols[k].append(getattr(t, k))
    for k, v in cols.items():
        out[k] = torch.from_numpy(np.concatenate(v))
    return out


def centernet_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """Penalty-reduced pixel-wise focal loss (CenterNet), normalised by the
    number of centres. logits/target: same shape, target in [0, 1]."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1.0 - pos
    pos_loss = -(torch.log(p) * (1 - p) ** alpha * pos).sum()
    neg_loss = -(torch.log(1 - p) * p ** alpha * (1 - target) ** beta * neg).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1.0)


def onetrack_losses(out: Dict[str, torch.Tensor], tg: Dict[str, torch.Tensor],
                    embed_temperature: float = 0.1) -> Dict[str, torch.Tensor]:
    """All OneTrack-M losses for a batch.

    out: model output, each [B, W, C, H8, W8]; tg: :func:`collate_targets`.
    Returns {"heatmap", "dims", "disp", "embed"} scalar losses.
    """
    b, t, y, x = tg["obj_b"], tg["obj_t"], tg["obj_y"], tg["obj_x"]
    losses = {"heatmap": centernet_focal_loss(out["heatmap"], tg["heatmap"])}
    zero = out["heatmap"].sum() * 0.0
    if b.numel() == 0:
        losses.update(dims=zero, disp=zero, embed=zero)
        return losses
    dims = out["dims"][b, t, :, y, x]
    losses["dims"] = F.l1_loss(dims, tg["dims"])
    valid = tg["disp_valid"]
    if valid.any():
        disp = out["disp"][b, t, :, y, x][valid]
        losses["disp"] = F.l1_loss(disp / STRIDE, tg["disp"][valid] / STRIDE)
    else:
        losses["disp"] = zero
    emb = F.normalize(out["embed"][b, t, :, y, x], dim=1)
    same_sample = b[:, None] == b[None, :]
    pos = same_sample & (tg["obj_id"][:, None] == tg["obj_id"][None, :])
    eye = torch.eye(len(b), dtype=torch.bool)
    pos = pos & ~eye
    logits = (emb @ emb.t()) / embed_temperature
    logits = logits.masked_fill(~same_sample | eye, -1e4)
    has_pos = pos.any(1)
    if has_pos.any():
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        per_anchor = -(log_prob * pos).sum(1) / pos.sum(1).clamp(min=1)
        losses["embed"] = per_anchor[has_pos].mean()
    else:
        losses["embed"] = zero
    return losses
