"""The per-frame language tracking network (MVLM + COST + XTrack).

:class:`LanguageTrackingNetwork` is an ``nn.Module`` with fixed-shape tensor
inputs and a dict of tensor outputs -- no Python control flow on data, no
device hard-coding -- so ENGINES can trace/export it. The text encoder is NOT
inside: text tokens arrive already encoded (once per command).

Inputs
  image:       (B, 3, H, W) float32 normalised (:func:`normalize_image_rgb`);
               H, W multiples of 16 (global 192x256 or local 160x160).
  text_tokens: (B, L, D_text) float32 frozen-encoder token embeddings.
  text_mask:   (B, L) bool, True for real tokens.
  x_images:    (B, 4, H/q, W/q) float32, q = ``x_downsample``; channels
               [depth, thermal, event+, event-] normalised by
               :mod:`.modality_inputs`; zeros where absent. Optional.
  x_present:   (B, 3) float32 in {0, 1}: depth / thermal / event present.
  motion_images: (B, 3, H/2, W/2) float32 [gray_t, gray_{t-g}, valid]
               (:func:`.search_region.motion_images`); only with
               ``cfg.motion_input``.
  region_box:  (B, 4) float32 [x0, y0, x1, y1] of the search region in
               normalised full-image coordinates
               (:func:`.search_region.region_box_norm`); only with
               ``cfg.abs_position``.

Outputs (dict of tensors)
  heatmap_logits (B, 1, h, w), offset (B, 2, h, w), size (B, 2, h, w),
  corr (B, h, w) vision-language correlation in [-1, 1],
  router_probs (B, M) mean router mass per X modality of this network,
  x_share (B,) fraction of the fused image-token energy contributed by MeME,
  plus, in training mode only, the tensors the losses need: vis_tokens (B, N, d) unit (MVLM v_x),
  text_unit (B, d) (MVLM u_t), con_vis_tokens (B, N, c) / con_text (B, c)
  (COST pre-fusion contrastive embeddings), router_probs_tokens
  (B, 2*layers, N, E), router_topk (B, 2*layers, N, E).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .config import X_MODALITY_CHANNELS, X_MODALITY_ORDER, ModelConfig
from .fusion import OneStageFusion, sine_encoding_points, sine_position_encoding_2d
from .heads import CenterHead, CorrelationHead
from .image_encoder import build_image_encoder
from .meme import MeME, modality_group_probs


#: outputs returned in eval mode (what trackers and exported engines use)
INFERENCE_OUTPUTS = ("heatmap_logits", "offset", "size", "corr", "router_probs", "x_share")


class XPatchEmbed(nn.Module):
    """Light patch embedding per X modality (XTrack's X tokens).

    x_images (B, 4, H/q, W/q), x_present (B, 3) -> fused X tokens (B, N, d):
    the mean over present modalities of Conv(patch=16/q) + modality embedding.
    Also returns any_present (B, 1, 1) float.
    """

    def __init__(self, modalities: List[str], d_model: int, patch: int):
        super().__init__()
        self.modalities = list(modalities)
        self.embeds = nn.ModuleDict({
            m: nn.Sequential(nn.Conv2d(X_MODALITY_CHANNELS[m], d_model // 2, patch, stride=patch), nn.GELU(),
                             nn.Conv2d(d_model // 2, d_model, 1))
            for m in self.modalities
        })
        self.mod_embed = nn.Parameter(torch.zeros(len(self.modalities), d_model))
        nn.init.normal_(self.mod_embed, std=0.02)
        offsets, start = {}, 0
        for m in X_MODALITY_ORDER:
            offsets[m] = (start, start + X_MODALITY_CHANNELS[m])
            start += X_MODALITY_CHANNELS[m]
        self._channels = offsets

    def forward(self, x_images: torch.Tensor, x_present: torch.Tensor):
        total = None
        count = None
        for i, m in enumerate(self.modalities):
            a, b = self._channels[m]
            tok = self.embeds[m](x_images[:, a:b]).flatten(2).transpose(1, 2) + self.mod_embed[i]
            w = x_present[:, X_MODALITY_ORDER.index(m)].reshape(-1, 1, 1)
            total = tok * w if total is None else total + tok * w
            count = w if count is None else count + w
        fused = total / count.clamp_min(1.0)
        return fused, (count > 0).to(fused.dtype)


class MotionPatchEmbed(nn.Module):
    """Motion tokens from two same-region grayscale frames.

    motion_images (B, 3, H/2, W/2) [gray_t, gray_{t-g}, valid] -> (B, N, d)
    tokens on the stride-16 grid: a 3x3 conv (local temporal differences and
    gradients: the brightness-constancy cue of which way an edge moved), an
    8x8/stride-8 patch conv, GELU, 1x1 projection. Added to the RGB image
    tokens before fusion (the one-frame network otherwise cannot tell
    "moving left" from "moving right").
    """

    def __init__(self, d_model: int, patch: int = 8, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, hidden, 3, padding=1), nn.GELU(),
                                 nn.Conv2d(hidden, d_model // 2, patch, stride=patch), nn.GELU(),
                                 nn.Conv2d(d_model // 2, d_model, 1))

    def forward(self, motion_images: torch.Tensor) -> torch.Tensor:
        return self.net(motion_images).flatten(2).transpose(1, 2)


def absolute_token_centres(region_box: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """region_box (B, 4) normalised [x0, y0, x1, y1] -> (B, h*w, 2) (y, x)
    centres of the h x w token grid in normalised full-image coordinates."""
    dtype = region_box.dtype
    fy = (torch.arange(h, device=region_box.device, dtype=dtype) + 0.5) / h
    fx = (torch.arange(w, device=region_box.device, dtype=dtype) + 0.5) / w
    x0, y0, x1, y1 = region_box[:, 0:1], region_box[:, 1:2], region_box[:, 2:3], region_box[:, 3:4]
    ys = y0 + (y1 - y0) * fy[None, :]  # (B, h)
    xs = x0 + (x1 - x0) * fx[None, :]  # (B, w)
    yy = ys[:, :, None].expand(-1, h, w)
    xx = xs[:, None, :].expand(-1, h, w)
    return torch.stack([yy, xx], dim=-1).reshape(region_box.shape[0], h * w, 2)


class LanguageTrackingNetwork(nn.Module):
    """Backbone -> token projection -> one-stage fusion (+MeME) -> heads.

    cfg: :class:`ModelConfig`; text_dim: width of the text encoder tokens;
    pretrained: load the backbone's ImageNet weights (False only in tests).
    """

    def __init__(self, cfg: ModelConfig, text_dim: int = 384, pretrained: bool = True,
                 image_encoder: Optional[nn.Module] = None):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.d_model
        self.image_encoder = image_encoder if image_encoder is not None else build_image_encoder(cfg.backbone, pretrained)
        self.img_proj = nn.Sequential(nn.Linear(self.image_encoder.out_channels, d), nn.LayerNorm(d))
        self.text_proj = nn.Sequential(nn.Linear(text_dim, d), nn.LayerNorm(d))
        self.fusion = OneStageFusion(d, cfg.num_heads, cfg.num_layers, cfg.ffn_dim, cfg.use_obj_token)
        self.head = CenterHead(d, hidden=cfg.head_hidden, use_obj=cfg.use_obj_token)
        self.corr_head = CorrelationHead(d)
        # COST contrastive alignment projections (training only, pre-fusion)
        self.con_vis = nn.Linear(d, cfg.contrastive_dim)
        self.con_txt = nn.Linear(d, cfg.contrastive_dim)
        self.x_modalities = list(cfg.x_modalities)
        if self.x_modalities:
            self.x_embed = XPatchEmbed(self.x_modalities, d, cfg.stride // cfg.x_downsample)
            mk = lambda: MeME(d, cfg.meme_rank, len(self.x_modalities), cfg.meme_experts_per_modality, cfg.meme_top_k)
            self.meme_attn = nn.ModuleList([mk() for _ in range(cfg.num_layers)])
            self.meme_ffn = nn.ModuleList([mk() for _ in range(cfg.num_layers)])
        self.use_meme = bool(self.x_modalities)
        if cfg.motion_input:
            self.motion_embed = MotionPatchEmbed(d, patch=cfg.stride // 2)
        if cfg.abs_position:
            self.abs_pos_proj = nn.Linear(d, d)

    # -- parameter groups -------------------------------------------------
    def base_parameters(self):
        """Trainable RGB-base parameters (stage 1): everything except the
        frozen backbone and the MeME/X branch."""
        skip = ("image_encoder.", "x_embed.", "meme_attn.", "meme_ffn.")
        return [p for n, p in self.named_parameters() if not n.startswith(skip) and p.requires_grad]

    def base_parameters_all(self):
        """RGB-base parameters regardless of their current requires_grad."""
        skip = ("image_encoder.", "x_embed.", "meme_attn.", "meme_ffn.")
        return [p for n, p in self.named_parameters() if not n.startswith(skip)]

    def meme_parameters(self):
        """MeME + X patch embedding parameters (stage 2; base frozen)."""
        keep = ("x_embed.", "meme_attn.", "meme_ffn.")
        return [p for n, p in self.named_parameters() if n.startswith(keep)]

    def trained_state_dict(self) -> Dict[str, torch.Tensor]:
        """State dict without the frozen pretrained backbone (what we ship)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("image_encoder.")}

    # -- forward -----------------------------------------------------------
    def forward(self, image: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                x_images: Optional[torch.Tensor] = None, x_present: Optional[torch.Tensor] = None,
                motion_images: Optional[torch.Tensor] = None, region_box: Optional[torch.Tensor] = None):
        with torch.no_grad():
            feats = self.image_encoder(image)
        return self.forward_features(feats, text_tokens, text_mask, x_images, x_present, motion_images, region_box)

    def forward_features(self, feats: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                         x_images: Optional[torch.Tensor] = None,
                         x_present: Optional[torch.Tensor] = None,
                         motion_images: Optional[torch.Tensor] = None,
                         region_box: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Same as forward from backbone features (B, C, h, w) (cached training).

        Without ``motion_images`` / ``region_box`` (when the config enables
        them) the network runs as if there were no previous frame / the
        search region were the whole image."""
        b, _, h, w = feats.shape
        d = self.cfg.d_model
        pos = sine_position_encoding_2d(h, w, d, device=feats.device, dtype=feats.dtype)
        img0 = self.img_proj(feats.flatten(2).transpose(1, 2))  # (B, N, d)
        if self.cfg.motion_input:
            if motion_images is None:
                motion_images = self._no_motion(b, h, w, feats)
            img0 = img0 + self.motion_embed(motion_images)
        if self.cfg.abs_position:
            if region_box is None:
                region_box = feats.new_tensor([[0.0, 0.0, 1.0, 1.0]]).expand(b, 4)
            pos = pos + self.abs_pos_proj(sine_encoding_points(absolute_token_centres(region_box, h, w), d))
        txt0 = self.text_proj(text_tokens)
        seq, bias, n0 = self.fusion.build_sequence(img0 + pos, txt0, text_mask)

        use_x = self.use_meme and x_images is not None and x_present is not None
        probs_all, topk_all = [], []
        x_energy = img0.new_zeros(b)
        if use_x:
            xt, any_x = self.x_embed(x_images, x_present)
            xt = xt + pos
        for i, layer in enumerate(self.fusion.layers):
            a = layer.attention(seq, bias)
            if use_x:
                m_out, aux = self.meme_attn[i](seq[:, n0:], xt, (h, w))
                m_out = m_out * any_x
                seq = seq + a + F.pad(m_out, (0, 0, n0, 0))
                x_energy = x_energy + m_out.norm(dim=-1).mean(1)
                probs_all.append(aux["probs"]); topk_all.append(aux["topk_mask"])
                if self.cfg.x_through_base:
                    xt = xt + layer.attention(xt)
            else:
                seq = seq + a
            f = layer.feedforward(seq)
            if use_x:
                m_out, aux = self.meme_ffn[i](seq[:, n0:], xt, (h, w))
                m_out = m_out * any_x
                seq = seq + f + F.pad(m_out, (0, 0, n0, 0))
                x_energy = x_energy + m_out.norm(dim=-1).mean(1)
                probs_all.append(aux["probs"]); topk_all.append(aux["topk_mask"])
                if self.cfg.x_through_base:
                    xt = xt + layer.feedforward(xt)
            else:
                seq = seq + f
        seq = self.fusion.norm(seq)
        img = seq[:, n0:]
        txt = seq[:, self.fusion.n_prefix_extra:n0]
        obj = seq[:, 0] if self.cfg.use_obj_token else None

        out = self.head(img, (h, w), obj)
        corr, v, u = self.corr_head(img, txt, text_mask, (h, w))
        out["corr"] = corr
        out["vis_tokens"] = v
        out["text_unit"] = u
        m = text_mask.to(txt0.dtype).unsqueeze(-1)
        out["con_vis_tokens"] = self.con_vis(img0)
        out["con_text"] = self.con_txt((txt0 * m).sum(1) / m.sum(1).clamp_min(1.0))
        n_mod = max(1, len(self.x_modalities))
        if use_x:
            p = torch.stack(probs_all, dim=1)  # (B, 2L, N, E)
            out["router_probs_tokens"] = p
            out["router_topk"] = torch.stack(topk_all, dim=1)
            out["router_probs"] = modality_group_probs(p, n_mod).mean(dim=(1, 2))
            rgb_energy = img.norm(dim=-1).mean(1)
            x_energy = x_energy / (2 * len(self.fusion.layers))
            out["x_share"] = x_energy / (x_energy + rgb_energy + 1e-6)
        else:
            out["router_probs"] = img0.new_zeros(b, n_mod)
            out["x_share"] = img0.new_zeros(b)
        if not self.training:  # inference/export: only what the tracker reads
            return {k: out[k] for k in INFERENCE_OUTPUTS}
        return out

    def _no_motion(self, b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """(B, 3, 8h, 8w) motion input meaning "no previous frame" (mid-grey, valid 0)."""
        q = self.cfg.stride // 2
        return like.new_zeros(b, 3, h * q, w * q)

    def example_inputs(self, batch_size: int = 1, local: bool = True, device=None) -> "OrderedDict[str, torch.Tensor]":
        """Ordered name -> fixed-shape example tensor for tracing/export
        (``engines.base`` convention): image, text_tokens, text_mask,
        x_images, x_present (+ motion_images, region_box when the config
        enables them). ``local`` picks the ROI size, else the global size."""
        h, w = (self.cfg.local_size, self.cfg.local_size) if local else tuple(self.cfg.global_size_hw)
        q = self.cfg.x_downsample
        text_dim = self.text_proj[0].in_features
        mask = torch.zeros(batch_size, self.cfg.max_text_tokens, dtype=torch.bool, device=device)
        mask[:, :4] = True
        out = OrderedDict([
            ("image", torch.zeros(batch_size, 3, h, w, device=device)),
            ("text_tokens", torch.zeros(batch_size, self.cfg.max_text_tokens, text_dim, device=device)),
            ("text_mask", mask),
            ("x_images", torch.zeros(batch_size, self.cfg.x_channels, h // q, w // q, device=device)),
            ("x_present", torch.zeros(batch_size, len(X_MODALITY_ORDER), device=device)),
        ])
        if self.cfg.motion_input:
            out["motion_images"] = torch.zeros(batch_size, 3, h // 2, w // 2, device=device)
        if self.cfg.abs_position:
            box = torch.tensor([0.0, 0.0, 1.0, 1.0], device=device) if not local else \
                torch.tensor([0.25, 0.25, 0.75, 0.75], device=device)
            out["region_box"] = box.expand(batch_size, 4).contiguous()
        return out
