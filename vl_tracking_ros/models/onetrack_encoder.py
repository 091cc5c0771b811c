"""OneTrack-M: encoder-only transformer multi-object tracker (arXiv 2502.04478).

Paper mechanisms implemented here (section numbers of the paper):

* §3.1 input: a temporal window of ``W`` frames stacked along channels,
  ``[B, 3*W, H, W]``; every frame is cut into patches and embedded.
* §3.2 **channel-wise temporal encoding**: a learnable vector per frame
  position in the window, ``E_t in R^{W x d}``, added to *that frame's*
  patch tokens (on top of the spatial position embedding), so one encoder
  pass sees ``W * N`` tokens that know both where and when they come from.
* §3.3 **encoder-only** transformer (no decoder, no object queries); its
  output tokens feed three light per-frame heads (see ``onetrack_heads``):
  centre heatmap, box dimensions, displacement to the previous frame.

CPU adaptation (documented in docs/rmot.md): the paper's patch embedding is
the ViT-B/16 linear projection of raw 16x16 patches, pretrained on ImageNet.
We cannot pretrain a ViT on a 2-core CPU, so the patch embedding is the
"hybrid" variant of the ViT paper (§3.1 there): a 1x1 projection of the
shared, frozen, ImageNet-pretrained image backbone's stride-16 map -- each
stride-16 cell *is* one 16x16 patch token. The stride-8 map is fused back in
front of the heads (a one-level FPN) so small objects get a finer heatmap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .onetrack_heads import OneTrackHeads


class OneTrackInputError(ValueError):
    """Malformed input to the OneTrack-M model."""


@dataclass
class OneTrackConfig:
    """Size of the OneTrack-M model.

    window: frames per temporal window W (paper default 5). Larger gives the
        encoder more temporal context for displacement at W-times the tokens
        (attention cost grows with W^2).
    dim: token width d. Wider is more accurate and slower (quadratic in the
        linear layers).
    layers / heads: transformer encoder depth and attention heads.
    ff_mult: feed-forward width multiple of ``dim``.
    in_channels_16 / in_channels_8: channels of the backbone's stride-16 and
        stride-8 maps (the hybrid patch embedding and the FPN input).
    token_hw: (h, w) of the stride-16 token grid the position embedding is
        created for (it is interpolated for other sizes).
    embed_dim: width of the appearance embedding used for re-identification.
    max_disp_px: displacement head range in input pixels (tanh-normalised,
        paper §3.4); larger tolerates faster motion at coarser resolution.
    temporal_encoding: "channel" (paper) or "none" (ablation: the frames are
        told apart only by order-free tokens).
    thermal_input: one extra input channel at both scales carrying the
        normalised thermal image (zeros when a frame has none): the issue's
        optional X-modality input, so objects stay detectable at night.
        Costs one channel of the 1x1 projections.
    """

    window: int = 5
    dim: int = 128
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    in_channels_16: int = 112
    in_channels_8: int = 40
    token_hw: Sequence[int] = (12, 16)
    embed_dim: int = 32
    max_disp_px: float = 32.0
    temporal_encoding: str = "channel"
    dropout: float = 0.0
    thermal_input: bool = False

    @property
    def channels_16(self) -> int:
        """Input channels of the stride-16 map the model expects."""
        return self.in_channels_16 + int(self.thermal_input)

    @property
    def channels_8(self) -> int:
        """Input channels of the stride-8 map the model expects."""
        return self.in_channels_8 + int(self.thermal_input)

    def __post_init__(self) -> None:
        if self.window < 1 or self.dim % self.heads:
            raise ValueError("window >= 1 and dim divisible by heads required")
        if self.temporal_encoding not in ("channel", "none"):
            raise ValueError(f"temporal_encoding must be 'channel' or 'none', got {self.temporal_encoding!r}")


class OneTrackM(nn.Module):
    """Encoder-only multi-object tracker over a window of frame features.

    ``forward_features(f16, f8)`` takes the backbone maps of the W frames
    (``f16: [B, W, C16, h, w]`` float32, ``f8: [B, W, C8, 2h, 2w]``; with
    ``thermal_input`` the thermal channel is appended to both) and returns
    the per-frame head maps (see :class:`OneTrackHeads`), each
    ``[B, W, C, 2h, 2w]`` at stride 8 of the model input.
    """

    def __init__(self, cfg: OneTrackConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.patch_embed = nn.Conv2d(cfg.channels_16, d, 1)
        h, w = cfg.token_hw
        self.pos_embed = nn.Parameter(torch.randn(1, d, h, w) * 0.02)
        # §3.2 channel-wise temporal encoding: one learnable d-vector per window slot
        self.temporal_embed = nn.Parameter(torch.randn(cfg.window, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, d * cfg.ff_mult, cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.lateral8 = nn.Conv2d(cfg.channels_8, d, 1)
        self.neck = nn.Sequential(nn.Conv2d(d, d, 3, padding=1), nn.ReLU(inplace=True))
        self.heads = OneTrackHeads(d, cfg.embed_dim, cfg.max_disp_px)

    def _pos(self, h: int, w: int) -> torch.Tensor:
        pe = self.pos_embed
        if pe.shape[-2:] != (h, w):
            pe = F.interpolate(pe, size=(h, w), mode="bilinear", align_corners=False)
        return pe.flatten(2).transpose(1, 2)  # [1, h*w, d]

    def encode(self, f16: torch.Tensor) -> torch.Tensor:
        """Patch-embed + temporal-encode + transformer. f16: [B, W, C16, h, w]
        -> tokens [B, W, d, h, w]."""
        if f16.dim() != 5 or f16.shape[1] != self.cfg.window or f16.shape[2] != self.cfg.channels_16:
            raise OneTrackInputError(
                f"f16 must be [B, W={self.cfg.window}, C={self.cfg.channels_16}, h, w], got {tuple(f16.shape)}")
        b, wn, c, h, w = f16.shape
        tok = self.patch_embed(f16.reshape(b * wn, c, h, w)).flatten(2).transpose(1, 2)  # [B*W, hw, d]
        tok = tok + self._pos(h, w)
        tok = tok.reshape(b, wn, h * w, -1)
        if self.cfg.temporal_encoding == "channel":
            tok = tok + self.temporal_embed[None, :, None, :]
        tok = self.norm(self.encoder(tok.reshape(b, wn * h * w, -1)))
        return tok.reshape(b, wn, h, w, -1).permute(0, 1, 4, 2, 3)

    def forward_features(self, f16: torch.Tensor, f8: torch.Tensor, last_only: bool = False,
                         slots: Optional[Sequence[int]] = None) -> Dict[str, torch.Tensor]:
        """Run the encoder on the whole window, then the FPN neck and heads on
        every frame of the window (default), only on the newest frame
        (``last_only``, online inference: earlier frames were already
        decoded), or on the window positions ``slots`` (training may sample a
        few frames per window to save time). Outputs are
        ``[B, n_frames, C, H8, W8]``."""
        tok = self.encode(f16)
        b, wn, d, h, w = tok.shape
        if f8.shape[:3] != (b, wn, self.cfg.channels_8):
            raise OneTrackInputError(f"f8 must be [B={b}, W={wn}, C={self.cfg.channels_8}, H8, W8], got {tuple(f8.shape)}")
        if last_only:
            slots = [wn - 1]
        if slots is not None:
            idx = torch.as_tensor(list(slots), dtype=torch.long)
            tok, f8 = tok[:, idx], f8[:, idx]
            wn = len(idx)
        h8, w8 = f8.shape[-2:]
        x = F.interpolate(tok.reshape(b * wn, d, h, w), size=(h8, w8), mode="bilinear", align_corners=False)
        x = self.neck(x + self.lateral8(f8.reshape(b * wn, -1, h8, w8)))
        out = self.heads(x)
        return {k: v.reshape(b, wn, *v.shape[1:]) for k, v in out.items()}

    def head_parameters(self, name: str):
        """Parameters of one head ("heatmap", "dims", "disp", "embed") for the
        part-based multitask schedule (paper §3.5)."""
        return self.heads.branch(name).parameters()
