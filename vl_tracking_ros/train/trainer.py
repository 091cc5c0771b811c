"""Two-stage training of the language tracker (MVLM + COST + XTrack).

Stage 1 (RGB base): fusion, heads, projections, [OBJ] token trained with
    L = L_track + w_cm * L_CM + w_con * L_InfoNCE      (MVLM Eq. L_total; COST)
Stage 2 (MeME): the RGB base is frozen (XTrack), only the X patch embedding
    and the MeME modules train, each sample with one X modality (XTrack
    trains on one RGB-X pair at a time):
    L = L_track + w_cm * L_CM + w_moe * (L_cls + lambda * L_balance)

Both stages read the :class:`FeatureCache`, half global / half local search
samples per batch, checkpoint every ``ckpt_every`` steps and resume from the
last checkpoint. Seeds are fixed.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..models.config import X_MODALITY_ORDER
from ..models.network import LanguageTrackingNetwork
from ..models.search_region import motion_images
from .config import PresetConfig
from .data import FeatureCache
from .ema import WeightEMA
from .losses import contrastive_loss, correlation_margin_loss, moe_loss, tracking_loss

LOG = logging.getLogger(__name__)


def _motion_input(gray_u8: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Cached (B, 2, h, w) uint8 [now, prev] + (B,) bool -> (B, 3, h, w)
    float32 ``motion_images``, built by the tracker's own
    :func:`models.search_region.motion_images`."""
    g = gray_u8.numpy()
    return torch.from_numpy(motion_images(g[:, 0], g[:, 1], valid.numpy()))


def make_batch(cache: FeatureCache, idx: np.ndarray, local: np.ndarray, rng: np.random.Generator,
               with_x: bool, x_modalities, motion: bool = False,
               abs_position: bool = False) -> Dict[str, torch.Tensor]:
    """Assemble one batch. ``local[i]`` picks the local crop of sample idx[i],
    else its frame's global crop. Global and local samples are kept as two
    sub-batches (different grid sizes): returns {"g": {...}, "l": {...}}.
    ``motion`` / ``abs_position`` add ``motion_images`` / ``region_box``
    (the cache must hold them: built with a config that enables them)."""
    if motion and cache.g_gray is None:
        raise ValueError("the feature cache has no motion crops: rebuild it with model.motion_input: true")
    if abs_position and cache.g_region is None:
        raise ValueError("the feature cache has no region boxes: rebuild it (data version world-train-v2)")
    out = {}
    for key, sel in (("g", idx[~local]), ("l", idx[local])):
        if len(sel) == 0:
            continue
        t = torch.from_numpy(sel)
        tid = cache.s_text[t]
        d = {"text_tokens": cache.t_tokens[tid].float(), "text_mask": cache.t_mask[tid], "text_ids": tid}
        if key == "g":
            f = cache.s_frame[t]
            d["feats"] = cache.g_feats[f].float(); d["boxes"] = cache.s_gbox[t].float(); d["visible"] = cache.s_gvis[t]
            x, present = cache.g_x[f].float(), cache.g_present[f].clone()
            if motion:
                d["motion_images"] = _motion_input(cache.g_gray[f], cache.g_gray_valid[f])
            if abs_position:
                d["region_box"] = cache.g_region[f].float()
        else:
            d["feats"] = cache.l_feats[t].float(); d["boxes"] = cache.s_lbox[t].float(); d["visible"] = cache.s_lvis[t]
            x, present = cache.l_x[t].float(), cache.l_present[t].clone()
            if motion:
                d["motion_images"] = _motion_input(cache.l_gray[t], cache.l_gray_valid[t])
            if abs_position:
                d["region_box"] = cache.l_region[t].float()
        if with_x:
            # one X modality per sample (XTrack: one RGB-X pair at a time)
            choice = rng.integers(0, len(x_modalities), size=len(sel))
            keep = torch.zeros_like(present)
            for i, c in enumerate(choice):
                keep[i, X_MODALITY_ORDER.index(x_modalities[c])] = 1.0
            d["x_present"] = present * keep
            d["x_images"] = x
            d["modality_label"] = torch.from_numpy(choice.astype(np.int64))
            d["x_valid"] = d["x_present"].sum(1) > 0
        out[key] = d
    return out


