"""``vl-tracking eval``: evaluate a tracker preset on a suite; JSON metrics and plots.

    vl-tracking eval --suite NAME [--tracker PRESET] [--seed N] [--full]
                     --json OUT [--plots DIR] [--max-clips K] [--device cpu]

``--tracker`` defaults to ``default``, the preset the tracker node runs by
default. The JSON holds the metric keys ``PRE``, ``AUC``, ``NPRE`` (single
target), ``HOTA``, ``DetA``, ``AssA``, ``IDF1``, ``MOTA``, ``IDsw`` (referring
MOT), ``switch_latency_median``, ``switch_relock_30``, ``reloc_time_median``,
``by_condition`` and ``per_clip`` (``null`` where a metric does not apply to
the suite or has no events; a latency median is also ``null`` when it is
infinite, i.e. more than half the events never re-locked, which
``switch_events`` / ``switch_never_relocked`` and ``reloc_events`` /
``reloc_never`` tell apart), plus ``suite``, ``seed``, ``tracker``,
``code_version``, ``machine`` and ``fps`` (frames per second of
``tracker.step`` alone). SOT scores are fractions in [0, 1]; HOTA-family,
IDF1 and MOTA are percent, as the MOT literature prints them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

#: keys every eval JSON carries (tests check them)
METRIC_KEYS = ("PRE", "AUC", "NPRE", "HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDsw", "switch_latency_median",
               "switch_relock_30", "reloc_time_median", "by_condition", "per_clip")
META_KEYS = ("suite", "seed", "tracker", "code_version", "machine", "fps")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", required=True, help="suite name, e.g. sot-day, sot-night, switch, rmot")
    parser.add_argument("--tracker", default="default",
                        help="tracker preset (default: 'default', what the tracker node runs); "
                             "'oracle' and 'mil' are the reference baselines")
    parser.add_argument("--seed", type=int, default=None,
                        help="generate a fresh variant of the suite with this seed (default: the suite's fixed seed)")
    parser.add_argument("--full", action="store_true", help="the full-size suite (GPU-sized) instead of the CPU one")
    parser.add_argument("--json", required=True, type=Path, help="where to write the metrics JSON")
    parser.add_argument("--plots", type=Path, default=None,
                        help="directory for success/precision PNGs and annotated videos of the worst clips")
    parser.add_argument("--max-clips", type=int, default=None, help="evaluate only the first K clips")
    parser.add_argument("--device", default="cpu", help="torch device for model presets (default: cpu)")
    parser.add_argument("--modalities", default=None,
                        help="comma-separated modalities the tracker may use (default: the preset's own choice)")
    parser.add_argument("--worst", type=int, default=2, help="annotated videos of this many worst clips (with --plots)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def code_version() -> str:
    """``<package version>+g<git describe>`` when run from a git checkout, else the version."""
    from .. import __version__

    repo = Path(__file__).resolve().parents[2]
    try:
        proc = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty", "--tags"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return __version__
    if proc.returncode != 0 or not proc.stdout.strip():
        return __version__
    return f"{__version__}+g{proc.stdout.strip()}"


def machine_description(device: str) -> str:
    """CPU model, core count, OS and the device used (GPU named when one was used)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = "no GPU used"
    torch = sys.modules.get("torch")
    if torch is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        gpu = f"GPU {torch.cuda.get_device_name(0)}"
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, " \
           f"device={device}, {gpu}"


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars -> Python, non-finite floats -> None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def build_report(result: Any, device: str = "cpu") -> Dict[str, Any]:
    """The eval JSON (a dict) of a :class:`~vl_tracking_ros.eval.runner.SuiteResult`."""
    summary = result.summary()
    report: Dict[str, Any] = {"suite": result.suite, "seed": result.seed, "tracker": result.tracker,
                              "code_version": code_version(), "machine": machine_description(device)}
    report.update(summary)
    report["per_clip"] = [dict(name=c.name, frames=c.num_frames, multi=c.multi, conditions=c.conditions,
                               **c.metrics) for c in result.clips]
    missing = [k for k in METRIC_KEYS + META_KEYS if k not in report]
    if missing:  # a programming error, never user input
        raise RuntimeError(f"eval report lacks keys {missing}")
    return _clean(report)


def write_json(report: Dict[str, Any], path: Path) -> Path:
    """Write ``report`` atomically (temp file + rename) so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _fmt(v: Optional[float], pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if pct else f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    from ..core.types import parse_modality_list
    from .runner import evaluate_suite

    if args.max_clips is not None and args.max_clips < 1:
        raise ValueError(f"--max-clips must be >= 1, got {args.max_clips}")
    modalities = parse_modality_list(args.modalities)
    result = evaluate_suite(args.tracker, args.suite, seed=args.seed, full=args.full, device=args.device,
                            modalities=modalities, max_clips=args.max_clips,
                            keep_worst=max(0, args.worst) if args.plots else 0,
                            show_progress=not args.no_progress)
    report = build_report(result, device=args.device)
    write_json(report, args.json)
    print(f"suite {report['suite']} (seed {report['seed']}), tracker {report['tracker']}, "
          f"{len(report['per_clip'])} clips, {report['fps'] or 0:.1f} fps")
    print(f"  AUC {_fmt(report['AUC'])}  PRE {_fmt(report['PRE'])}  NPRE {_fmt(report['NPRE'])}  "
          f"HOTA {_fmt(report['HOTA'], True)}  IDF1 {_fmt(report['IDF1'], True)}  "
          f"switch latency {report['switch_latency_median']}  reloc {report['reloc_time_median']}")
    print(f"  metrics written to {args.json}")
    if args.plots:
        from .plots import write_suite_plots

        for p in write_suite_plots(result, args.plots):
            print(f"  wrote {p}")
    return 0
