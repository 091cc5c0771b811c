"""``vl-tracking bench [model]``: per-stage latency, FPS and memory of a preset.

    vl-tracking bench model --model mvlm-small --backend onnxruntime --device cpu --json OUT
    vl-tracking bench model --model mvlm-small --compare-cpu-backends --json OUT
    vl-tracking bench model --model mvlm-small --backend tensorrt --device cuda --precision fp16 --streams 8 --json OUT

Sections of the JSON (and the printed table):

* ``text_encode`` -- latency of encoding a *new* command (cache miss) with the
  preset's text encoder on the CPU, and how many per-frame engine calls it
  caused (must be 0: text never touches the image engine).
* ``network`` -- per backend and variant (local ROI / global image): warm-up,
  then latency p50/p95 of one ``Backend.forward`` on generated frames at
  batch = ``--streams`` (N camera streams batched into one pass), frames/s.
* ``end_to_end`` -- the real tracker preset (``build_tracker(preset,
  backend=...)``) stepping generated RGB + X frames: per-stage latency from
  the tracker's own ``timings_ms`` (preprocess, network, postprocess, gating)
  plus the whole ``step``, frames/s. A preset that cannot be built here is
  recorded with the reason, never faked.
* memory -- peak RSS of the process (and CUDA max allocated on a GPU).
* ``machine`` -- CPU model, cores, memory, GPU, library versions.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .benchstats import latency_stats, machine_info, peak_rss_mb, time_calls

LOG = logging.getLogger(__name__)

#: the issue's targets; GPU ones can only be checked on a GPU machine
TARGETS = {
    "cpu_end_to_end_fps_min": 15.0,
    "text_encode_p50_ms_max": 20.0,
    "gpu_network_fps_small_fp16_b1_min": 1000.0,
    "gpu_network_fps_large_fp16_b1_min": 300.0,
    "streams8_over_streams1_min": 4.0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="mvlm-small", help="tracker preset (default mvlm-small)")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "tensorrt"))
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    parser.add_argument("--streams", type=int, default=1, help="camera streams batched into one forward pass")
    parser.add_argument("--compare-cpu-backends", action="store_true",
                        help="run torch and onnxruntime on the CPU side by side (overrides --backend/--device)")
    parser.add_argument("--frames", type=int, default=60, help="timed frames / forward passes per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm-up iterations")
    parser.add_argument("--variants", default="local,global", help="network variants to time")
    parser.add_argument("--modalities", default="rgb,thermal",
                        help="modalities of the generated end-to-end frames (RGB + one X by default)")
    parser.add_argument("--text-commands", type=int, default=20, help="new commands to time text encoding on")
    parser.add_argument("--no-end-to-end", action="store_true", help="network and text only")
    parser.add_argument("--cuda-graphs", action="store_true", help="torch backend: CUDA graphs")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch/onnxruntime (0: default)")
    parser.add_argument("--engine-dir", default=None, help="engine cache (tensorrt / cached ONNX)")
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--untrained-ok", action="store_true",
                        help="when the preset has no trained weights yet, time the real tracker with its seeded "
                             "untrained weights (speed does not depend on training; the JSON says untrained)")
    parser.add_argument("--json", required=True, help="write the results here")


# -- text -------------------------------------------------------------------------------------------
def _new_commands(n: int, seed: int) -> List[str]:
    """``n`` distinct referring expressions from the synthetic world's language generator."""
    from ..data.scene import ClipConfig
    from ..data.world import render_clip

    seen: List[str] = []
    s = seed
    while len(seen) < n and s < seed + 50:
        clip = render_clip(ClipConfig(num_frames=6, target_switches=2, modalities=("rgb",)), seed=1000 + s)
        for e in clip.expressions:
            if e.text not in seen:
                seen.append(e.text)
        s += 1
    i = 0
    while len(seen) < n:  # pad with variants so every command is a cache miss
        seen.append(f"{seen[i % max(1, len(seen))]} near marker {i}")
        i += 1
    return seen[:n]


