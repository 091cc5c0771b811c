"""FlexHook temporal integration (arXiv 2503.07516, "Temporal Integration").

Per tracklet and per scale, the grid-sampled target features of the T frames
are concatenated, for each of the K*K grid points, with the inter-frame
displacements of that grid point (explicit, optical-flow-like motion) and its
position in the latest frame, then compressed by an MLP into one trajectory
token per grid point. Motion expressions ("moving left") become answerable
because the displacement of every grid point is an input.
"""
from __future__ import annotations

import torch
from torch import nn


class TemporalIntegration(nn.Module):
    """feats [N, T, P, C] + grid points [N, T, P, 2] -> tokens [N, P, d].

    channels: C of the sampled map; frames: T; reduce: per-frame feature width
    before concatenation (smaller = cheaper MLP, less appearance detail);
    motion_scale: multiplier on normalised displacements so a few-pixel motion
    is O(1) for the MLP.
    """

    def __init__(self, channels: int, frames: int, dim: int, reduce: int = 32, motion_scale: float = 20.0) -> None:
        super().__init__()
        self.frames = frames
        self.motion_scale = motion_scale
        self.reduce = nn.Linear(channels, reduce)
        in_dim = frames * reduce + (frames - 1) * 2 + 2
        self.mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, feats: torch.Tensor, points_norm: torch.Tensor) -> torch.Tensor:
        n, t, p, _ = feats.shape
        if t != self.frames:
            raise ValueError(f"temporal integration built for T={self.frames} frames, got {t}")
        f = self.reduce(feats).permute(0, 2, 1, 3).reshape(n, p, -1)        # [N, P, T*r]
        disp = (points_norm[:, 1:] - points_norm[:, :-1]) * self.motion_scale  # [N, T-1, P, 2]
        disp = disp.permute(0, 2, 1, 3).reshape(n, p, -1)
        pos = points_norm[:, -1] * 2.0 - 1.0                                   # [N, P, 2]
        return self.norm(self.mlp(torch.cat([f, disp, pos], -1)))
