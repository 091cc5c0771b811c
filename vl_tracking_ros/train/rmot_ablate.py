"""Ablations of the rmot preset (issue 5) on the cached training features.

Each variant retrains only the part it changes, starting from the same
cached clips as the shipped model, and takes the other part from the shipped
weights, so the comparison isolates one mechanism:

* ``joint``      OneTrack-M trained joint-from-start (vs part-based TMP), same steps;
* ``notemporal`` OneTrack-M without the channel-wise temporal encoding;
* ``cosine``     FlexHook's PCD replaced by cosine similarity of pooled
                 features (the iKUN-style baseline);
* ``nocond``     FlexHook without C-Hook conditioning (no reference points);
* ``nonoise``    FlexHook trained without tracking-noise perturbations.

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
    "joint": ("onetrack", lambda c: c["train"]["onetrack"].__setitem__("schedule", "joint")),
    "notemporal": ("onetrack", lambda c: c["model"]["onetrack"].__setitem__("temporal_encoding", "none")),
    "cosine": ("flexhook", lambda c: c["model"]["flexhook"].__setitem__("scorer", "cosine")),
    "nocond": ("flexhook", lambda c: c["model"]["flexhook"].__setitem__("use_conditioning", False)),
    "nonoise": ("flexhook", lambda c: c["train"]["flexhook"].__setitem__("noise", "off")),
}


def variant_config(base: Dict[str, Any], variant: str) -> Dict[str, Any]:
    if variant not in VARIANTS:
        raise ValueError(f"unknown ablation {variant!r}; valid: {', '.join(VARIANTS)}")
    cfg = copy.deepcopy(base)
    VARIANTS[variant][1](cfg)
    cfg["preset"] = f"{base.get('preset', 'rmot-small')}-{variant}"
    return cfg


def train_variant(base: Dict[str, Any], variant: str, base_weights: str, out_dir: str,
                  progress: bool = True) -> str:
    """Train one ablation; returns the path of its YAML (weights beside it)."""
    from ..trackers.referring_tracker import RmotModels, load_weights, model_config_from_dict, save_weights
    from .rmot_train import prepare_data, train_flexhook, train_onetrack

    cfg = variant_config(base, variant)
    part = VARIANTS[variant][0]
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
             max_clips: Optional[int] = None, answer_single: bool = False) -> Dict[str, Any]:
    """Run EVAL's suite runner with a preset built from ``config_path`` and
    ``weights_path``; adds ID switches per 100 frames (from the clips' MOT
    sequences, which exist for single-target clips too when
    ``answer_single``: the single expression is then answered as
    "track all <expression>")."""
    from ..data.suites import get_suite
    from ..eval.cli_eval import build_report, write_json
    from ..eval.mot_metrics import clear_identity
    from ..eval.runner import evaluate_clips
    from ..trackers.referring_tracker import build_from_config

    torch.set_num_threads(threads)
    tracker = build_from_config(config_path, weights_path=weights_path, verify_hash=weights_path is None,
                                answer_single=answer_single)
    s = get_suite(suite)
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
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    with open(args.config, "r", encoding="utf-8") as fh:
        base = yaml.safe_load(fh)
    for v in args.variant:
        ypath = os.path.join(args.out_dir, f"{v}.yaml")
        if not args.eval_only:
            ypath = train_variant(base, v, args.weights, args.out_dir)
        if args.eval:
            rep = evaluate(ypath, os.path.join(args.out_dir, f"{v}.safetensors"), args.eval,
                           os.path.join(args.out_dir, f"{v}.{args.eval}.json"), args.threads, args.max_clips)
            print(v, json.dumps({k: rep.get(k) for k in ("HOTA", "DetA", "AssA", "IDF1", "IDsw", "fps")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