def bench_text(model: Any, backend: Any, n: int, seed: int, encode: Any = None) -> Dict[str, Any]:
    """Latency of a new command's text encoding via ``backend.encode_text``
    (or ``encode``, e.g. the onnxruntime text encoder), counting the
    per-frame engine calls it causes."""
    calls = {"n": 0}
    inner = backend._forward

    def counting(inputs: Any) -> Any:
        calls["n"] += 1
        return inner(inputs)

    backend._forward = counting  # count engine calls during text encoding (must stay 0)
    try:
        encode = encode or backend.encode_text
        encode(["warm up the text encoder"])
        texts = _new_commands(n, seed)
        samples, cpu = [], []
        for t in texts:
            c0, t0 = time.process_time(), time.perf_counter()
            encode([t])
            samples.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    finally:
        backend._forward = inner
    return {**latency_stats(samples), "cpu_ms_mean": round(float(np.mean(cpu)), 3), "cpu_ms_p50": round(
        float(np.median(cpu)), 3), "engine_calls": calls["n"], "device": "cpu",
            "example_commands": texts[:3]}


# -- network ----------------------------------------------------------------------------------------
def _build(kind: str, model: Any, variant: Any, args: argparse.Namespace, device: str) -> Any:
    from .cache import build_cached_backend

    opts: Dict[str, Any] = {}
    if kind == "torch" and args.cuda_graphs:
        opts["cuda_graphs"] = True
    if kind == "onnxruntime" and args.threads:
        opts["threads"] = args.threads
    return build_cached_backend(kind, variant.network, preset=model.preset, variant=variant.name, device=device,
                                precision=args.precision if device != "cpu" else "fp32",
                                example_inputs=variant.example_inputs, text_encoder=model.text_encoder,
                                engine_dir=args.engine_dir, max_batch_size=max(1, args.streams), **opts)


def bench_network(backend: Any, model: Any, variant: Any, streams: int, frames: int, warmup: int,
                  seed: int) -> Dict[str, Any]:
    """Latency of one batched forward (``streams`` different frames) on generated inputs."""
    from .batching import forward_batched
    from .calibration import generated_inputs

    samples = generated_inputs(model, variant, max(streams, 4), seed=seed)
    requests = [samples[i % len(samples)] for i in range(streams)]
    batch = {k: np.concatenate([r[k] for r in requests], axis=0) for k in requests[0]}
    sync = getattr(backend, "synchronize", None)
    ms, cpu_ms = time_calls(lambda: backend.forward(batch), frames, warmup, sync,
                            progress=f"{backend.name} {variant.name} b{streams}")
    # the batched result equals separate per-stream runs (recorded, not assumed)
    sep = [backend.forward(r) for r in requests]
    joint = forward_batched(backend, requests)
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for a, b in zip(sep, joint) for k in a)
    st = latency_stats(ms)
    cpu = float(np.mean(cpu_ms))
    res = {**st, "batch": streams, "fps": round(1e3 * streams / st["mean_ms"], 2),
           "cpu_ms_mean": round(cpu, 3), "batched_vs_separate_max_abs_diff": diff}
    if backend.name == "torch" and str(backend.device).startswith("cuda"):
        # network only, inputs already on the GPU (what the GPU targets measure): no host copies
        import torch

        tensors = [torch.from_numpy(batch[n]).to(backend.torch_device, dtype=backend.dtype
                                                 if batch[n].dtype.kind == "f" else None)
                   for n in backend.input_spec]
        dev_ms, _ = time_calls(lambda: backend.forward_torch(tensors), frames, warmup, backend.synchronize)
        dst = latency_stats(dev_ms)
        res["device_resident"] = {**dst, "fps": round(1e3 * streams / dst["mean_ms"], 2)}
    return res