def compute_losses(net: LanguageTrackingNetwork, batch: Dict[str, Dict[str, torch.Tensor]], cfg: PresetConfig,
                   stage: int) -> Dict[str, torch.Tensor]:
    tc = cfg.train
    stride = cfg.model.stride
    totals: Dict[str, torch.Tensor] = {}
    n_all = sum(int(b["feats"].shape[0]) for b in batch.values())
    for key, b in batch.items():
        w = b["feats"].shape[0] / n_all
        out = net.forward_features(b["feats"], b["text_tokens"], b["text_mask"], b.get("x_images"), b.get("x_present"),
                                   b.get("motion_images"), b.get("region_box"))
        parts = tracking_loss(out, b["boxes"], b["visible"], stride)
        parts["cm"] = correlation_margin_loss(out["corr"], b["boxes"], b["visible"], stride, tc.cm_tau, tc.cm_topk)
        loss = parts["track"] + tc.w_cm * parts["cm"]
        if stage == 1 and tc.w_con > 0:
            grid = tuple(out["corr"].shape[1:])
            parts["con"] = contrastive_loss(out["con_vis_tokens"], out["con_text"], b["boxes"], b["visible"],
                                            b["text_ids"], grid, stride, tc.con_temperature)
            loss = loss + tc.w_con * parts["con"]
        if stage == 2 and "router_probs_tokens" in out:
            m = moe_loss(out, b["modality_label"], len(net.x_modalities), b["x_valid"], tc.moe_balance)
            parts.update(m)
            loss = loss + tc.w_moe * m["moe"]
        parts["loss"] = loss
        for k, v in parts.items():
            totals[k] = totals.get(k, 0.0) + w * v
    return totals


def _set_stage_trainable(net: LanguageTrackingNetwork, stage: int):
    for p in net.parameters():
        p.requires_grad_(False)
    params = net.base_parameters_all() if stage == 1 else net.meme_parameters()
    for p in params:
        p.requires_grad_(True)
    return params


def train_stage(net: LanguageTrackingNetwork, cache: FeatureCache, cfg: PresetConfig, stage: int, steps: int,
                ckpt_dir: str, progress: bool = True, resume: bool = True,
                ckpt_name: Optional[str] = None) -> Dict[str, float]:
    """Train one stage for ``steps`` optimiser steps; returns the mean of the
    last 50 steps' losses. Resumes from ``ckpt_dir/<ckpt_name>``
    (default ``stage{stage}.pt``).

    With ``train.ema_decay > 0`` an EMA of the trained parameters is kept
    (checkpointed beside the raw weights, which stay under ``model``) and
    copied into ``net`` when the stage ends."""
    tc = cfg.train
    params = _set_stage_trainable(net, stage)
    lr = tc.stage2_lr if (stage == 2 and tc.stage2_lr > 0) else tc.lr
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    ckpt_path = os.path.join(ckpt_dir, ckpt_name or f"stage{stage}.pt")
    start = 0
    rng = np.random.default_rng(tc.seed * 1000 + stage)
    torch.manual_seed(tc.seed * 1000 + stage)
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False) if resume and os.path.isfile(ckpt_path) else None
    if ck is not None:
        net.load_state_dict(ck["model"], strict=False)
        opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        start = int(ck["step"]); rng.bit_generator.state = ck["rng"]; torch.set_rng_state(ck["torch_rng"])
        LOG.info("resumed stage %d at step %d", stage, start)
    # the average starts at the (resumed) weights, or continues a checkpointed one
    ema = (WeightEMA([(n, p) for n, p in net.named_parameters() if p.requires_grad], tc.ema_decay)
           if tc.ema_decay > 0 else None)
    if ema is not None and ck is not None:
        if ck.get("ema") is not None:
            ema.load_state_dict(ck["ema"])
        else:
            LOG.warning("stage %d checkpoint has no weight EMA; averaging from step %d on", stage, start)
    train_idx = np.nonzero(~cache.frame_val[cache.s_frame].numpy())[0]
    if stage == 2:  # MeME matters most where RGB fails: oversample night frames
        night = cache.frame_night[cache.s_frame].numpy()[train_idx]
        prob = np.where(night, 2.0, 1.0); prob = prob / prob.sum()
    else:
        prob = None
    net.train()
    history = []
    bar = range(start, steps)
    if progress:
        from tqdm import tqdm
        bar = tqdm(bar, initial=start, total=steps, desc=f"stage {stage}", unit="step", dynamic_ncols=True)
    for step in bar:
        idx = rng.choice(train_idx, size=tc.batch_size, replace=len(train_idx) < tc.batch_size, p=prob)
        local = rng.random(tc.batch_size) < 0.5
        batch = make_batch(cache, idx, local, rng, stage == 2, net.x_modalities, net.cfg.motion_input,
                           net.cfg.abs_position)
        parts = compute_losses(net, batch, cfg, stage)
        opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step(); sched.step()
        if ema is not None:
            ema.update()
        history.append({k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in parts.items()})
        if progress:
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", focal=f"{history[-1]['focal']:.3f}",
                            cm=f"{history[-1]['cm']:.3f}")
        if (step + 1) % tc.ckpt_every == 0 or step + 1 == steps:
            os.makedirs(ckpt_dir, exist_ok=True)
            torch.save({"model": net.trained_state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step + 1, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                        "ema": ema.state_dict() if ema is not None else None},
                       ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)
    if ema is not None:
        ema.copy_to_params()
    tail = history[-50:]
    return {k: float(np.mean([h[k] for h in tail])) for k in (tail[0] if tail else {})}


