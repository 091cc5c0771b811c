"""``vl-tracking bench [TARGET] ...``: benchmarks that print figures.

TARGET selects the runner (each a module with ``add_arguments`` / ``run``):
  model (default)  per-stage latency / FPS / memory of a tracker preset and backend
  ros              end-to-end node latency over real DDS with the replay node
  voice            voice-command accuracy, WER and latency
  rmot             referring multi-object path (tracks x expressions)
"""
from __future__ import annotations

import argparse
import importlib

TARGETS = {
    "model": "vl_tracking_ros.engines.bench",
    "ros": "vl_tracking_ros.ros.bench_ros",
    "voice": "vl_tracking_ros.voice.bench_voice",
    "rmot": "vl_tracking_ros.trackers.bench_rmot",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", default="model", choices=sorted(TARGETS),
                        help="what to benchmark (default: model)")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    mod = importlib.import_module(TARGETS[args.target])
    p = argparse.ArgumentParser(prog=f"vl-tracking bench {args.target}")
    mod.add_arguments(p)
    return int(mod.run(p.parse_args(args.rest)) or 0)
