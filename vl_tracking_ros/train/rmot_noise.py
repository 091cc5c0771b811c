"""Tracking-noise perturbations for FlexHook training (arXiv 2503.07516, C-Hook).

FlexHook trains on ground-truth tracklets but runs on a tracker's output.
Three perturbations make training tracklets look like tracker output:

* :func:`segment_masking` -- a random contiguous segment of a tracklet is
  missing (a missed detection / short loss); the tracker then holds the last
  known box, so we do the same;
* :func:`gaussian_box_noise` -- box jitter proportional to box size;
* :func:`intra_batch_id_swap` -- two tracklets exchange their early history
  (an identity switch); the label stays with the current (last-frame) object.

All take boxes ``[N, T, 4]`` float32 normalised xyxy (numpy) and an rng and
return a new array.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class NoiseConfig:
    """Perturbation strengths.

    mask_prob: per-tracklet probability of a masked segment.
    box_sigma: std of box-corner noise in units of box width/height.
    swap_prob: per-sample probability of one ID swap.
    """

    mask_prob: float = 0.3
    box_sigma: float = 0.05
    swap_prob: float = 0.2

    @classmethod
    def off(cls) -> "NoiseConfig":
        return cls(0.0, 0.0, 0.0)


def segment_masking(boxes: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    out = boxes.copy()
    n, t, _ = boxes.shape
    for i in range(n):
        if t < 2 or rng.random() >= prob:
            continue
        a = int(rng.integers(0, t - 1))              # never mask the current frame
        b = int(rng.integers(a + 1, t))
        hold = out[i, a - 1] if a > 0 else out[i, b]
        out[i, a:b] = hold
    return out


def gaussian_box_noise(boxes: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    if sigma <= 0:
        return boxes.copy()
    wh = np.concatenate([boxes[..., 2:] - boxes[..., :2]] * 2, -1).clip(min=1e-3)
    out = boxes + rng.normal(0.0, sigma, boxes.shape).astype(np.float32) * wh
    lo = np.minimum(out[..., :2], out[..., 2:])
    hi = np.maximum(out[..., :2], out[..., 2:])
    return np.concatenate([lo, hi], -1).astype(np.float32)


def intra_batch_id_swap(boxes: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    out = boxes.copy()
    n, t, _ = boxes.shape
    if n < 2 or t < 2 or rng.random() >= prob:
        return out
    i, j = rng.choice(n, 2, replace=False)
    cut = int(rng.integers(1, max(t // 2, 1) + 1))
    out[i, :cut], out[j, :cut] = boxes[j, :cut], boxes[i, :cut]
    return out


def perturb(boxes: np.ndarray, cfg: NoiseConfig, rng: np.random.Generator) -> np.ndarray:
    """All three perturbations in order (masking, ID swap, jitter)."""
    out = segment_masking(boxes, cfg.mask_prob, rng)
    out = intra_batch_id_swap(out, cfg.swap_prob, rng)
    return gaussian_box_noise(out, cfg.box_sigma, rng)
