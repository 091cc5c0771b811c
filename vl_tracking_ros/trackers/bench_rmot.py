"""``vl-tracking bench rmot``: speed of the referring multi-object path.

Renders a synthetic clip with ``--objects`` objects (default 10), gives the
tracker ``--expressions`` simultaneous "track all ..." commands (default 3,
taken from the WORLD language module so they are real expressions of that
scene), steps every frame and reports per-frame latency (mean / p50 / p90),
FPS, per-stage timings and the number of live tracks and scored
(expression, track) pairs. Warm-up frames are excluded.

    vl-tracking bench rmot --json out/bench_rmot.json [--threads 2] [--frames 60]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any, Dict, List

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="rmot-small", help="tracker preset (default rmot-small)")
    parser.add_argument("--json", required=True, help="write the figures to this JSON file")
    parser.add_argument("--frames", type=int, default=60, help="frames to time (after warm-up)")
    parser.add_argument("--warmup", type=int, default=8, help="untimed warm-up frames")
    parser.add_argument("--objects", type=int, default=10, help="objects in the scene (tracks)")
    parser.add_argument("--expressions", type=int, default=3, help="simultaneous 'track all' expressions")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=424242, help="scene seed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "tensorrt"),
                        help="engine for the backbone + OneTrack-M (FlexHook stays in torch)")


def _expressions(clip, n: int, seed: int) -> List[str]:
    from ..data.language import describe_multi
    from ..data.world import _language_view

    rng = np.random.default_rng(seed)
    cfg = clip.config
    objects, boxes = _language_view(clip.gt[0], cfg.width, cfg.height)
    texts: List[str] = [e.text for e in clip.expressions if e.multi][:n]
    ids = sorted(objects)
    tries = 0
    while len(texts) < n and tries < 200:
        tries += 1
        _, _, text = describe_multi(int(rng.choice(ids)), objects, boxes, rng)
        if text not in texts:
            texts.append(text)
    if len(texts) < n:
        raise RuntimeError(f"could not make {n} distinct expressions for the benchmark scene")
    return texts


def run(args: argparse.Namespace) -> int:
    import torch

    from ..core.types import TargetQuery
    from ..data.scene import ClipConfig
    from ..data.world import render_clip
    from .registry import build_tracker

    if args.frames < 1 or args.objects < 1 or args.expressions < 1:
        raise ValueError("--frames, --objects and --expressions must be >= 1")
    torch.set_num_threads(int(args.threads))
    n_frames = args.frames + args.warmup
    clip = render_clip(ClipConfig(num_frames=n_frames, num_objects=min(args.objects, 12), multi_target=True,
                                  target_speed="normal", modalities=("rgb", "thermal")), args.seed)
    texts = _expressions(clip, args.expressions, args.seed)
    tracker = build_tracker(args.preset, device=args.device, threads=args.threads,
                            backend=args.backend)
    tracker.set_commands([TargetQuery(t, multi=True) for t in texts])
    lat, stages, n_tracks, n_reported = [], {}, [], []
    from tqdm import tqdm

    for i, frame in enumerate(tqdm(clip.frames, desc="bench rmot", unit="frame")):
        t0 = time.perf_counter()
        out = tracker.step(frame)
        dt = time.perf_counter() - t0
        if i < args.warmup:
            continue
        lat.append(dt * 1e3)
        for k, v in out.timings_ms.items():
            stages.setdefault(k, []).append(v)
        assoc = getattr(tracker, "associator", None)
        n_tracks.append(len(assoc.confirmed_visible()) if assoc is not None else len(out.tracks))
        n_reported.append(len(out.tracks))
    lat_a = np.asarray(lat)
    result: Dict[str, Any] = {
        "preset": args.preset, "device": args.device, "threads": args.threads,
        "backend": args.backend,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
        "frames": len(lat), "expressions": texts, "objects_in_scene": min(args.objects, 12),
        "mean_confirmed_tracks": float(np.mean(n_tracks)), "min_confirmed_tracks": int(np.min(n_tracks)),
        "mean_reported_tracks": float(np.mean(n_reported)),
        "latency_ms": {"mean": float(lat_a.mean()), "p50": float(np.percentile(lat_a, 50)),
                       "p90": float(np.percentile(lat_a, 90))},
        "fps": float(1e3 / lat_a.mean()),
        "stages_ms": {k: float(np.mean(v)) for k, v in stages.items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps({k: result[k] for k in ("fps", "latency_ms", "mean_confirmed_tracks", "stages_ms")}, indent=2))
    tracker.close()
    return 0
