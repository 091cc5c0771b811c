"""``vl-tracking export --model PRESET --format onnx|tensorrt [--fp16|--int8] [--out DIR]``.

Exports every per-frame network variant of the preset (``local`` ROI and
``global`` whole-image for the MVLM trackers) to ONNX, checks each with
``onnx.checker`` and with an onnxruntime-vs-torch parity run on generated
frames, and with ``--format tensorrt`` builds a TensorRT engine from each
ONNX (fp32 / ``--fp16`` / ``--int8`` calibrated on generated frames) with its
metadata sidecar. TensorRT missing is a clear error, not a fallback.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="tracker preset, e.g. mvlm-small")
    parser.add_argument("--format", required=True, choices=("onnx", "tensorrt"))
    prec = parser.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true", help="TensorRT fp16 engine")
    prec.add_argument("--int8", action="store_true", help="TensorRT int8 engine calibrated on generated frames")
    parser.add_argument("--out", default=None, help="output directory (default: the engine cache, "
                        "$VL_TRACKING_ENGINE_DIR or ~/.cache/vl_tracking_ros/engines)")
    parser.add_argument("--variants", default=None, help="comma-separated variants (default: all, e.g. local,global)")
    parser.add_argument("--weights-dir", default=None, help="directory of trained weights (default: weights/)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--fixed-batch", type=int, default=0,
                        help="export a fixed batch N instead of a dynamic batch axis (0: dynamic)")
    parser.add_argument("--max-batch", type=int, default=8, help="TensorRT profile max batch (streams)")
    parser.add_argument("--opt-batch", type=int, default=1, help="TensorRT profile batch to tune for")
    parser.add_argument("--workspace-mb", type=int, default=2048, help="TensorRT builder workspace")
    parser.add_argument("--calibration-frames", type=int, default=256, help="generated frames for --int8")
    parser.add_argument("--device", default="cuda", help="CUDA device for the TensorRT build")
    parser.add_argument("--parity-frames", type=int, default=4,
                        help="generated frames for the onnxruntime-vs-torch check (0: skip)")
    parser.add_argument("--json", default=None, help="write a summary JSON here")


def _parity(model: Any, variant: Any, onnx_file: Path, frames: int) -> Dict[str, float]:
    from .base import build_backend
    from .calibration import generated_inputs
    from .ort_backend import OrtBackend

    samples = generated_inputs(model, variant, frames, seed=7)
    worst: Dict[str, float] = {}
    with build_backend("torch", variant.network, example_inputs=variant.example_inputs) as t, OrtBackend(onnx_file) as o:
        for s in samples:
            a, b = t.forward(s), o.forward(s)
            for k in a:
                worst[k] = max(worst.get(k, 0.0), float(np.max(np.abs(a[k] - b[k]))))
    return worst


def run(args: argparse.Namespace) -> int:
    from .cache import calibration_cache_path, default_engine_dir, engine_path, onnx_path
    from .onnx_export import export_onnx
    from .presets import load_preset_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    precision = "int8" if args.int8 else "fp16" if args.fp16 else "fp32"
    if args.format == "onnx" and precision != "fp32":
        raise ValueError("--fp16 / --int8 apply to --format tensorrt (the ONNX file is always fp32)")
    if args.format == "tensorrt":
        from .tensorrt_backend import import_tensorrt

        import_tensorrt()  # fail before minutes of export work when TensorRT is absent
    out_dir = Path(args.out).expanduser() if args.out else default_engine_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_preset_model(args.model, args.weights_dir)
    wanted = [v.strip() for v in args.variants.split(",")] if args.variants else [v.name for v in model.variants]
    summary: Dict[str, Any] = {"preset": args.model, "format": args.format, "precision": precision,
                               "weights": model.weights, "files": []}
    for name in wanted:
        variant = model.variant(name)
        path = onnx_path(out_dir, args.model, name)
        t0 = time.monotonic()
        res = export_onnx(variant.network, path, model_name=f"{args.model}-{name}", opset=args.opset,
                          batch_size=args.fixed_batch or 1, dynamic_batch=not args.fixed_batch,
                          example_inputs=variant.example_inputs)
        entry: Dict[str, Any] = {"variant": name, "onnx": str(path), "model_hash": res.model_hash,
                                 "inputs": [s.to_dict() for s in res.input_spec.values()],
                                 "outputs": list(res.output_names), "export_s": round(time.monotonic() - t0, 2)}
        print(f"{args.model}-{name}: ONNX {path} ({path.stat().st_size / 1e6:.1f} MB, opset {args.opset}, "
              f"checked by onnx.checker)")
        if args.parity_frames > 0:
            worst = _parity(model, variant, path, args.parity_frames)
            entry["parity_max_abs_diff"] = worst
            print(f"  onnxruntime vs torch on {args.parity_frames} generated frames: max |diff| "
                  + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
            if max(worst.values()) > 1e-2:
                raise RuntimeError(f"ONNX export of {args.model}-{name} disagrees with torch (max |diff| "
                                   f"{max(worst.values()):.3g}); not writing an engine from it")
        if args.format == "tensorrt":
            from .calibration import batches, generated_inputs
            from .tensorrt_backend import build_engine

            calib = None
            if precision == "int8":
                samples = generated_inputs(model, variant, args.calibration_frames, seed=11, progress=True)
                calib = list(batches(samples, args.opt_batch))
            epath = engine_path(out_dir, args.model, name, precision, args.max_batch)
            meta = build_engine(path, epath, device=args.device, precision=precision, max_batch=args.max_batch,
                                opt_batch=args.opt_batch, workspace_mb=args.workspace_mb, calibration_batches=calib,
                                calibration_cache=calibration_cache_path(out_dir, args.model, name),
                                model_name=f"{args.model}-{name}", model_hash=res.model_hash)
            entry.update(engine=str(epath), tensorrt_version=meta.tensorrt_version, gpu_name=meta.gpu_name)
            print(f"  TensorRT {precision} engine {epath} (batch 1..{args.max_batch}, {meta.gpu_name})")
        summary["files"].append(entry)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    if model.weights is None:
        print(f"note: {args.model} has no trained weights yet; the export is structurally complete "
              "(rebuild after training)")
    return 0
