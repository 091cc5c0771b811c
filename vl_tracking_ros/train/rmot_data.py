"""Training data for OneTrack-M + FlexHook: rendered clips -> cached features.

The image backbone is frozen, so every training frame is encoded once and
its stride-8 / stride-16 maps are cached (float16, in memory and optionally
in a ``.pt`` file under ``runs/``); both heads then train on the cache,
which is what makes CPU training in minutes possible.

Clips come from the WORLD generator (:func:`vl_tracking_ros.data.world.render_clip`)
with ``multi_target=True`` and seeds from ``seed_base`` upwards (training
seeds are kept disjoint from the evaluation suites' seeds by the caller's
choice of ``seed_base``, see ``config/models/rmot-small.yaml``).

Expressions per clip: the clip's own "track all ..." expressions plus extra
ones made with the WORLD language module (``describe_multi`` around random
seed objects, and constraint sets borrowed from other clips, resolved on
this clip's objects -- these are often hard negatives with no referent).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from ..models.onetrack_backbone import MultiScaleBackbone, preprocess_rgb, thermal_channel

#: minimum visibility for an object to be a detection target
MIN_VISIBILITY = 0.2


@dataclass
class CachedClip:
    """One clip's cached features and labels.

    f8: [F, 40, h8, w8] float16; f16: [F, 112, h16, w16] float16;
    th8: [F, 1, h8, w8] float16 thermal channel.
    boxes: per frame {obj id: (4,) xyxy in model-input pixels} (detectable objects).
    norm_boxes: per frame {obj id: (4,) xyxy normalised} (every in-view object).
    expressions: list of (text, frozenset of referent ids).
    """

    name: str
    f8: torch.Tensor
    f16: torch.Tensor
    th8: torch.Tensor
    boxes: List[Dict[int, np.ndarray]]
    norm_boxes: List[Dict[int, np.ndarray]]
    expressions: List[Tuple[str, frozenset]] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.f8.shape[0])


def training_clip_configs(n: int, seed_base: int, num_frames: int = 60) -> List[Tuple[object, int]]:
    """(ClipConfig, seed) for n multi-target training clips with varied knobs."""
    from ..data.scene import ClipConfig

    rng = np.random.default_rng(seed_base)
    out = []
    for k in range(n):
        occl = ["none", "none", "partial", "full"][int(rng.integers(4))]
        cfg = ClipConfig(
            num_frames=num_frames, modalities=("rgb", "thermal"), multi_target=True,
            num_objects=int(rng.integers(4, 11)), target_size="any", target_speed="any",
            lighting=["day", "day", "dusk", "night", "glare"][int(rng.integers(5))],
            distractor_similarity=float(rng.uniform(0.2, 0.7)), occlusion=occl,
            occlusion_frames=int(rng.integers(5, 16)), ego_motion=float(rng.choice([0.0, 0.0, 4.0])),
            scale_change=float(rng.choice([0.0, 0.2])))
        out.append((cfg, seed_base + k))
    return out


def _extra_expressions(clip, rng: np.random.Generator, n_extra: int,
                       foreign: Sequence[Dict[str, str]]) -> List[Tuple[str, frozenset, Dict[str, str]]]:
    from ..data.language import describe_multi, render_text, resolve
    from ..data.world import _language_view

    cfgc = clip.config
    out = []
    for _ in range(n_extra):
        f = int(rng.integers(clip.num_frames))
        objects, boxes = _language_view(clip.gt[f], cfgc.width, cfgc.height)
        seeds = [o for o in objects if objects[o].get("in_view")]
        if not seeds:
            continue
        c, refs, text = describe_multi(int(rng.choice(seeds)), objects, boxes, rng)
        out.append((text, frozenset(int(r) for r in refs), c))
    for c in foreign:
        objects, boxes = _language_view(clip.gt[0], cfgc.width, cfgc.height)
        refs = resolve(c, objects, boxes)
        out.append((render_text(c, rng, plural=True), frozenset(int(r) for r in refs), c))
    return out


@torch.no_grad()
def _encode_clip(cfg, seed: int, input_hw: Tuple[int, int], backbone: MultiScaleBackbone,
                 min_visibility: float):
    """Render one clip and encode its frames: (the clip without its images
    -- name, config, num_frames, gt, expressions --, f8, f16, thermal, boxes,
    norm_boxes). The expensive, rng-free half of :func:`build_cache`."""
    from types import SimpleNamespace

    from ..data.world import render_clip

    clip = render_clip(cfg, seed)
    h, w = input_hw
    f8s, f16s, ths, boxes, nboxes = [], [], [], [], []
    sx, sy = w / cfg.width, h / cfg.height
    for i, frame in enumerate(clip.frames):
        f8, f16 = backbone(preprocess_rgb(frame.image_rgb, input_hw))
        f8s.append(f8[0].half())
        f16s.append(f16[0].half())
        ths.append(torch.from_numpy(thermal_channel(frame.thermal_k, f8.shape[-2:])).half())
        fb, nb = {}, {}
        for oid, o in clip.gt[i].objects.items():
            if not o.in_view:
                continue
            b = np.asarray(o.box_xyxy, np.float32)
            nb[oid] = b / np.array([cfg.width, cfg.height, cfg.width, cfg.height], np.float32)
            if o.visibility >= min_visibility and (b[2] - b[0]) >= 2 and (b[3] - b[1]) >= 2:
                fb[oid] = b * np.array([sx, sy, sx, sy], np.float32)
        boxes.append(fb)
        nboxes.append(nb)
    view = SimpleNamespace(name=clip.name, config=clip.config, num_frames=clip.num_frames, gt=clip.gt,
                           expressions=clip.expressions)
    return view, torch.stack(f8s), torch.stack(f16s), torch.stack(ths), boxes, nboxes


# per worker process: (input_hw, backbone, min_visibility), set by _init_worker
_WORKER: Dict[str, object] = {}


def _init_worker(input_hw: Tuple[int, int], backbone: MultiScaleBackbone, min_visibility: float) -> None:
    torch.set_num_threads(1)
    _WORKER.update(input_hw=input_hw, backbone=backbone, min_visibility=min_visibility)


def _worker_encode(cfg, seed: int):
    return _encode_clip(cfg, seed, _WORKER["input_hw"], _WORKER["backbone"], _WORKER["min_visibility"])


def build_cache(configs: Sequence[Tuple[object, int]], input_hw: Tuple[int, int], backbone: MultiScaleBackbone,
                extra_expressions: int = 6, foreign_expressions: int = 3, seed: int = 0,
                progress: bool = True, min_visibility: float = MIN_VISIBILITY, workers: int = 1) -> List[CachedClip]:
    """Render every clip, encode its frames once, collect boxes and expressions.

    An in-view object is a detection target (``CachedClip.boxes``) when its
    visible fraction is >= ``min_visibility`` (0..1) and its box is >= 2 px
    a side; ``norm_boxes`` keeps every in-view object.

    ``workers`` > 1 renders and encodes the clips in that many spawned
    processes (one torch thread each); the expressions, which draw from one
    rng across the clips, are then added here in clip order, so the cache
    is the same for any number of workers.
    """
    if not 0.0 <= float(min_visibility) <= 1.0:
        raise ValueError(f"min_visibility must be in [0, 1], got {min_visibility}")
    if int(workers) < 1:
        raise ValueError(f"cache workers must be >= 1, got {workers}")
    from tqdm import tqdm

    if int(workers) == 1:
        encoded = (_encode_clip(cfg, s, input_hw, backbone, min_visibility) for cfg, s in configs)
    else:
        from .workers import ordered_pool_map

        encoded = ordered_pool_map(_worker_encode, list(configs), int(workers), _init_worker,
                                   (tuple(input_hw), backbone, float(min_visibility)))
    rng = np.random.default_rng(seed)
    clips: List[CachedClip] = []
    constraint_pool: List[Dict[str, str]] = []
    bar = tqdm(total=len(configs), desc=f"render+encode clips ({int(workers)} worker{'s' * (int(workers) > 1)})",
               unit="clip", disable=not progress)
    for clip, f8, f16, th, boxes, nboxes in encoded:
        exprs = [(e.text, frozenset(int(r) for r in e.referent_ids)) for e in clip.expressions if e.multi]
        foreign = [constraint_pool[int(k)] for k in rng.integers(0, len(constraint_pool), foreign_expressions)] \
            if constraint_pool else []
        extra = _extra_expressions(clip, rng, extra_expressions, foreign)
        exprs += [(t, r) for t, r, _ in extra]
        constraint_pool += [c for _, _, c in extra[:extra_expressions]] + [e.attributes for e in clip.expressions]
        seen, uniq = set(), []
        for t, r in exprs:
            if t not in seen:
                seen.add(t)
                uniq.append((t, r))
        clips.append(CachedClip(clip.name, f8, f16, th, boxes, nboxes, uniq))
        bar.update(1)
    bar.close()
    return clips


def save_cache(clips: List[CachedClip], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save([c.__dict__ for c in clips], path)


def load_cache(path: str) -> List[CachedClip]:
    return [CachedClip(**d) for d in torch.load(path, weights_only=False)]


class TextBank:
    """Token features of every training expression, encoded once (frozen encoder)."""

    def __init__(self, text_encoder, texts: Sequence[str], batch: int = 64) -> None:
        uniq = sorted(set(texts))
        self.index = {t: i for i, t in enumerate(uniq)}
        toks, masks = [], []
        for k in range(0, len(uniq), batch):
            t, m = text_encoder(uniq[k:k + batch])
            toks.append(t)
            masks.append(m)
        self.tokens = torch.cat(toks) if toks else torch.zeros(0)
        self.mask = torch.cat(masks) if masks else torch.zeros(0, dtype=torch.bool)

    def get(self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        idx = torch.tensor([self.index[t] for t in texts], dtype=torch.long)
        return self.tokens[idx], self.mask[idx]
