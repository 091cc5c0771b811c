"""The per-frame network(s) and text encoder of a tracker preset, for export
and benchmarks.

A preset can have several per-frame networks of different fixed input
shapes (the MVLM tracker runs the same weights on a local ROI crop and on
the whole image for global relocalization); each is exported / built as its
own engine, named ``<preset>-<variant>``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

LOG = logging.getLogger(__name__)

from ..resources import model_config_path, weights_dir as _weights_dir  # noqa: E402
#: presets with an exportable per-frame network
EXPORTABLE_PRESETS = ("mvlm-small", "mvlm-large", "rmot-small")


class PresetNotExportableError(ValueError):
    """The preset has no per-frame network to export (e.g. a numpy baseline)."""


@dataclass
class PresetVariant:
    """One per-frame network of a preset with one fixed input shape.

    name: "local" / "global"; example_inputs: ordered name -> tensor (batch 1).
    """

    name: str
    network: nn.Module
    example_inputs: Dict[str, torch.Tensor]

    def example_batch(self, batch_size: int) -> Dict[str, torch.Tensor]:
        return {k: v.expand(batch_size, *v.shape[1:]).contiguous() for k, v in self.example_inputs.items()}


@dataclass
class PresetModel:
    """What export / bench need from a preset.

    text_encoder: ``texts -> {"text_tokens": (B,L,D) f32, "text_mask": (B,L) bool}``.
    weights: path of the trained weights loaded, or None (untrained: speed is
        the same, outputs are not meaningful).
    """

    preset: str
    variants: List[PresetVariant]
    text_encoder: Callable[[Sequence[str]], Dict[str, np.ndarray]]
    weights: Optional[str] = None
    info: Dict[str, Any] = field(default_factory=dict)
    #: the model's text-encoder module (``models.text_encoder.TextEncoder``), for OrtTextEncoder
    text_module: Any = None

    def variant(self, name: str) -> PresetVariant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ValueError(f"{self.preset} has no variant {name!r}; variants: {[v.name for v in self.variants]}")


def _manifest_entry(preset: str, weights_dir: Optional[str]) -> Optional[Dict[str, Any]]:
    from ..models.weights import default_weights_dir, read_manifest

    entry = read_manifest(weights_dir or default_weights_dir()).get(preset)
    return entry if isinstance(entry, dict) else None


def _mvlm(preset: str, weights_dir: Optional[str]) -> PresetModel:
    """The same network the LanguageTracker builds (same YAML, same weights
    checks); untrained (seeded) only while the preset has no manifest entry."""
    from ..models.config import config_hash
    from ..models.network import LanguageTrackingNetwork
    from ..models.text_encoder import build_text_encoder
    from ..models.weights import default_weights_dir, load_trained_weights
    from ..train.config import load_preset_config, preset_yaml_path

    mc = load_preset_config(preset_yaml_path(preset)).model
    text = build_text_encoder(mc.text_encoder, mc.max_text_tokens)
    with torch.random.fork_rng():  # untrained heads are reproducible: same preset -> same network, same hash
        torch.manual_seed(0)
        net = LanguageTrackingNetwork(mc, text_dim=text.dim)
    loaded = None
    if _manifest_entry(preset, weights_dir) is not None:  # trained: every check of the tracker applies
        entry = load_trained_weights(net, preset, config_hash(mc), weights_dir)
        loaded = str(Path(weights_dir or default_weights_dir()) / str(entry.get("file", f"{preset}.safetensors")))
    else:
        LOG.warning("%s: no trained weights in the manifest yet; using untrained heads (speed is unaffected)", preset)
    net.eval()

    def encode(texts: Sequence[str]) -> Dict[str, np.ndarray]:
        tokens, mask = text(list(texts))
        return {"text_tokens": tokens.numpy(), "text_mask": mask.numpy()}

    variants = [PresetVariant("local", net, dict(net.example_inputs(1, local=True))),
                PresetVariant("global", net, dict(net.example_inputs(1, local=False)))]
    return PresetModel(preset, variants, encode, loaded,
                       {"params": sum(p.numel() for p in net.parameters()), "text_encoder_dim": text.dim}, text)


class RmotBackboneNetwork(nn.Module):
    """rmot-small's per-frame trunk: image (B,3,H,W) f32 normalised ->
    f8 (B,40,H/8,W/8), f16 (B,112,H/16,W/16) f32 (run once per new frame)."""

    def __init__(self, backbone: nn.Module, input_hw: Sequence[int]) -> None:
        super().__init__()
        self.backbone = backbone
        self.input_hw = tuple(int(v) for v in input_hw)

    def example_inputs(self, batch_size: int = 1) -> Dict[str, torch.Tensor]:
        return {"image": torch.zeros(batch_size, 3, *self.input_hw)}

    def forward(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        f8, f16 = self.backbone(image)
        return {"f8": f8, "f16": f16}


class RmotWindowNetwork(nn.Module):
    """rmot-small's OneTrack-M on the newest frame of a W-frame feature window:
    f16_window (B,W,C16,h,w), f8_window (B,W,C8,2h,2w) f32 (thermal channel
    appended when the preset uses it) -> head maps of the newest frame
    (B,C,2h,2w) each. FlexHook (variable track count) stays in torch."""

    def __init__(self, onetrack: nn.Module) -> None:
        super().__init__()
        self.onetrack = onetrack

    def example_inputs(self, batch_size: int = 1) -> Dict[str, torch.Tensor]:
        cfg = self.onetrack.cfg
        h, w = cfg.token_hw
        return {"f16_window": torch.zeros(batch_size, cfg.window, cfg.channels_16, h, w),
                "f8_window": torch.zeros(batch_size, cfg.window, cfg.channels_8, 2 * h, 2 * w)}

    def forward(self, f16_window: torch.Tensor, f8_window: torch.Tensor) -> Dict[str, torch.Tensor]:
        out = self.onetrack.forward_features(f16_window, f8_window, last_only=True)
        return {k: v[:, 0] for k, v in out.items()}


def _rmot(preset: str, weights_dir: Optional[str]) -> PresetModel:
    from ..models.onetrack_backbone import MultiScaleBackbone
    from ..models.text_encoder import build_text_encoder
    from ..trackers import referring_tracker as rt

    cfg_path = model_config_path(preset)
    data = rt.load_yaml_config(str(cfg_path))
    cfg = rt.model_config_from_dict(data.get("model", {}))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        models = rt.RmotModels(cfg).eval()
    entry = _manifest_entry(preset, weights_dir)
    wfile = Path(weights_dir or _weights_dir()) / str((entry or {}).get("file", f"{preset}.safetensors"))
    loaded = None
    if entry is not None:
        rt.load_weights(models, str(wfile), preset, entry.get("sha256"))
        loaded = str(wfile)
    else:
        LOG.warning("%s: no trained weights at %s; using untrained weights (speed is unaffected)", preset, wfile)
    text = build_text_encoder(cfg.text_encoder, cfg.max_text_tokens)

    def encode(texts: Sequence[str]) -> Dict[str, np.ndarray]:
        tokens, mask = text(list(texts))
        return {"text_tokens": tokens.numpy(), "text_mask": mask.numpy()}

    trunk = RmotBackboneNetwork(MultiScaleBackbone(), cfg.input_hw).eval()
    window = RmotWindowNetwork(models.onetrack).eval()
    variants = [PresetVariant("backbone", trunk, trunk.example_inputs(1)),
                PresetVariant("onetrack", window, window.example_inputs(1))]
    return PresetModel(preset, variants, encode, loaded,
                       {"params": sum(p.numel() for p in models.parameters()), "text_encoder_dim": text.dim}, text)


def load_preset_model(preset: str, weights_dir: Optional[str] = None) -> PresetModel:
    """Per-frame network variants + text encoder of ``preset`` (CPU, eval mode)."""
    if preset in ("mvlm-small", "mvlm-large"):
        return _mvlm(preset, weights_dir)
    if preset == "rmot-small":
        return _rmot(preset, weights_dir)
    raise PresetNotExportableError(
        f"preset {preset!r} has no exportable per-frame network; exportable presets: {', '.join(EXPORTABLE_PRESETS)}")


def example_numpy(variant: PresetVariant, batch_size: int = 1, seed: int = 0,
                  text: Optional[Mapping[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """Realistic-range numpy inputs for ``variant``: random normalised image /
    X images, all X modalities present, and ``text`` (encoded) when given."""
    rng = np.random.default_rng(seed)
    out: Dict[str, np.ndarray] = {}
    for k, v in variant.example_batch(batch_size).items():
        arr = v.numpy().copy()
        if arr.dtype.kind == "f" and k not in ("x_present",):
            arr = rng.standard_normal(arr.shape).astype(arr.dtype)
        out[k] = arr
    if "x_present" in out:
        out["x_present"][:] = 1
    if text:
        for k, v in text.items():
            if k in out:
                out[k] = np.repeat(v[:1], batch_size, axis=0).astype(out[k].dtype)
    return out
