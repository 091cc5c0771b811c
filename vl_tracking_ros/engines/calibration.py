"""Network inputs from generated frames (int8 calibration, parity, benchmarks).

Frames come from the synthetic world (``data.world.render_clip``) and go
through the tracker's own preprocessing (``models.search_region``): a global
view of the whole image or a local ROI around the ground-truth target, the
X modalities normalised and downsampled, and the clip's referring
expressions encoded by the preset's text encoder. Calibrating int8 on these
gives activation ranges of real tracker inputs rather than random noise.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional

import numpy as np

from .presets import PresetModel, PresetVariant


def generated_inputs(model: PresetModel, variant: PresetVariant, num_frames: int, seed: int = 0,
                     modalities: tuple = ("rgb", "depth", "thermal", "event"),
                     progress: bool = False) -> List[Dict[str, np.ndarray]]:
    """``num_frames`` single-frame (batch 1) input dicts for ``variant``.

    modalities: rendered modalities; the missing X ones have x_present 0,
        exactly as the tracker feeds them.
    """
    if model.preset.startswith("rmot"):
        return _rmot_inputs(variant, num_frames, seed, modalities)
    from ..data.scene import ClipConfig
    from ..data.world import render_clip
    from ..models.search_region import global_region, gray_u8, local_region, search_inputs

    ex = variant.example_inputs
    _, _, h, w = ex["image"].shape
    q = h // ex["x_images"].shape[2] if "x_images" in ex else 1
    gap = variant.network.cfg.motion_gap
    out: List[Dict[str, np.ndarray]] = []
    clip_seed = seed
    text_cache: Dict[str, Dict[str, np.ndarray]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num_frames, desc=f"generated frames ({variant.name})", unit="frame")
    while len(out) < num_frames:
        clip = render_clip(ClipConfig(num_frames=min(30, num_frames - len(out)) + 5, modalities=tuple(modalities)),
                           seed=clip_seed)
        clip_seed += 1
        for i, frame in enumerate(clip.frames):
            expr = clip.active_expression(i)
            box = clip.sot_target_box(i)
            if expr is None or box is None:
                continue
            if variant.name == "local":
                region = local_region(box, h, roi_scale=4.0, min_side_px=96.0)
            else:
                region = global_region(frame.image_rgb.shape[:2], (h, w))
            prev = clip.frames[i - gap].image_rgb if i >= gap else None
            sample = search_inputs(region, frame.image_rgb, q, frame.depth_m, frame.thermal_k, frame.event_frame,
                                   motion="motion_images" in ex, gray_prev=None if prev is None else gray_u8(prev),
                                   abs_position="region_box" in ex)
            if "x_present" in ex:
                sample["x_present"] = sample["x_present"].astype(ex["x_present"].numpy().dtype)
            if expr.text not in text_cache:
                text_cache[expr.text] = model.text_encoder([expr.text])
            sample.update(text_cache[expr.text])
            out.append({k: sample[k] for k in ex})
            if bar is not None:
                bar.update(1)
            if len(out) >= num_frames:
                break
    if bar is not None:
        bar.close()
    return out


def _rmot_inputs(variant: PresetVariant, num_frames: int, seed: int, modalities: tuple) -> List[Dict[str, np.ndarray]]:
    """rmot-small: ``backbone`` gets preprocessed frames; ``onetrack`` gets
    W-frame windows of the real backbone's features (+ the thermal channel),
    exactly as ``ReferringTracker.step`` stacks them."""
    import torch

    from ..data.scene import ClipConfig
    from ..data.world import render_clip
    from ..models.onetrack_backbone import MultiScaleBackbone, preprocess_rgb, thermal_channel, with_thermal

    if variant.name == "backbone":
        hw = tuple(variant.example_inputs["image"].shape[-2:])
    else:
        cfg = variant.network.onetrack.cfg
        hw = (cfg.token_hw[0] * 16, cfg.token_hw[1] * 16)
        window = cfg.window
        trunk = MultiScaleBackbone().eval()
    out: List[Dict[str, np.ndarray]] = []
    clip_seed = seed
    while len(out) < num_frames:
        extra = 0 if variant.name == "backbone" else window
        clip = render_clip(ClipConfig(num_frames=max(2, min(30, num_frames - len(out)) + extra), multi_target=True,
                                      modalities=tuple(modalities)), seed=clip_seed)
        clip_seed += 1
        images = [preprocess_rgb(f.image_rgb, hw) for f in clip.frames]
        if variant.name == "backbone":
            out.extend({"image": x.numpy()} for x in images)
            continue
        with torch.no_grad():
            feats = [trunk(x) for x in images]
        for end in range(window, len(feats) + 1):
            sl = feats[end - window:end]
            w8 = torch.stack([f8[0] for f8, _ in sl])[None]
            w16 = torch.stack([f16[0] for _, f16 in sl])[None]
            if cfg.thermal_input:
                th8 = torch.stack([torch.from_numpy(thermal_channel(f.thermal_k, tuple(w8.shape[-2:])))
                                   for f in clip.frames[end - window:end]])[None]
                w16, w8 = with_thermal(w16, w8, th8)
            out.append({"f16_window": w16.numpy(), "f8_window": w8.numpy()})
    return out[:num_frames]


def batches(samples: List[Dict[str, np.ndarray]], batch_size: int) -> Iterator[Dict[str, np.ndarray]]:
    """Stack batch-1 samples into batches of ``batch_size`` (a short tail is dropped:
    TensorRT's calibrator needs a constant batch)."""
    for i in range(0, len(samples) - batch_size + 1, batch_size):
        chunk = samples[i:i + batch_size]
        yield {k: np.concatenate([s[k] for s in chunk], axis=0) for k in chunk[0]}
