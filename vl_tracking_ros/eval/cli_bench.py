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
from typing import List, Tuple

TARGETS = {
    "model": "vl_tracking_ros.engines.bench",
    "ros": "vl_tracking_ros.ros.bench_ros",
    "voice": "vl_tracking_ros.voice.bench_voice",
    "rmot": "vl_tracking_ros.trackers.bench_rmot",
}


def _split(argv: List[str]) -> Tuple[str, List[str]]:
    """``[TARGET] rest...`` -> (target, rest); no target word means "model"."""
    if argv and argv[0] in TARGETS:
        return argv[0], list(argv[1:])
    if argv and not argv[0].startswith("-") and argv[0] not in TARGETS:
        raise ValueError(f"unknown bench target {argv[0]!r}; valid targets: {', '.join(sorted(TARGETS))}")
    return "model", list(argv)


def main(argv: List[str]) -> int:
    """Entry point used by ``vl-tracking bench ...`` (arguments after "bench")."""
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    target, rest = _split(argv)
    mod = importlib.import_module(TARGETS[target])
    p = argparse.ArgumentParser(prog=f"vl-tracking bench {target}")
    mod.add_arguments(p)
    return int(mod.run(p.parse_args(rest)) or 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """For ``vl-tracking --help`` listings only; ``main`` parses bench's arguments."""
    parser.add_argument("target", nargs="?", default="model", choices=sorted(TARGETS))


def run(args: argparse.Namespace) -> int:
    return main([args.target])