# -- end to end -------------------------------------------------------------------------------------
def bench_end_to_end(kind: str, args: argparse.Namespace, device: str) -> Dict[str, Any]:
    """The real tracker preset on generated frames: per-stage timings_ms and step latency."""
    from ..core.types import TargetQuery, parse_modality_list
    from ..data.scene import ClipConfig
    from ..data.world import render_clip
    from ..trackers.registry import build_tracker

    modalities = parse_modality_list(args.modalities) or ()
    options: Dict[str, Any] = {"backend": kind, "device": device}
    if args.threads and args.model.startswith("mvlm"):
        options["num_threads"] = args.threads
    if args.weights_dir:
        options["weights_dir"] = args.weights_dir
    if getattr(args, "_untrained_weights_dir", None):
        options["weights_dir"] = args._untrained_weights_dir
    try:
        tracker = build_tracker(args.model, **options)
    except Exception as exc:  # not built yet / missing weights: record why, never fake numbers
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    n_needed = args.frames + args.warmup
    clip = render_clip(ClipConfig(num_frames=min(n_needed, 90), modalities=modalities), seed=args.seed + 500)
    expr = next((e for e in clip.expressions if not e.multi), None)
    if expr is None:
        return {"available": False, "reason": "generated clip has no single-target expression"}
    t0 = time.perf_counter()
    tracker.set_commands([TargetQuery(expr.text)])
    set_command_ms = (time.perf_counter() - t0) * 1e3
    stages: Dict[str, List[float]] = {}
    step_ms: List[float] = []
    step_cpu: List[float] = []
    searches = {"local": 0, "global": 0}
    try:
        from tqdm import tqdm

        for i in tqdm(range(n_needed), desc=f"{args.model} {kind} end-to-end", unit="frame", leave=False):
            frame = clip.frames[i % clip.num_frames]
            c0, t0 = time.process_time(), time.perf_counter()
            out = tracker.step(frame)
            dt = (time.perf_counter() - t0) * 1e3
            dc = (time.process_time() - c0) * 1e3
            if i < args.warmup:
                continue
            step_ms.append(dt)
            step_cpu.append(dc)
            searches[out.search] = searches.get(out.search, 0) + 1
            for k, v in out.timings_ms.items():
                stages.setdefault(k, []).append(float(v))
    finally:
        tracker.close()
    total = latency_stats(step_ms)
    return {"available": True, "modalities": list(modalities), "command": expr.text,
            "set_command_ms": round(set_command_ms, 3),
            "stages": {k: latency_stats(v) for k, v in stages.items()}, "step": total,
            "fps": round(1e3 / total["mean_ms"], 2), "step_cpu_ms_mean": round(float(np.mean(step_cpu)), 3),
            "next_search_counts": searches}


def write_untrained_weights(preset: str, model: Any, out_dir: str) -> str:
    """Write the seeded untrained network of an mvlm preset as a weights dir
    (safetensors + manifest entry marked ``untrained``) so the real tracker
    can be timed before training finishes. Returns ``out_dir``."""
    import hashlib

    from safetensors.torch import save_file

    from ..models.config import config_hash

    net = model.variant("local").network
    chash = config_hash(net.cfg)
    state = {k: v.detach().contiguous() for k, v in net.trained_state_dict().items()}
    path = Path(out_dir) / f"{preset}.safetensors"
    save_file(state, str(path), metadata={"config_hash": chash, "untrained": "true"})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {preset: {"file": path.name, "sha256": digest, "config_hash": chash, "untrained": True,
                         "trained_modalities": list(net.cfg.x_modalities)}}
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out_dir


