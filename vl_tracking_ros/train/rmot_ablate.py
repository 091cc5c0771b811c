"""Ablations of the rmot preset (issue 5) on the cached training features.

Each variant retrains only the part it changes, starting from the same
cached clips as the shipped model, and takes the other part from the shipped
weights, so the comparison isolates one mechanism:

* ``tmp`` / ``joint``  OneTrack-M retrained with the part-based schedule /
                 joint-from-start, same total steps (``--onetrack-steps``
                 rescales the schedule for a short paired comparison);
* ``notemporal`` OneTrack-M without the channel-wise temporal encoding;
* ``cosine``     FlexHook's PCD replaced by cosine similarity of pooled
                 features (the iKUN-style baseline);
* ``nocond``     FlexHook without C-Hook conditioning (no reference points);
* ``nonoise``    FlexHook trained without tracking-noise perturbations;
* ``retrain``    FlexHook retrained unchanged (the control: what a fresh
                 sampling order alone moves; ``--flexhook-steps`` then
                 measures a longer or shorter FlexHook stage).

    python -m vl_tracking_ros.train.rmot_ablate --variant cosine [--eval rmot]

writes ``<out-dir>/<variant>.yaml`` + ``<variant>.safetensors`` (never into
``weights/``) and, with ``--eval SUITE``, the suite metrics JSON.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import yaml

VARIANTS = {
    "tmp": ("onetrack", lambda c: c["train"]["onetrack"].__setitem__("schedule", "tmp")),
    "joint": ("onetrack", lambda c: c["train"]["onetrack"].__setitem__("schedule", "joint")),
    "notemporal": ("onetrack", lambda c: c["model"]["onetrack"].__setitem__("temporal_encoding", "none")),
    "cosine": ("flexhook", lambda c: c["model"]["flexhook"].__setitem__("scorer", "cosine")),
    "nocond": ("flexhook", lambda c: c["model"]["flexhook"].__setitem__("use_conditioning", False)),
    "nonoise": ("flexhook", lambda c: c["train"]["flexhook"].__setitem__("noise", "off")),
    "retrain": ("flexhook", lambda c: None),
}


def variant_config(base: Dict[str, Any], variant: str) -> Dict[str, Any]:
    if variant not in VARIANTS:
        raise ValueError(f"unknown ablation {variant!r}; valid: {', '.join(VARIANTS)}")
    cfg = copy.deepcopy(base)
    VARIANTS[variant][1](cfg)
    cfg["preset"] = f"{base.get('preset', 'rmot-small')}-{variant}"
    return cfg


def scale_steps(cfg: Dict[str, Any], total: int) -> None:
    """Rescale ``train.onetrack.steps`` to ``total`` steps, same proportions."""
    steps = dict(cfg["train"]["onetrack"]["steps"])
    s = sum(int(v) for v in steps.values())
    scaled = {k: max(1, int(round(int(v) * total / s))) for k, v in steps.items()}
    scaled["joint"] += total - sum(scaled.values())
    cfg["train"]["onetrack"]["steps"] = scaled


def detection_metrics(onetrack, clips, threshold: float = 0.3, nms_iou: float = 0.5) -> Dict[str, float]:
    """Raw OneTrack-M detection quality on cached clips (newest frame of each
    window): recall / precision at IoU 0.5, median best IoU per object, and
    the L1 error of the displacement head at matched objects (input px)."""
    from ..models.onetrack_backbone import with_thermal
    from ..models.onetrack_heads import decode_frame

    def iou(a, b):
        ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = ix * iy
        return inter / max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)

    w = onetrack.cfg.window
    best, tp, n_det, disp_err = [], 0, 0, []
    onetrack.eval()
    with torch.no_grad():
        for c in clips:
            for t in range(w - 1, c.num_frames, 2):
                f16, f8 = c.f16[t - w + 1:t + 1].float()[None], c.f8[t - w + 1:t + 1].float()[None]
                if onetrack.cfg.thermal_input:
                    f16, f8 = with_thermal(f16, f8, c.th8[t - w + 1:t + 1].float()[None])
                out = onetrack.forward_features(f16, f8, last_only=True)
                d = decode_frame({k: v[0, 0] for k, v in out.items()}, threshold, 50, nms_iou)
                n_det += len(d.scores)
                used = set()
                for oid, g in c.boxes[t].items():
                    ious = [iou(b, g) for b in d.boxes_xyxy]
                    j = int(np.argmax(ious)) if ious else -1
                    best.append(ious[j] if j >= 0 else 0.0)
                    if j >= 0 and ious[j] >= 0.5 and j not in used:
                        used.add(j)
                        tp += 1
                        prev = c.boxes[t - 1].get(oid) if t > 0 else None
                        if prev is not None:
                            gd = np.array([(g[0] + g[2] - prev[0] - prev[2]) / 2, (g[1] + g[3] - prev[1] - prev[3]) / 2])
                            c_det = (d.boxes_xyxy[j, :2] + d.boxes_xyxy[j, 2:]) / 2
                            disp_err.append(float(np.abs((c_det - d.prev_centers_xy[j]) - gd).mean()))
    n_gt = len(best)
    return {"recall@0.5": tp / max(n_gt, 1), "precision@0.5": tp / max(n_det, 1),
            "median_best_iou": float(np.median(best)) if best else 0.0,
            "disp_l1_px": float(np.mean(disp_err)) if disp_err else float("nan"), "objects": n_gt}


def train_variant(base: Dict[str, Any], variant: str, base_weights: str, out_dir: str,
                  progress: bool = True, onetrack_steps: Optional[int] = None,
                  flexhook_steps: Optional[int] = None) -> str:
    """Train one ablation; returns the path of its YAML (weights beside it).
    ``onetrack_steps`` rescales the OneTrack-M schedule, ``flexhook_steps``
    sets ``train.flexhook.steps`` (both recorded in the variant's YAML)."""
    from ..trackers.referring_tracker import RmotModels, load_weights, model_config_from_dict, save_weights
    from .rmot_train import prepare_data, train_flexhook, train_onetrack

    cfg = variant_config(base, variant)
    part = VARIANTS[variant][0]
    if onetrack_steps:
        scale_steps(cfg, int(onetrack_steps))
    if flexhook_steps:
        cfg["train"]["flexhook"]["steps"] = int(flexhook_steps)
    tcfg = dict(cfg.get("train", {}))
    if tcfg.get("threads"):
        torch.set_num_threads(int(tcfg["threads"]))
    seed = int(tcfg.get("seed", 0))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    base_models = RmotModels(model_config_from_dict(base["model"]))
    load_weights(base_models, base_weights, str(base.get("preset", "rmot-small")))
    model_cfg = model_config_from_dict(cfg["model"])
    models = RmotModels(model_cfg)
    clips, bank = prepare_data(tcfg, model_cfg, progress)
    log: List[Dict[str, Any]] = []
    if part == "onetrack":
        models.flexhook.load_state_dict(base_models.flexhook.state_dict())
        train_onetrack(models.onetrack, clips, dict(tcfg.get("onetrack", {})), rng, log, progress)
    else:
        models.onetrack.load_state_dict(base_models.onetrack.state_dict())
        train_flexhook(models.flexhook, clips, bank, dict(tcfg.get("flexhook", {})), rng, log, progress)
    os.makedirs(out_dir, exist_ok=True)
    wpath = os.path.join(out_dir, f"{variant}.safetensors")
    save_weights(models, wpath, cfg["preset"])
    ypath = os.path.join(out_dir, f"{variant}.yaml")
    with open(ypath, "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    with open(os.path.join(out_dir, f"{variant}.trainlog.json"), "w", encoding="utf-8") as fh:
        json.dump(log, fh)
    return ypath


def evaluate(config_path: str, weights_path: Optional[str], suite: str, out_json: str, threads: int = 1,
             max_clips: Optional[int] = None, answer_single: bool = False,
             seed: Optional[int] = None) -> Dict[str, Any]:
    """Run EVAL's suite runner with a preset built from ``config_path`` and
    ``weights_path``; adds ID switches per 100 frames (from the clips' MOT
    sequences, which exist for single-target clips too when
    ``answer_single``: the single expression is then answered as
    "track all <expression>"). ``seed`` overrides the suite's seed (e.g. the
    validation seed 77 of ``rmot`` instead of the evaluation seed)."""
    from ..data.suites import get_suite
    from ..eval.cli_eval import build_report, write_json
    from ..eval.mot_metrics import clear_identity
    from ..eval.runner import evaluate_clips
    from ..trackers.referring_tracker import build_from_config

    torch.set_num_threads(threads)
    tracker = build_from_config(config_path, weights_path=weights_path, verify_hash=weights_path is None,
                                answer_single=answer_single)
    s = get_suite(suite, seed=seed)
    result = evaluate_clips(tracker, s.clips(), suite=suite, seed=s.seed, tracker_name=tracker.name,
                            total_clips=len(s), max_clips=max_clips)
    report = build_report(result)
    seqs = [c.mot_sequence() for c in result.clips]
    ids = clear_identity(seqs)["COMBINED"]
    frames = sum(c.num_frames for c in result.clips)
    report["mot_all_clips"] = {"IDsw": ids["IDsw"], "IDF1": ids["IDF1"], "MOTA": ids["MOTA"], "frames": frames,
                               "IDsw_per_100_frames": 100.0 * float(ids["IDsw"]) / max(frames, 1)}
    report["weights"] = weights_path or "shipped"
    write_json(report, out_json)
    return report


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vl_tracking_ros.train.rmot_ablate", description=__doc__.split("\n")[0])
    p.add_argument("--config", default="config/models/rmot-small.yaml")
    p.add_argument("--weights", default="weights/rmot-small.safetensors", help="shipped weights (the base)")
    p.add_argument("--variant", action="append", default=[], help=f"one of {', '.join(VARIANTS)} (repeatable)")
    p.add_argument("--out-dir", default="runs/rmot/ablations")
    p.add_argument("--eval", default=None, help="also evaluate on this suite (e.g. rmot)")
    p.add_argument("--eval-only", action="store_true", help="do not train; evaluate existing variant files")
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--eval-seed", type=int, default=None, help="suite seed for --eval (default: the suite's own)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--onetrack-steps", type=int, default=None, help="rescale OneTrack-M steps (tmp/joint)")
    p.add_argument("--flexhook-steps", type=int, default=None, help="FlexHook steps of flexhook variants")
    p.add_argument("--val-cache", default=None, help="cached validation clips for --detection")
    p.add_argument("--detection", action="store_true", help="report raw detection metrics on --val-cache")
    args = p.parse_args(argv)
    with open(args.config, "r", encoding="utf-8") as fh:
        base = yaml.safe_load(fh)
    for v in args.variant:
        ypath = os.path.join(args.out_dir, f"{v}.yaml")
        if not args.eval_only:
            ypath = train_variant(base, v, args.weights, args.out_dir, onetrack_steps=args.onetrack_steps,
                                  flexhook_steps=args.flexhook_steps)
        if args.detection:
            from ..trackers.referring_tracker import RmotModels, load_weights, model_config_from_dict
            from .rmot_data import load_cache

            with open(ypath, "r", encoding="utf-8") as fh:
                vcfg = yaml.safe_load(fh)
            m = RmotModels(model_config_from_dict(vcfg["model"]))
            load_weights(m, os.path.join(args.out_dir, f"{v}.safetensors"), vcfg["preset"])
            det = detection_metrics(m.onetrack, load_cache(args.val_cache))
            with open(os.path.join(args.out_dir, f"{v}.detection.json"), "w", encoding="utf-8") as fh:
                json.dump(det, fh, indent=1)
            print(v, "detection", json.dumps(det))
        if args.eval:
            rep = evaluate(ypath, os.path.join(args.out_dir, f"{v}.safetensors"), args.eval,
                           os.path.join(args.out_dir, f"{v}.{args.eval}.json"), args.threads, args.max_clips,
                           seed=args.eval_seed)
            print(v, json.dumps({k: rep.get(k) for k in ("HOTA", "DetA", "AssA", "IDF1", "IDsw", "fps")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
