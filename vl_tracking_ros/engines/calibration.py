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
    from ..data.scene import ClipConfig
    from ..data.world import render_clip
    from ..models.image_encoder import normalize_image_rgb
    from ..models.search_region import crop_rgb, crop_x, global_region, local_region

    ex = variant.example_inputs
    _, _, h, w = ex["image"].shape
    q = h // ex["x_images"].shape[2] if "x_images" in ex else 1
    out: List[Dict[str, np.ndarray]] = []
    clip_seed = seed
    text_cache: Dict[str, Dict[str, np.ndarray]] = {}
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
            sample = {"image": normalize_image_rgb(crop_rgb(frame.image_rgb, region))[None]}
            if "x_images" in ex:
                x, present = crop_x(region, q, frame.depth_m, frame.thermal_k, frame.event_frame)
                sample["x_images"] = x[None]
                sample["x_present"] = present[None].astype(ex["x_present"].numpy().dtype)
            if expr.text not in text_cache:
                text_cache[expr.text] = model.text_encoder([expr.text])
            sample.update(text_cache[expr.text])
            out.append({k: sample[k] for k in ex})
            if len(out) >= num_frames:
                break
    return out


def batches(samples: List[Dict[str, np.ndarray]], batch_size: int) -> Iterator[Dict[str, np.ndarray]]:
    """Stack batch-1 samples into batches of ``batch_size`` (a short tail is dropped:
    TensorRT's calibrator needs a constant batch)."""
    for i in range(0, len(samples) - batch_size + 1, batch_size):
        chunk = samples[i:i + batch_size]
        yield {k: np.concatenate([s[k] for s in chunk], axis=0) for k in chunk[0]}