def round_ckpt_name(index: int, rnd: Dict[str, Any]) -> str:
    """Checkpoint file of ``train.rounds[index]``; the name carries the
    round's settings, so an edited round never resumes another's state."""
    return f"round{index}-stage{rnd['stage']}-{rnd['steps']}-seed{rnd['seed']}-lr{float(rnd['lr']):g}.pt"


def train_round(net: LanguageTrackingNetwork, cache: FeatureCache, cfg: PresetConfig, index: int,
                ckpt_dir: str, progress: bool = True, resume: bool = True) -> Dict[str, float]:
    """Run ``cfg.train.rounds[index]``: :func:`train_stage` of its stage for its
    steps, with its ``lr`` as the stage's peak rate and its ``seed`` as
    ``train.seed`` (which seeds the batch draws and torch), on whatever
    weights ``net`` holds. The same round gives the same weights at the end
    of a run from nothing or on weights loaded from a file (tested)."""
    rnd = cfg.train.rounds[index]
    stage = int(rnd["stage"])
    lr = float(rnd["lr"])
    tc = dataclasses.replace(cfg.train, seed=int(rnd["seed"]), rounds=[],
                             **({"lr": lr} if stage == 1 else {"stage2_lr": lr}))
    LOG.info("round %d: stage %d, %d steps, seed %d, peak lr %g", index, stage, rnd["steps"], rnd["seed"], lr)
    return train_stage(net, cache, dataclasses.replace(cfg, train=tc), stage, int(rnd["steps"]), ckpt_dir,
                       progress=progress, resume=resume, ckpt_name=round_ckpt_name(index, rnd))


@torch.no_grad()
def validate(net: LanguageTrackingNetwork, cache: FeatureCache, cfg: PresetConfig, with_x: bool,
             night_only: bool = False, max_samples: int = 256) -> Dict[str, float]:
    """Held-out-clip accuracy: fraction of visible targets whose heatmap
    peak lies inside the GT box (global and local crops)."""
    net.eval()
    idx = np.nonzero(cache.frame_val[cache.s_frame].numpy())[0]
    if night_only:
        idx = idx[cache.frame_night[cache.s_frame].numpy()[idx]]
    idx = idx[:max_samples]
    res = {}
    if len(idx) == 0:
        return res
    rng = np.random.default_rng(0)
    mods = ["thermal"] if with_x and "thermal" in net.x_modalities else list(net.x_modalities)
    for key, local in (("global", False), ("local", True)):
        batch = make_batch(cache, idx, np.full(len(idx), local), rng, with_x, mods, net.cfg.motion_input,
                           net.cfg.abs_position)[key[0]]
        out = net.forward_features(batch["feats"], batch["text_tokens"], batch["text_mask"],
                                   batch.get("x_images"), batch.get("x_present"),
                                   batch.get("motion_images"), batch.get("region_box"))
        hm = out["heatmap_logits"][:, 0]
        b, h, w = hm.shape
        arg = hm.reshape(b, -1).argmax(1)
        cx = (arg % w).float() * 16 + 8; cy = (arg // w).float() * 16 + 8
        box = batch["boxes"]; vis = batch["visible"]
        hit = (cx >= box[:, 0] - 8) & (cx <= box[:, 2] + 8) & (cy >= box[:, 1] - 8) & (cy <= box[:, 3] + 8)
        res[f"{key}_peak_in_box"] = float(hit[vis].float().mean()) if vis.any() else float("nan")
    net.train()
    return res