# -- driver -----------------------------------------------------------------------------------------
def _cuda_mem(device: str) -> Optional[float]:
    if not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def _print_table(report: Dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\n{report['preset']} on {m['cpu_model']} ({m['cpu_cores_usable']} cores usable), "
          f"GPU: {m.get('gpu_name') or 'none'}; weights: {'trained' if report['weights_trained'] else 'UNTRAINED'}")
    t = report["text_encode"]
    if "p50_ms" in t:
        print(f"text encode (new command, CPU): p50 {t['p50_ms']:.1f} ms, p95 {t['p95_ms']:.1f} ms, "
              f"CPU {t['cpu_ms_p50']:.1f} ms, engine calls {t['engine_calls']}")
    else:
        print(f"text encode: {t.get('error')}")
    to = report.get("text_encode_onnxruntime")
    if to:
        print(f"text encode on onnxruntime (OrtTextEncoder): p50 {to['p50_ms']:.1f} ms, p95 {to['p95_ms']:.1f} ms, "
              f"CPU {to['cpu_ms_p50']:.1f} ms, engine calls {to['engine_calls']}")
    if m.get("load_average_1_5_15"):
        print(f"load average during the run (1/5/15 min): {m['load_average_1_5_15']}")
    print(f"{'backend':<12} {'device':<7} {'variant':<7} {'batch':>5} {'p50 ms':>8} {'p95 ms':>8} {'FPS':>9} "
          f"{'CPU ms':>8}")
    for r in report["results"]:
        for vname, n in r["network"].items():
            if "error" in n:
                print(f"{r['backend']:<12} {r['device']:<7} {vname:<7} error: {n['error']}")
                continue
            print(f"{r['backend']:<12} {r['device']:<7} {vname:<7} {n['batch']:>5} {n['p50_ms']:>8.2f} "
                  f"{n['p95_ms']:>8.2f} {n['fps']:>9.1f} {n['cpu_ms_mean']:>8.2f}")
    for r in report["results"]:
        e = r.get("end_to_end")
        if not e:
            continue
        if not e.get("available"):
            print(f"end-to-end {r['backend']}: not available ({e['reason']})")
            continue
        stages = ", ".join(f"{k} {v['p50_ms']:.1f}/{v['p95_ms']:.1f}" for k, v in e["stages"].items())
        print(f"end-to-end {r['backend']} ({'+'.join(e['modalities'])}): step p50 {e['step']['p50_ms']:.1f} ms "
              f"p95 {e['step']['p95_ms']:.1f} ms, {e['fps']:.1f} FPS (CPU {e['step_cpu_ms_mean']:.1f} ms/step); "
              f"stages p50/p95 ms: {stages}")
    print(f"peak RSS {report['peak_rss_mb']:.0f} MiB")


