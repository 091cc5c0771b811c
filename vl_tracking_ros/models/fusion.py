"""One-stage vision-language fusion (COST Sec. 3 "visual-linguistic
transformer"; MVLM Sec. "unified token joint encoding").

Image tokens of the search region P^I, text tokens P^T and a learnable
[OBJ] token are concatenated into one sequence P = [OBJ; P^T; P^I] and pass
through a stack of pre-norm transformer encoder layers whose self-attention
spans both modalities (no separate cross-attention modules: COST's
"homogeneous" fusion). Each layer exposes its attention and FFN sub-blocks
separately so XTrack's MeME can be inserted after each of them
(see :mod:`.meme` and :mod:`.network`).

Everything is fixed-shape tensor algebra (no data-dependent control flow),
so the stack traces to ONNX.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn


def sine_position_encoding_2d(h: int, w: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """DETR-style 2-D sine/cosine encoding of an h x w token grid.

    Returns (h*w, dim) float; coordinates are normalised to [0, 1] so local
    (10x10) and global (12x16) grids share the same scale of codes.
    """
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w
    yx = torch.stack([ys[:, None].expand(h, w), xs[None, :].expand(h, w)], dim=-1)
    return sine_encoding_points(yx, dim).reshape(h * w, dim)


def sine_encoding_points(yx: torch.Tensor, dim: int) -> torch.Tensor:
    """The same sine/cosine code as :func:`sine_position_encoding_2d` for
    arbitrary normalised points: yx (..., 2) float (y, x) -> (..., dim)."""
    if dim % 4:
        raise ValueError(f"dim {dim} must be divisible by 4")
    quarter = dim // 4
    freq = torch.exp(torch.arange(quarter, device=yx.device, dtype=yx.dtype)
                     * (-math.log(1000.0) / max(quarter - 1, 1)))
    yy = yx[..., :1] * freq * (2 * math.pi)
    xx = yx[..., 1:2] * freq * (2 * math.pi)
    return torch.cat([yy.sin(), yy.cos(), xx.sin(), xx.cos()], dim=-1)


class MultiHeadSelfAttention(nn.Module):
    """Scaled dot-product self-attention over (B, S, d) with an additive key bias.

    attn_bias: (B, 1, 1, S) float, 0 for visible keys and a large negative
    number for padded text tokens (or None).
    """

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.h = num_heads
        self.dk = d_model // num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, s, d = x.shape
        qkv = self.qkv(x).reshape(b, s, 3, self.h, self.dk).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, h, S, dk)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dk))
        if attn_bias is not None:
            scores = scores + attn_bias
        attn = torch.softmax(scores, dim=-1)
        y = torch.matmul(attn, v).transpose(1, 2).reshape(b, s, d)
        return self.out(y)


class FusionLayer(nn.Module):
    """Pre-norm transformer encoder layer with separately callable sub-blocks.

    ``attention(x)`` returns Attn(LN(x)) and ``feedforward(x)`` returns
    FFN(LN(x)); the caller adds the residuals (and MeME outputs).
    """

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, num_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, d_model))

    def attention(self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.attn(self.norm1(x), attn_bias)

    def feedforward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.norm2(x))

    def forward(self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x + self.attention(x, attn_bias)
        return x + self.feedforward(x)


class OneStageFusion(nn.Module):
    """Token assembly + layer stack of the one-stage fusion.

    d_model, num_heads, num_layers, ffn_dim: transformer shape.
    use_obj_token: prepend COST's learnable [OBJ] token (it gathers
        object-aware evidence from both modalities; the head uses it).
    """

    def __init__(self, d_model: int, num_heads: int, num_layers: int, ffn_dim: int, use_obj_token: bool = True):
        super().__init__()
        self.d_model = d_model
        self.use_obj_token = use_obj_token
        self.obj_token = nn.Parameter(torch.zeros(1, 1, d_model))
        nn.init.normal_(self.obj_token, std=0.02)
        # type embeddings: 0 = [OBJ], 1 = text, 2 = search image
        self.type_embed = nn.Parameter(torch.zeros(3, d_model))
        nn.init.normal_(self.type_embed, std=0.02)
        self.layers = nn.ModuleList([FusionLayer(d_model, num_heads, ffn_dim) for _ in range(num_layers)])
        self.norm = nn.LayerNorm(d_model)

    @property
    def n_prefix_extra(self) -> int:
        """Tokens before the text tokens (1 with [OBJ], else 0)."""
        return 1 if self.use_obj_token else 0

    def build_sequence(self, img_tokens: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor):
        """Concatenate [OBJ; text; image] tokens.

        img_tokens: (B, N, d) with positions already added; text_tokens:
        (B, L, d); text_mask: (B, L) bool (True = real token).
        Returns (seq (B, S, d), attn_bias (B, 1, 1, S), n_prefix) where the
        image tokens are ``seq[:, n_prefix:]``.
        """
        b = img_tokens.shape[0]
        parts = []
        masks = []
        if self.use_obj_token:
            parts.append(self.obj_token.expand(b, 1, self.d_model) + self.type_embed[0])
            masks.append(torch.ones(b, 1, dtype=torch.bool, device=img_tokens.device))
        parts.append(text_tokens + self.type_embed[1])
        masks.append(text_mask.to(torch.bool))
        parts.append(img_tokens + self.type_embed[2])
        masks.append(torch.ones(b, img_tokens.shape[1], dtype=torch.bool, device=img_tokens.device))
        seq = torch.cat(parts, dim=1)
        visible = torch.cat(masks, dim=1)
        attn_bias = (~visible).to(seq.dtype)[:, None, None, :] * -1e4
        n_prefix = self.n_prefix_extra + text_tokens.shape[1]
        return seq, attn_bias, n_prefix
