"""OneTrack-M output heads and their decoding (arXiv 2502.04478, §3.3-3.4).

Per frame of the window and per stride-8 cell the heads predict:

* ``heatmap`` [1]: logit of "an object centre is here" (CenterNet-style
  Gaussian targets, focal loss);
* ``dims`` [4]: box dimensions as ``log(w / stride), log(h / stride)`` and the
  sub-cell centre offset ``(ox, oy)`` in [0, 1] (sigmoid);
* ``disp`` [2]: displacement of the object centre *to the previous frame* in
  input pixels, ``max_disp_px * tanh(raw)`` (the paper's tanh normalisation);
* ``embed`` [E]: appearance embedding (L2-normalised at decode time) used to
  re-identify lost tracks.

:func:`decode_frame` turns one frame's maps into detections: 3x3 max-pool
peak extraction (the NMS of a centre heatmap), score threshold, top-k.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 8
HEAD_NAMES = ("heatmap", "dims", "disp", "embed")


def _branch(d: int, out: int, bias: float = 0.0) -> nn.Sequential:
    seq = nn.Sequential(nn.Conv2d(d, d // 2, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(d // 2, out, 1))
    nn.init.constant_(seq[-1].bias, bias)
    return seq


class OneTrackHeads(nn.Module):
    """The parallel heads. Input [N, d, H8, W8]; output dict of [N, C, H8, W8]."""

    def __init__(self, dim: int, embed_dim: int, max_disp_px: float) -> None:
        super().__init__()
        self.max_disp_px = float(max_disp_px)
        # prior 0.1 for the focal-loss heatmap (CenterNet init)
        self.heatmap = _branch(dim, 1, bias=-2.19)
        self.dims = _branch(dim, 4)
        self.disp = _branch(dim, 2)
        self.embed = _branch(dim, embed_dim)

    def branch(self, name: str) -> nn.Module:
        if name not in HEAD_NAMES:
            raise KeyError(f"unknown head {name!r}; heads: {HEAD_NAMES}")
        return getattr(self, name)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        dims = self.dims(x)
        return {
            "heatmap": self.heatmap(x),
            "dims": torch.cat([dims[:, :2], torch.sigmoid(dims[:, 2:])], 1),
            "disp": self.max_disp_px * torch.tanh(self.disp(x) / self.max_disp_px),
            "embed": self.embed(x),
        }


@dataclass
class FrameDetections:
    """Decoded detections of one frame, in *model-input* pixels.

    boxes_xyxy: (N, 4) float32; scores: (N,) float32 in [0, 1];
    prev_centers_xy: (N, 2) float32 (centre minus predicted displacement);
    embeddings: (N, E) float32 unit-norm.
    """

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    prev_centers_xy: np.ndarray
    embeddings: np.ndarray


def box_nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.
    boxes_xyxy: (N, 4) float32; scores: (N,)."""
    order = np.argsort(-scores)
    keep = []
    area = np.maximum(boxes_xyxy[:, 2] - boxes_xyxy[:, 0], 0) * np.maximum(boxes_xyxy[:, 3] - boxes_xyxy[:, 1], 0)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.maximum(0, np.minimum(boxes_xyxy[i, 2], boxes_xyxy[rest, 2]) - np.maximum(boxes_xyxy[i, 0], boxes_xyxy[rest, 0]))
        iy = np.maximum(0, np.minimum(boxes_xyxy[i, 3], boxes_xyxy[rest, 3]) - np.maximum(boxes_xyxy[i, 1], boxes_xyxy[rest, 1]))
        inter = ix * iy
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-6)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


@torch.no_grad()
def decode_frame(maps: Dict[str, torch.Tensor], score_threshold: float = 0.3, max_dets: int = 50,
                 nms_iou: float = 0.5) -> FrameDetections:
    """Peak extraction + box NMS + box decoding for ONE frame.

    maps: dict of [C, H8, W8] tensors (one frame of the head output).
    score_threshold: minimum sigmoid peak; lower recalls more objects and
        more false positives.
    max_dets: top-k cap per frame.
    nms_iou: after the 3x3 peak extraction, boxes overlapping a stronger one
        by more than this IoU are dropped (removes duplicate peaks on large
        objects; lower = fewer duplicates, but merges overlapping objects).
        >= 1 disables it.
    """
    heat = torch.sigmoid(maps["heatmap"][0])
    peaks = heat == F.max_pool2d(heat[None, None], 3, stride=1, padding=1)[0, 0]
    scores = torch.where(peaks, heat, torch.zeros_like(heat)).flatten()
    k = min(max_dets, scores.numel())
    top, idx = scores.topk(k)
    keep = top >= score_threshold
    top, idx = top[keep], idx[keep]
    w8 = heat.shape[1]
    ys, xs = (idx // w8), (idx % w8)
    dims = maps["dims"][:, ys, xs]
    cx = (xs.float() + dims[2]) * STRIDE
    cy = (ys.float() + dims[3]) * STRIDE
    bw = torch.exp(dims[0].clamp(-3, 4)) * STRIDE
    bh = torch.exp(dims[1].clamp(-3, 4)) * STRIDE
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    disp = maps["disp"][:, ys, xs]
    prev = torch.stack([cx - disp[0], cy - disp[1]], 1)
    emb = F.normalize(maps["embed"][:, ys, xs].t(), dim=1)
    det = FrameDetections(boxes.numpy().astype(np.float32), top.numpy().astype(np.float32),
                          prev.numpy().astype(np.float32), emb.numpy().astype(np.float32))
    if nms_iou < 1.0 and len(det.scores) > 1:
        k = box_nms(det.boxes_xyxy, det.scores, nms_iou)
        det = FrameDetections(det.boxes_xyxy[k], det.scores[k], det.prev_centers_xy[k], det.embeddings[k])
    return det
