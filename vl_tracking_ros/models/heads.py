"""Prediction heads on the fused search-image tokens.

* :class:`CenterHead` -- MVLM/OSTrack three-branch head: centre heatmap
  (classification) logits, sub-cell offset and box size per token cell.
  The [OBJ] token (COST) adds an object-query term <W obj, v_x>/sqrt(d) to
  the heatmap logits.
* :class:`CorrelationHead` -- MVLM Eq. (1) ingredients: unit-normalised
  visual tokens v_x and the unit-normalised pooled text embedding u_t (mean
  of the refined text tokens); the map <v_x, u_t> in [-1, 1] per cell. The
  region average over a candidate box rho(b) = 1/|R(b)| sum_{x in R(b)}
  <v_x, u_t> is taken in post-processing (:mod:`.candidates`).
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

#: initial heatmap bias: sigmoid(-2.19) = 0.1 (CenterNet focal-loss prior)
HEATMAP_BIAS_INIT = -2.19


class CenterHead(nn.Module):
    """tokens (B, N, d) on an h x w grid -> dict of
    ``heatmap_logits`` (B, 1, h, w), ``offset`` (B, 2, h, w) in [0, 1] cells
    (x, y), ``size`` (B, 2, h, w) in [0, 1] of the crop (w/W, h/H)."""

    def __init__(self, d_model: int, hidden: int = 96, use_obj: bool = True):
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(d_model, hidden, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU())
        self.cls = nn.Conv2d(hidden, 1, 1)
        self.offset = nn.Conv2d(hidden, 2, 1)
        self.size = nn.Conv2d(hidden, 2, 1)
        nn.init.constant_(self.cls.bias, HEATMAP_BIAS_INIT)
        self.use_obj = use_obj
        self.obj_proj = nn.Linear(d_model, d_model) if use_obj else None
        self.scale = 1.0 / math.sqrt(d_model)

    def forward(self, tokens: torch.Tensor, grid_hw, obj: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        b, n, d = tokens.shape
        h, w = grid_hw
        grid = tokens.transpose(1, 2).reshape(b, d, h, w)
        feat = self.trunk(grid)
        logits = self.cls(feat)
        if self.use_obj and obj is not None:
            q = self.obj_proj(obj)  # (B, d)
            logits = logits + (torch.einsum("bd,bnd->bn", q, tokens) * self.scale).reshape(b, 1, h, w)
        return {
            "heatmap_logits": logits,
            "offset": torch.sigmoid(self.offset(feat)),
            "size": torch.sigmoid(self.size(feat)),
        }


class CorrelationHead(nn.Module):
    """Vision-language correlation map (MVLM "VL correlation").

    forward(img_tokens (B, N, d), text_tokens (B, L, d), text_mask (B, L))
    -> (corr (B, h, w) in [-1, 1], v (B, N, d) unit, u (B, d) unit).
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.vis = nn.Linear(d_model, d_model)
        self.txt = nn.Linear(d_model, d_model)

    def forward(self, img_tokens: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor, grid_hw):
        m = text_mask.to(text_tokens.dtype).unsqueeze(-1)
        pooled = (text_tokens * m).sum(1) / m.sum(1).clamp_min(1.0)
        u = F.normalize(self.txt(pooled), dim=-1)
        v = F.normalize(self.vis(img_tokens), dim=-1)
        corr = torch.einsum("bnd,bd->bn", v, u).reshape(-1, grid_hw[0], grid_hw[1])
        return corr, v, u