def run(args: argparse.Namespace) -> int:
    from .base import normalize_device
    from .presets import load_preset_model

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.streams < 1 or args.frames < 1 or args.warmup < 0:
        raise ValueError("--streams and --frames must be >= 1 and --warmup >= 0")
    if args.threads:
        import os

        import torch

        torch.set_num_threads(args.threads)
        # trackers build their own onnxruntime sessions: give them the same thread count
        os.environ["VL_TRACKING_ORT_THREADS"] = str(args.threads)
    device = normalize_device(args.device)
    runs = [("torch", "cpu"), ("onnxruntime", "cpu")] if args.compare_cpu_backends else [(args.backend, device)]
    model = load_preset_model(args.model, args.weights_dir)
    variants = [model.variant(v.strip()) for v in args.variants.split(",") if v.strip()]
    tmp_weights = None
    if args.untrained_ok and model.weights is None and args.model.startswith("mvlm"):
        import tempfile

        tmp_weights = tempfile.TemporaryDirectory(prefix="vlt_untrained_")
        args._untrained_weights_dir = write_untrained_weights(args.model, model, tmp_weights.name)
    report: Dict[str, Any] = {
        "preset": args.model, "weights": model.weights, "weights_trained": model.weights is not None,
        "machine": machine_info(), "targets": TARGETS,
        "config": {"streams": args.streams, "frames": args.frames, "warmup": args.warmup,
                   "precision": args.precision, "cuda_graphs": args.cuda_graphs, "threads": args.threads or None,
                   "runs": [{"backend": b, "device": d} for b, d in runs]},
        "results": [],
    }
    text_done = False
    for kind, dev in runs:
        entry: Dict[str, Any] = {"backend": kind, "device": dev,
                                 "precision": args.precision if dev != "cpu" else "fp32", "network": {}}
        for variant in variants:
            try:
                backend = _build(kind, model, variant, args, dev)
            except Exception as exc:  # unavailable backend / engine not built: record it
                entry["network"][variant.name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            try:
                if not text_done:
                    report["text_encode"] = bench_text(model, backend, args.text_commands, args.seed)
                    report["text_encode"]["encoder"] = "torch (the model's TextEncoder)"
                    if model.text_module is not None:
                        from .text_ort import OrtTextEncoder

                        ort_text = OrtTextEncoder(model.text_module, threads=args.threads or None)
                        try:
                            report["text_encode_onnxruntime"] = bench_text(model, backend, args.text_commands,
                                                                           args.seed + 1, encode=ort_text)
                        finally:
                            ort_text.close()
                    text_done = True
                entry["network"][variant.name] = bench_network(backend, model, variant, args.streams, args.frames,
                                                               args.warmup, args.seed)
                if args.streams > 1:  # the single-stream figure beside it, for the scaling ratio
                    one = bench_network(backend, model, variant, 1, args.frames, args.warmup, args.seed)
                    entry["network"][variant.name]["single_stream_fps"] = one["fps"]
                    entry["network"][variant.name]["throughput_ratio_vs_1_stream"] = round(
                        entry["network"][variant.name]["fps"] / one["fps"], 2)
            finally:
                backend.close()
        if not args.no_end_to_end:
            entry["end_to_end"] = bench_end_to_end(kind, args, dev)
        entry["peak_rss_mb_so_far"] = peak_rss_mb()
        entry["cuda_max_allocated_mb"] = _cuda_mem(dev)
        report["results"].append(entry)
    if not text_done:
        report["text_encode"] = {"error": "no backend could be built"}
    report["peak_rss_mb"] = peak_rss_mb()
    if tmp_weights is not None:
        report["end_to_end_weights"] = "seeded untrained weights (--untrained-ok): speed only, not accuracy"
        tmp_weights.cleanup()
    try:
        import os

        report["machine"]["load_average_end_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    report["checks"] = _checks(report)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    _print_table(report)
    print(f"wrote {args.json}")
    return 0 if all(("error" not in n) for r in report["results"] for n in r["network"].values()) else 1


def _checks(report: Dict[str, Any]) -> Dict[str, Any]:
    """Measured figures against the issue's targets (None = not measurable on this machine)."""
    out: Dict[str, Any] = {}
    for key in ("text_encode", "text_encode_onnxruntime"):
        t = report.get(key, {})
        if "p50_ms" in t:
            target = TARGETS["text_encode_p50_ms_max"]
            out[f"{key}_p50_ms"] = {"value": t["p50_ms"], "target_max": target, "met": t["p50_ms"] <= target,
                                    "cpu_ms_p50": t["cpu_ms_p50"], "met_by_cpu_time": t["cpu_ms_p50"] <= target}
    for r in report["results"]:
        e = r.get("end_to_end") or {}
        if r["device"] == "cpu" and e.get("available"):
            target = TARGETS["cpu_end_to_end_fps_min"]
            cpu_fps = round(1e3 / e["step_cpu_ms_mean"], 2) if e.get("step_cpu_ms_mean") else None
            out[f"cpu_end_to_end_fps_{r['backend']}"] = {
                "value": e["fps"], "target_min": target, "met": e["fps"] >= target,
                # frames/s if each step got its CPU time without waiting (exact for --threads 1 on an idle core)
                "cpu_time_fps": cpu_fps, "met_by_cpu_time": None if cpu_fps is None else cpu_fps >= target}
    gpu = report["machine"].get("gpu_name")
    out["gpu_targets"] = "not measured (no GPU on this machine)" if not gpu else "see results"
    return out
