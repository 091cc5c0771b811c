"""Training samples from the synthetic world, with the frozen backbone's
features cached (the backbone and text encoder are frozen, so every crop is
encoded once and the fusion/heads/MeME train for many steps on the cache).

Per sampled frame of a WORLD training clip (``data.suites.training_clips``,
seeds disjoint from every evaluation suite):

* one **global** search input (whole image -> ``global_size_hw``), shared by
  every expression of the frame;
* expressions: the clip's active command (switch clips give several targets
  over time) plus up to ``extra_expressions`` other objects described with
  the WORLD language generator (``data.language.describe_single``);
* per expression one **local ROI** crop around its target, jittered in
  centre and scale (or, with ``distractor_roi_prob``, around a distractor so
  the target is often absent) -- both MVLM gate branches are trained.

X crops (depth/thermal/event, 1/q resolution) are cached next to every
crop; night clips make them matter. With ``model.motion_input`` the
grayscale crops of the frame and of the frame ``motion_gap`` (+-1, so the
network tolerates another camera rate) back, cropped with the same region,
are cached as uint8 at 1/2 resolution; the first frames of a clip have no
previous frame (valid 0), as after a tracker start. The search regions'
normalised image extents are cached for ``model.abs_position``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch

from ..models.image_encoder import normalize_image_rgb
from ..models.search_region import (crop_gray_u8, crop_rgb, crop_x, global_region, gray_u8, local_region,
                                    region_box_norm)
from ..models.text_encoder import TextEncoder
from .config import PresetConfig

#: bumped when the sampling below changes (recorded in the weights manifest)
DATA_VERSION = "world-train-v3"  # v3: per-clip sampling rngs (parallel cache)


@dataclass
class FeatureCache:
    """Cached training samples (CPU tensors).

    g_feats (F, C, hg, wg) float16 global backbone features; g_x (F, 4, .., ..)
    float16; g_present (F, 3); frame_night (F,) bool; frame_val (F,) bool.
    Per sample s (one expression in one frame): s_frame (S,) long,
    s_text (S,) long, s_gbox (S, 4) global-crop box, s_gvis (S,) bool,
    l_feats (S, C, hl, wl) float16, l_x, l_present, s_lbox (S, 4), s_lvis (S,).
    texts: list of strings; t_tokens (T, L, D) float16, t_mask (T, L) bool.
    Optional (None in caches built before they existed / without motion):
    g_region (F, 4), l_region (S, 4) float32 normalised region extents;
    g_gray (F, 2, H/2, W/2) uint8 [now, prev], g_gray_valid (F,) bool;
    l_gray (S, 2, .., ..) uint8, l_gray_valid (S,) bool.
    """

    g_feats: torch.Tensor
    g_x: torch.Tensor
    g_present: torch.Tensor
    frame_night: torch.Tensor
    frame_val: torch.Tensor
    s_frame: torch.Tensor
    s_text: torch.Tensor
    s_gbox: torch.Tensor
    s_gvis: torch.Tensor
    l_feats: torch.Tensor
    l_x: torch.Tensor
    l_present: torch.Tensor
    s_lbox: torch.Tensor
    s_lvis: torch.Tensor
    texts: List[str]
    t_tokens: torch.Tensor
    t_mask: torch.Tensor
    g_region: Optional[torch.Tensor] = None
    l_region: Optional[torch.Tensor] = None
    g_gray: Optional[torch.Tensor] = None
    g_gray_valid: Optional[torch.Tensor] = None
    l_gray: Optional[torch.Tensor] = None
    l_gray_valid: Optional[torch.Tensor] = None

    def save(self, path: str) -> None:
        torch.save({k: getattr(self, k) for k in self.__dataclass_fields__}, path)

    @classmethod
    def load(cls, path: str) -> "FeatureCache":
        return cls(**torch.load(path, map_location="cpu", weights_only=False))

    @property
    def num_samples(self) -> int:
        return int(self.s_frame.shape[0])


def _language_view(gt, width: int, height: int):
    """(objects attrs with in_view / ambiguity flags, boxes) as the WORLD
    language module expects them."""
    from ..data.language import position_words

    objects, boxes = {}, {}
    for oid, o in gt.objects.items():
        full = o.full_box_xyxy if o.full_box_xyxy is not None else o.box_xyxy
        _, _, h_amb, v_amb = position_words(full, width, height)
        objects[oid] = dict(o.attrs, in_view=o.in_view and o.visibility > 0.3, hpos_ambiguous=h_amb,
                            vpos_ambiguous=v_amb)
        boxes[oid] = full
    return objects, boxes


def _visible_center_in(box_crop: np.ndarray, out_hw) -> bool:
    cx = 0.5 * (box_crop[0] + box_crop[2]); cy = 0.5 * (box_crop[1] + box_crop[3])
    return 0 <= cx < out_hw[1] and 0 <= cy < out_hw[0]


class _Batcher:
    """Runs the frozen backbone over queued crops in batches."""

    def __init__(self, encoder, batch: int = 32):
        self.encoder = encoder
        self.batch = batch
        self.queue: List[np.ndarray] = []
        self.out: List[torch.Tensor] = []

    def add(self, image_chw: np.ndarray) -> None:
        self.queue.append(image_chw)
        if len(self.queue) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.queue:
            return
        with torch.no_grad():
            feats = self.encoder(torch.from_numpy(np.stack(self.queue)))
        self.out.append(feats.to(torch.float16))
        self.queue = []

    def result(self) -> torch.Tensor:
        self.flush()
        return torch.cat(self.out) if self.out else torch.zeros(0)


#: clips rendered and encoded together (one backbone batching unit). Fixed,
#: so a cache is the same whatever the number of workers.
CHUNK_CLIPS = 8


def _clip_rng(seed: int, clip_index: int) -> np.random.Generator:
    """The sampling rng of training clip ``clip_index`` (crops, jitter,
    extra expressions): per clip, so clips can be cached in any order or
    process and give the same samples."""
    return np.random.default_rng([int(seed) + 12345, int(clip_index)])


def _cache_chunk(cfg: PresetConfig, image_encoder, start: int, stop: int, n_clips: int) -> Dict[str, object]:
    """Render training clips ``start..stop-1`` (of ``n_clips``) and encode
    their crops with the frozen backbone. Returns the chunk's per-frame and
    per-sample lists (frame indices local to the chunk, expressions as
    strings) and its float16 feature tensors, merged by :func:`build_cache`."""
    from ..data.language import describe_single
    from ..data.suites import training_clips

    mc, tc = cfg.model, cfg.train
    q = mc.x_downsample
    g_batch, l_batch = _Batcher(image_encoder), _Batcher(image_encoder)
    out: Dict[str, list] = {k: [] for k in (
        "g_x", "g_present", "night", "val", "g_region", "g_gray", "g_gray_valid", "s_frame", "s_text", "s_gbox",
        "s_gvis", "l_x", "l_present", "s_lbox", "s_lvis", "l_region", "l_gray", "l_gray_valid")}
    motion = bool(mc.motion_input)
    n_val_clips = max(1, int(round(n_clips * tc.val_frac)))
    clips = training_clips(tc.seed, stop - start, mix=tc.mix, start=start, num_frames=tc.frames_per_clip,
                           modalities=("rgb", "depth", "thermal", "event"))
    for ci, clip in enumerate(clips, start=start):
        rng = _clip_rng(tc.seed, ci)
        is_val = ci >= n_clips - n_val_clips
        is_night = clip.conditions.get("lighting") in ("night",)
        H, W = clip.frames[0].height, clip.frames[0].width
        for fi in range(int(rng.integers(0, tc.frame_stride)), clip.num_frames, tc.frame_stride):
            frame, gt = clip.frames[fi], clip.gt[fi]
            targets = []  # (obj_id, text)
            expr = clip.active_expression(fi)
            if expr is not None and not expr.multi:
                targets.append((expr.referent_ids[0], expr.text))
            if tc.extra_expressions > 0:
                objects, boxes = _language_view(gt, W, H)
                others = [oid for oid, o in gt.objects.items()
                          if o.in_view and o.visibility >= 0.5 and oid not in [t[0] for t in targets]]
                rng.shuffle(others)
                for oid in others[: tc.extra_expressions]:
                    res = describe_single(oid, objects, boxes, rng, 0.15)
                    if res is not None:
                        targets.append((oid, res[4]))
            if not targets:
                continue
            fidx = len(out["g_x"])
            region = global_region((H, W), mc.global_size_hw)
            g_batch.add(normalize_image_rgb(crop_rgb(frame.image_rgb, region)))
            xg, pg = crop_x(region, q, frame.depth_m, frame.thermal_k, frame.event_frame)
            out["g_x"].append(xg.astype(np.float16)); out["g_present"].append(pg)
            out["night"].append(is_night); out["val"].append(is_val)
            out["g_region"].append(region_box_norm(region, (H, W)))
            if motion:
                gap = max(1, mc.motion_gap + int(rng.integers(-1, 2)))
                gnow = gray_u8(frame.image_rgb)
                gprev = gray_u8(clip.frames[fi - gap].image_rgb) if fi >= gap else None

                def gray_pair(reg):
                    now = crop_gray_u8(gnow, reg)
                    return np.stack([now, crop_gray_u8(gprev, reg) if gprev is not None else now]), gprev is not None

                pair, ok = gray_pair(region)
                out["g_gray"].append(pair); out["g_gray_valid"].append(ok)
            for oid, text in targets:
                o = gt.objects[oid]
                box = o.box_xyxy.astype(np.float32)
                vis = bool(o.in_view and o.visibility > 0.1)
                gbox = region.image_to_crop(box)[0]
                # local ROI: jittered around the target, or around a distractor
                anchor = box
                if rng.random() < tc.distractor_roi_prob:
                    dis = [d for d, od in gt.objects.items() if d != oid and od.in_view]
                    if dis:
                        anchor = gt.objects[dis[int(rng.integers(len(dis)))]].box_xyxy
                bw, bh = max(anchor[2] - anchor[0], 2.0), max(anchor[3] - anchor[1], 2.0)
                side = max(tc.roi_scale * math.sqrt(bw * bh), tc.min_roi_px) * 2 ** rng.uniform(-tc.jitter_scale, tc.jitter_scale)
                cx = 0.5 * (anchor[0] + anchor[2]) + rng.uniform(-1, 1) * tc.jitter_shift * side
                cy = 0.5 * (anchor[1] + anchor[3]) + rng.uniform(-1, 1) * tc.jitter_shift * side
                lreg = local_region(np.array([cx - 1, cy - 1, cx + 1, cy + 1]), mc.local_size, 1.0, side)
                l_batch.add(normalize_image_rgb(crop_rgb(frame.image_rgb, lreg)))
                xl, pl = crop_x(lreg, q, frame.depth_m, frame.thermal_k, frame.event_frame)
                lbox = lreg.image_to_crop(box)[0]
                out["l_region"].append(region_box_norm(lreg, (H, W)))
                if motion:
                    pair, ok = gray_pair(lreg)
                    out["l_gray"].append(pair); out["l_gray_valid"].append(ok)
                out["s_frame"].append(fidx); out["s_text"].append(text)
                out["s_gbox"].append(gbox); out["s_gvis"].append(vis and _visible_center_in(gbox, region.out_hw))
                out["l_x"].append(xl.astype(np.float16)); out["l_present"].append(pl)
                out["s_lbox"].append(lbox); out["s_lvis"].append(vis and _visible_center_in(lbox, lreg.out_hw))
    chunk: Dict[str, object] = dict(out)
    chunk["g_feats"], chunk["l_feats"] = g_batch.result(), l_batch.result()
    return chunk


# per worker process: (cfg, frozen image encoder), set by _init_worker
_WORKER: Dict[str, object] = {}


def _init_worker(cfg: PresetConfig, image_encoder) -> None:
    torch.set_num_threads(1)
    _WORKER["cfg"], _WORKER["encoder"] = cfg, image_encoder


def _worker_chunk(start: int, stop: int, n_clips: int) -> Dict[str, object]:
    return _cache_chunk(_WORKER["cfg"], _WORKER["encoder"], start, stop, n_clips)


def _chunks(cfg: PresetConfig, image_encoder, n_clips: int, workers: int, progress: bool):
    """Yield the chunks of clips 0..n_clips-1 in clip order, rendered in
    this process (``workers`` 1) or in ``workers`` spawned processes."""
    spans = [(a, min(a + CHUNK_CLIPS, n_clips)) for a in range(0, n_clips, CHUNK_CLIPS)]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_clips, desc=f"training clips ({workers} worker{'s' if workers > 1 else ''})",
                   unit="clip")
    try:
        if workers <= 1:
            for a, b in spans:
                yield _cache_chunk(cfg, image_encoder, a, b, n_clips)
                if bar is not None:
                    bar.update(b - a)
            return
        from .workers import ordered_pool_map

        chunks = ordered_pool_map(_worker_chunk, [(a, b, n_clips) for a, b in spans], workers, _init_worker,
                                  (cfg, image_encoder))
        for chunk, (a, b) in zip(chunks, spans):  # chunks first: its pool closes when it runs out
            yield chunk
            if bar is not None:
                bar.update(b - a)
    finally:
        if bar is not None:
            bar.close()


def build_cache(cfg: PresetConfig, image_encoder, text_encoder: TextEncoder, progress: bool = True,
                num_clips: Optional[int] = None, workers: Optional[int] = None) -> FeatureCache:
    """Render WORLD training clips and cache backbone features of every crop.

    Clips are processed in chunks of :data:`CHUNK_CLIPS`, each with per-clip
    sampling rngs, by ``workers`` processes (default ``train.cache_workers``;
    1 = this process). The cache does not depend on ``workers``."""
    tc = cfg.train
    n_clips = int(num_clips if num_clips is not None else tc.num_clips)
    workers = int(workers if workers is not None else tc.cache_workers)
    if workers < 1:
        raise ValueError(f"cache workers must be >= 1, got {workers}")
    motion = bool(cfg.model.motion_input)
    lists: Dict[str, list] = {}
    feats: Dict[str, list] = {"g_feats": [], "l_feats": []}
    text_ids: Dict[str, int] = {}
    n_frames = 0
    for chunk in _chunks(cfg, image_encoder, n_clips, workers, progress):
        chunk["s_frame"] = [f + n_frames for f in chunk["s_frame"]]
        chunk["s_text"] = [text_ids.setdefault(t, len(text_ids)) for t in chunk["s_text"]]
        n_frames += len(chunk["g_x"])
        for k, v in chunk.items():
            if k in feats:
                if v.numel():  # a chunk whose clips gave no sample has an empty (0,) tensor
                    feats[k].append(v)
            else:
                lists.setdefault(k, []).extend(v)
    if not lists.get("s_frame"):
        raise ValueError(f"no training samples in {n_clips} clips")
    texts = [t for t, _ in sorted(text_ids.items(), key=lambda kv: kv[1])]
    enc = text_encoder.encode_batch(texts)

    def stack(k):
        return torch.from_numpy(np.stack(lists[k]))

    return FeatureCache(
        g_feats=torch.cat(feats["g_feats"]), g_x=stack("g_x"), g_present=stack("g_present"),
        frame_night=torch.tensor(lists["night"]), frame_val=torch.tensor(lists["val"]),
        s_frame=torch.tensor(lists["s_frame"], dtype=torch.long), s_text=torch.tensor(lists["s_text"], dtype=torch.long),
        s_gbox=stack("s_gbox"), s_gvis=torch.tensor(lists["s_gvis"]),
        l_feats=torch.cat(feats["l_feats"]), l_x=stack("l_x"), l_present=stack("l_present"),
        s_lbox=stack("s_lbox"), s_lvis=torch.tensor(lists["s_lvis"]),
        texts=texts, t_tokens=torch.from_numpy(np.stack([e.tokens for e in enc])).to(torch.float16),
        t_mask=torch.from_numpy(np.stack([e.mask for e in enc])),
        g_region=stack("g_region"), l_region=stack("l_region"),
        g_gray=stack("g_gray") if motion else None,
        g_gray_valid=torch.tensor(lists["g_gray_valid"]) if motion else None,
        l_gray=stack("l_gray") if motion else None,
        l_gray_valid=torch.tensor(lists["l_gray_valid"]) if motion else None,
    )
