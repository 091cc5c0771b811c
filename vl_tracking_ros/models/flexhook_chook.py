"""FlexHook C-Hook: neighbouring grid sampling and conditioning enhancement.

FlexHook (arXiv 2503.07516, "Method: C-Hook") replaces the two-stage
referring trackers' crop re-encoding by *sampling* target features straight
from the backbone's multi-scale maps:

(a) **Neighbouring grid sampling** (:func:`neighbour_grid`,
    :func:`sample_points`): for each tracklet box in each frame a K x K grid is
    laid over the box enlarged by ``margin`` (the "neighbourhood", so the
    target's immediate context is included) and features are read with
    bilinear ``grid_sample`` -- no crop, no second backbone pass.
(b) **Conditioning enhancement** (:class:`ConditioningEnhancement`): a small
    transformer decoder turns the expression's token features into M
    reference points (M learnable queries, cross-attention to the language,
    MLP, sigmoid). The points live in the unit square of each tracklet's
    neighbourhood; features sampled there are the language-conditioned
    features. A softplus barrier loss :func:`reference_barrier_loss` (L_r)
    keeps the points off the borders of the unit square.

Coordinates: boxes are normalised image coordinates in [0, 1] (x / width,
y / height), xyxy. A normalised point u maps to ``grid_sample`` coordinate
``2u - 1`` with ``align_corners=False`` (pixel i of a map of width Wm has its
centre at u = (i + 0.5) / Wm).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def expand_boxes(boxes_norm: torch.Tensor, margin: float) -> torch.Tensor:
    """Enlarge xyxy boxes around their centre: each side grows by ``margin``
    times the box size. boxes_norm: [..., 4] -> [..., 4]."""
    c = (boxes_norm[..., :2] + boxes_norm[..., 2:]) * 0.5
    half = (boxes_norm[..., 2:] - boxes_norm[..., :2]).clamp(min=1e-4) * (0.5 + margin)
    return torch.cat([c - half, c + half], -1)


def unit_to_box(points_unit: torch.Tensor, boxes_norm: torch.Tensor) -> torch.Tensor:
    """Map points in a box's unit square to image coordinates.
    points_unit: [..., P, 2]; boxes_norm: [..., 4] (broadcast) -> [..., P, 2]."""
    lo = boxes_norm[..., None, :2]
    size = boxes_norm[..., None, 2:] - lo
    return lo + points_unit * size


def grid_unit_points(k: int, device=None) -> torch.Tensor:
    """[k*k, 2] cell centres of a k x k grid in the unit square, row-major (y, then x)."""
    r = (torch.arange(k, dtype=torch.float32, device=device) + 0.5) / k
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)


def neighbour_grid(boxes_norm: torch.Tensor, k: int, margin: float) -> torch.Tensor:
    """K x K sampling grid over each enlarged box. boxes_norm [..., 4] ->
    points [..., k*k, 2] in normalised image coordinates."""
    return unit_to_box(grid_unit_points(k, boxes_norm.device), expand_boxes(boxes_norm, margin))


def sample_points(feature_map: torch.Tensor, points_norm: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of per-frame maps at normalised points.

    feature_map: [T, C, H, W] float32; points_norm: [T, P, 2] (x, y) in [0, 1]
    (outside the image reads zeros). Returns [T, P, C].
    """
    grid = (points_norm * 2.0 - 1.0)[:, :, None, :]  # [T, P, 1, 2]
    out = F.grid_sample(feature_map, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[..., 0].transpose(1, 2)


class ConditioningEnhancement(nn.Module):
    """Language -> M reference points (FlexHook C-Hook (b)).

    M learnable queries pass one transformer-decoder layer whose
    cross-attention reads the expression's token features; an MLP and a
    sigmoid give (u, v) in the tracklet neighbourhood's unit square.
    Input lang [E, L, d], lang_valid [E, L] bool; output [E, M, 2].
    """

    def __init__(self, dim: int, num_points: int = 10, heads: int = 4) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_points, dim) * 0.02)
        self.decoder = nn.TransformerDecoderLayer(dim, heads, dim * 2, 0.0, activation="gelu",
                                                  batch_first=True, norm_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 2))
        # start spread over the square instead of all at the centre
        with torch.no_grad():
            self.mlp[-1].bias.zero_()

    def forward(self, lang: torch.Tensor, lang_valid: torch.Tensor) -> torch.Tensor:
        e = lang.shape[0]
        q = self.queries[None].expand(e, -1, -1)
        h = self.decoder(q, lang, memory_key_padding_mask=~lang_valid)
        return torch.sigmoid(self.mlp(h) + _spread_logits(q.shape[1], q.device)[None])


def _spread_logits(m: int, device) -> torch.Tensor:
    """Fixed logit offsets putting the M initial points on a ring (radius 0.3
    around the centre) so they do not start collapsed."""
    ang = torch.arange(m, dtype=torch.float32, device=device) * (2 * torch.pi / max(m, 1))
    p = torch.stack([0.5 + 0.3 * torch.cos(ang), 0.5 + 0.3 * torch.sin(ang)], 1)
    return torch.log(p / (1 - p))


def reference_barrier_loss(points_unit: torch.Tensor, margin: float = 0.05, sharpness: float = 20.0) -> torch.Tensor:
    """L_r: softplus barrier keeping reference points inside [margin, 1-margin].

    ``mean(softplus(s * (margin - p)) + softplus(s * (p - 1 + margin))) / s``:
    ~0 well inside the square, growing linearly (slope 1) past the margin.
    ``sharpness`` trades how hard the wall is against gradient smoothness.
    """
    s = sharpness
    return (F.softplus(s * (margin - points_unit)) + F.softplus(s * (points_unit - 1.0 + margin))).mean() / s
