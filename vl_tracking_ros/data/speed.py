"""Measure the world's generation speed (the figures in docs/world.md).

    python -m vl_tracking_ros.data.speed [--repeats 5]

Prints CPU seconds (``time.process_time``, comparable on a shared machine)
and wall seconds for clips of a few sizes, one clip of every suite and a
short training stream.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Callable, List, Tuple


def _timed(fn: Callable[[], object]) -> Tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: List[str] = None) -> int:
    from .scene import ClipConfig
    from .suites import SUITES, get_suite, training_clips
    from .world import render_clip

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="clips per measurement (median reported)")
    args = p.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{'what':58s} {'CPU s':>7s} {'wall s':>7s}")
    for mods in (("rgb",), ("rgb", "thermal"), ("rgb", "depth", "thermal", "event")):
        runs = sorted(_timed(lambda s=s: render_clip(ClipConfig(num_frames=60, modalities=mods), s))
                      for s in range(args.repeats))
        cpu, wall = runs[len(runs) // 2]
        print(f"{'60 frames 320x240, ' + '+'.join(mods):58s} {cpu:7.2f} {wall:7.2f}")
    for name in SUITES:
        suite = get_suite(name)
        cpu, wall = _timed(lambda: suite.clip(0))
        print(f"{f'one {name} clip ({suite.config(0).num_frames} frames, all modalities)':58s} {cpu:7.2f} {wall:7.2f}")
    cpu, wall = _timed(lambda: list(training_clips(0, 10, num_frames=32)))
    print(f"{'10 training clips x 32 frames (training_clips)':58s} {cpu:7.2f} {wall:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
