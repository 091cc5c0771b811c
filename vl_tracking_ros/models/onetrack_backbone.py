"""Multi-scale taps on the shared frozen image backbone (hybrid patch embedding).

OneTrack-M embeds patches and FlexHook's C-Hook samples "the backbone's
multi-scale feature maps". Both use the *shared* frozen EfficientNet-Lite0
trunk of :class:`vl_tracking_ros.models.image_encoder.EfficientNetLiteEncoder`
(no second copy of the weights): this wrapper runs its stem and MBConv
blocks once per frame and returns the stride-8 (40 ch, after block 4) and
stride-16 (112 ch, after block 10) maps.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .image_encoder import EfficientNetLiteEncoder, normalize_image_rgb

#: index of the last MBConv block of the stride-8 stage in EfficientNet-Lite0
_STRIDE8_BLOCK = 4


class MultiScaleBackbone(nn.Module):
    """Frozen trunk returning ``(f8 [B, 40, H/8, W/8], f16 [B, 112, H/16, W/16])``.

    Input: image (B, 3, H, W) float32 normalised with
    :func:`normalize_image_rgb`; H, W multiples of 16.
    """

    channels_8 = 40
    channels_16 = 112

    def __init__(self, encoder: Optional[EfficientNetLiteEncoder] = None, pretrained: bool = True) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else EfficientNetLiteEncoder(pretrained=pretrained)

    def train(self, mode: bool = True) -> "MultiScaleBackbone":
        return super().train(False)

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[2] % 16 or image.shape[3] % 16:
            raise ValueError(f"image must be [B, 3, H, W] with H, W multiples of 16, got {tuple(image.shape)}")
        return self.encoder.forward_features(image, tap_block=_STRIDE8_BLOCK)


def preprocess_rgb(image_rgb: np.ndarray, input_hw: Tuple[int, int]) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> [1, 3, h, w] float32 network input resized to
    ``input_hw`` (bilinear, aspect not preserved; boxes scale per axis)."""
    import cv2

    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"image_rgb must be (H, W, 3) uint8, got {image_rgb.shape} {image_rgb.dtype}")
    h, w = input_hw
    if image_rgb.shape[:2] != (h, w):
        image_rgb = cv2.resize(image_rgb, (w, h), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(normalize_image_rgb(image_rgb))[None]


#: thermal normalisation of the extra FlexHook channel: (T - 300 K) / 30 K
THERMAL_CENTER_K = 300.0
THERMAL_SCALE_K = 30.0


def thermal_channel(thermal_k: Optional[np.ndarray], out_hw: Tuple[int, int]) -> np.ndarray:
    """(H, W) float32 Kelvin (or None) -> (1, h, w) float32 normalised
    temperature at ``out_hw`` (zeros when the frame has no thermal image).
    NaN pixels read as THERMAL_CENTER_K."""
    import cv2

    if thermal_k is None:
        return np.zeros((1,) + tuple(int(v) for v in out_hw), np.float32)
    if thermal_k.ndim != 2:
        raise ValueError(f"thermal_k must be (H, W) Kelvin, got shape {thermal_k.shape}")
    t = np.nan_to_num(thermal_k.astype(np.float32), nan=THERMAL_CENTER_K)
    t = cv2.resize(t, (int(out_hw[1]), int(out_hw[0])), interpolation=cv2.INTER_AREA)
    return ((t - THERMAL_CENTER_K) / THERMAL_SCALE_K)[None].astype(np.float32)


def with_thermal(f16: torch.Tensor, f8: torch.Tensor, th8: torch.Tensor):
    """Append the thermal channel to both scales: th8 [..., 1, H8, W8] is
    average-pooled 2x for the stride-16 map."""
    lead = th8.shape[:-3]
    th16 = F.avg_pool2d(th8.reshape(-1, *th8.shape[-3:]), 2).reshape(*lead, 1, *f16.shape[-2:])
    return torch.cat([f16, th16], -3), torch.cat([f8, th8], -3)
