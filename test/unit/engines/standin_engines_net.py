"""A small real per-frame network for unit-testing the engine layer.

It has the same I/O shape as the trackers' per-frame networks (image crop,
text tokens + mask, X images + modality mask -> score map + box) and the
same building blocks (conv patch embedding, LayerNorm, cross-attention with
a key padding mask, softmax), so export / parity / batching problems show up
here first. The real SOT / RMOT networks are tested in test_real_models.py.
"""
from __future__ import annotations

from typing import Dict

import torch
from torch import nn

IMAGE_HW = (64, 64)
TEXT_LEN, TEXT_DIM = 8, 32
NUM_X = 2


class StandInNetwork(nn.Module):
    """image (B,3,64,64) f32, text_tokens (B,8,32) f32, text_mask (B,8) bool,
    x_images (B,2,1,32,32) f32, x_present (B,2) bool ->
    score_map (B,1,8,8) f32, box_cxcywh (B,4) f32 in [0,1]."""

    def __init__(self, d: int = 32, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.patch = nn.Conv2d(3, d, 8, stride=8)
        self.x_patch = nn.Conv2d(1, d, 4, stride=4)
        self.text_proj = nn.Linear(TEXT_DIM, d)
        self.norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
        self.score = nn.Conv2d(d, 1, 1)
        self.box = nn.Linear(d, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)

    def example_inputs(self, batch_size: int = 1) -> Dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(1)
        mask = torch.ones(batch_size, TEXT_LEN, dtype=torch.bool)
        mask[:, 5:] = False
        present = torch.ones(batch_size, NUM_X, dtype=torch.bool)
        present[:, 1] = False
        return {"image": torch.rand(batch_size, 3, *IMAGE_HW, generator=g),
                "text_tokens": torch.randn(batch_size, TEXT_LEN, TEXT_DIM, generator=g),
                "text_mask": mask,
                "x_images": torch.rand(batch_size, NUM_X, 1, IMAGE_HW[0] // 2, IMAGE_HW[1] // 2, generator=g),
                "x_present": present}

    def forward(self, image, text_tokens, text_mask, x_images, x_present):
        b = image.shape[0]
        f = self.patch(image)                                   # (B,d,8,8)
        x = self.x_patch(x_images.flatten(0, 1))                # (B*X,d,8,8)
        x = x.view(b, -1, *x.shape[1:]) * x_present[:, :, None, None, None].to(x.dtype)
        f = f + x.sum(1)
        q = self.norm(f.flatten(2).transpose(1, 2))             # (B,64,d)
        t = self.text_proj(text_tokens)
        fused, _ = self.attn(q, t, t, key_padding_mask=~text_mask, need_weights=False)
        q = q + fused
        grid = q.transpose(1, 2).reshape(f.shape)
        score_map = self.score(grid)
        w = torch.softmax(score_map.flatten(1), dim=1)          # (B,64)
        pooled = (w[:, :, None] * q).sum(1)
        return {"score_map": score_map, "box_cxcywh": torch.sigmoid(self.box(pooled))}


def example_numpy(net: StandInNetwork, batch_size: int = 1, seed: int = 0):
    """Example inputs as numpy, with per-sample variation (different streams)."""
    ex = {k: v.numpy().copy() for k, v in net.example_inputs(batch_size).items()}
    rng = torch.Generator().manual_seed(100 + seed)
    ex["image"] = torch.rand(ex["image"].shape, generator=rng).numpy()
    ex["text_tokens"] = torch.randn(ex["text_tokens"].shape, generator=rng).numpy()
    return ex
