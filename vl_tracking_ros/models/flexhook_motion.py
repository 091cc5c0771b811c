"""Long-history motion token for FlexHook (an addition to arXiv 2503.07516).

FlexHook's temporal integration sees motion as the displacement of grid
points between its T sampled frames (4 frames, 2 apart in ``rmot-small``: a
6-frame span). On tracker output, the box jitter of a few pixels per frame
is as large as a slow object's motion over that span (0.8-2.2 px / frame in
the synthetic world), and "turning" or "moving erratically" need more than
six frames to tell apart from a straight path. This module summarises a
longer box history of the tracklet -- H frames, one apart -- into one
trajectory token per tracklet that PCD reads beside the grid tokens (it is
shared by every expression, like the other trajectory tokens).

Input per tracklet: the H boxes (normalised xyxy, oldest first, held where
the tracker had no box). Features per frame, relative to the newest frame:
centre offset (dx, dy) and log size ratio (log w/w_t, log h/h_t), scaled
so that a slow object's offset over the history is O(1); plus the newest
centre and size. An MLP maps the flattened features to a d-vector.
"""
from __future__ import annotations

import torch
from torch import nn


class MotionToken(nn.Module):
    """boxes [N, H, 4] normalised xyxy (oldest first) -> tokens [N, 1, d].

    history: H frames the token summarises (more = steadier velocity estimate
    and visible curvature, slower reaction to a change of motion);
    offset_scale: multiplier on normalised centre offsets (0.05 of the image
    width over the history -> 0.5 at the default 10).
    """

    def __init__(self, history: int, dim: int, offset_scale: float = 10.0) -> None:
        super().__init__()
        if history < 2:
            raise ValueError(f"motion history needs >= 2 frames, got {history}")
        self.history = history
        self.offset_scale = offset_scale
        in_dim = history * 4 + 4
        self.mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU(),
                                 nn.Linear(dim, dim))
        self.norm = nn.LayerNorm(dim)

    @staticmethod
    def features(boxes: torch.Tensor, offset_scale: float) -> torch.Tensor:
        """[N, H, 4] normalised xyxy -> [N, H*4 + 4] motion features (see module doc)."""
        ctr = (boxes[..., :2] + boxes[..., 2:]) * 0.5                      # [N, H, 2]
        wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=1e-3)           # [N, H, 2]
        off = (ctr - ctr[:, -1:]) * offset_scale
        size = torch.log(wh / wh[:, -1:])
        now = torch.cat([ctr[:, -1] * 2 - 1, torch.log(wh[:, -1] * 10)], -1)  # [N, 4]
        return torch.cat([torch.cat([off, size], -1).flatten(1), now], -1)

    def forward(self, boxes: torch.Tensor) -> torch.Tensor:
        # shape checked by the caller (FlexHook.forward -> FlexHookInputError)
        return self.norm(self.mlp(self.features(boxes, self.offset_scale)))[:, None]
