"""Candidate boxes from the head outputs + region-average VL correlation
(numpy post-processing outside the exported network).

MVLM Eq. (1): rho(b) = 1/|R(b)| * sum_{x in R(b)} <v_x, u_t>, with R(b) the
token cells whose centres fall inside box b (at least the peak cell).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .search_region import SearchRegion


@dataclass
class Candidates:
    """K candidate boxes of one frame, best classification score first.

    boxes_xyxy: (K, 4) float32 image pixels.
    cls_scores: (K,) float32 heatmap probability in [0, 1] at the peak.
    corr_scores: (K,) float32 region-average VL correlation rho(b) in [-1, 1].
    corr_background: float, median correlation of the whole map (the score a
        box would get on plain background).
    corr_scale: float, robust spread (1.4826 * MAD) of the correlation map.
    """

    boxes_xyxy: np.ndarray
    cls_scores: np.ndarray
    corr_scores: np.ndarray
    corr_background: float = 0.0
    corr_scale: float = 0.0

    def __len__(self) -> int:
        return int(self.cls_scores.shape[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def local_peaks(score: np.ndarray, top_n: int) -> np.ndarray:
    """(h, w) scores -> (K, 2) int (row, col) of 3x3 local maxima, best first, K <= top_n."""
    h, w = score.shape
    pad = np.pad(score, 1, mode="constant", constant_values=-np.inf)
    neigh = np.max(np.stack([pad[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]), axis=0)
    is_peak = score >= neigh
    rows, cols = np.nonzero(is_peak)
    order = np.argsort(-score[rows, cols], kind="stable")[:top_n]
    return np.stack([rows[order], cols[order]], axis=1)


def extract_candidates(heatmap_logits: np.ndarray, offset: np.ndarray, size: np.ndarray, corr: np.ndarray,
                       region: SearchRegion, stride: int = 16, top_n: int = 8,
                       min_score: float = 0.01) -> Candidates:
    """Decode one frame's head outputs.

    heatmap_logits: (h, w) or (1, h, w); offset: (2, h, w) cells in [0, 1]
    (x, y); size: (2, h, w) fraction of the crop (w, h); corr: (h, w).
    top_n: candidates kept (more = better runner-up estimates, more work).
    min_score: peaks below this heatmap probability are dropped (the best
        peak is always kept).
    """
    hm = _sigmoid(np.asarray(heatmap_logits, np.float32).reshape(corr.shape))
    peaks = local_peaks(hm, top_n)
    keep = hm[peaks[:, 0], peaks[:, 1]] >= min_score
    keep[0] = True
    peaks = peaks[keep]
    crop_h, crop_w = region.out_hw
    r, c = peaks[:, 0], peaks[:, 1]
    cx = (c + offset[0, r, c]) * stride
    cy = (r + offset[1, r, c]) * stride
    bw = size[0, r, c] * crop_w
    bh = size[1, r, c] * crop_h
    boxes_crop = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    # region-average correlation over token cells inside each box
    gh, gw = corr.shape
    centers_x = (np.arange(gw) + 0.5) * stride
    centers_y = (np.arange(gh) + 0.5) * stride
    rho = np.empty(len(peaks), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes_crop):
        inx = (centers_x >= x1) & (centers_x <= x2)
        iny = (centers_y >= y1) & (centers_y <= y2)
        cells = corr[np.ix_(iny, inx)]
        rho[k] = cells.mean() if cells.size else corr[r[k], c[k]]
    med = float(np.median(corr))
    mad = float(np.median(np.abs(corr - med))) * 1.4826
    return Candidates(region.crop_to_image(boxes_crop), hm[r, c].astype(np.float32), rho, med, mad)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of (N, 4) and (M, 4) xyxy boxes -> (N, M) float32."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
