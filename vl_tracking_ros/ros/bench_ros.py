"""``vl-tracking bench ros --json OUT``: end-to-end latency of the live node.

The replay node publishes a synthetic clip (RGB + depth + thermal + events +
camera_info, looping) at ``--rate`` Hz; tracker_node tracks the clip's
command; a recorder subscribes to ``tracks``. All three run in this process
on one executor over real DDS (private domain), as ``vl-tracking demo`` does.

Measured after ``--warmup`` seconds, over ``--duration`` seconds:
  * latency sensor stamp -> TrackArray publish (``TrackArray.latency_ms``,
    taken by the node just before publishing) and sensor stamp -> receipt by
    the subscriber: p50 / p95 / max;
  * output rate (TrackArrays received per second) vs. input rate;
  * frames dropped (published by the replay, never answered; the node drops
    stale frames by design instead of queueing them);
  * backlog check: median latency of the first and the last third of the
    window (a growing backlog shows as a rising latency);
  * RSS of the process at the start and end of the window (growth %).
Writes the figures with the machine description to the JSON file and prints
a table.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from . import convert as C
from .command_console_node import CommandConsoleNode
from .inprocess import OutputRecorder, machine_info, ros_context, rss_mb, spin_until, wait_for_matches
from .replay_node import ReplayNode, load_suite_clip
from .tracker_node import TrackerNode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", required=True, help="output JSON file")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds (after warm-up)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before measuring (default: one loop of the clip + 1 s, so the replay's "
                             "message cache and the model are warm)")
    parser.add_argument("--rate", type=float, default=15.0, help="replay rate, Hz")
    parser.add_argument("--preset", default="default", help="tracker preset (default: routing preset)")
    parser.add_argument("--device", default="cpu", help="inference device")
    parser.add_argument("--suite", default="sot-day", help="synthetic suite of the replayed clip")
    parser.add_argument("--clip", type=int, default=0, help="clip index")
    parser.add_argument("--command", default="", help="command to track (default: the clip's first command)")
    parser.add_argument("--no-debug-image", action="store_true", help="disable the annotated debug image")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS domain (default: private, from the pid)")


def _stats(values: List[float]) -> Dict[str, Optional[float]]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "mean": None}
    a = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "max": round(float(a.max()), 2), "mean": round(float(a.mean()), 2)}


def run_bench(duration_s: float = 60.0, warmup_s: Optional[float] = None, rate_hz: float = 15.0, preset: str = "default",
              device: str = "cpu", suite: str = "sot-day", clip_index: int = 0, command: str = "",
              debug_image: bool = True, domain_id: Optional[int] = None, progress: bool = True) -> Dict[str, Any]:
    """Run the benchmark and return the result dict (see module docstring)."""
    clip = load_suite_clip(suite, None, clip_index)
    text = command or next((c for _, c in clip.commands if c.strip().lower() != "stop"), "")
    if not text:
        raise ValueError(f"clip {clip.name} has no command; pass --command")
    if warmup_s is None:
        warmup_s = len(clip.frames) / rate_hz + 1.0
    with ros_context(domain_id) as context:
        replay = ReplayNode(clip=clip, autostart=False, context=context, parameter_overrides=[
            Parameter("rate_hz", value=float(rate_hz)), Parameter("loop", value=True),
            Parameter("publish_commands", value=False), Parameter("events.format", value="array"),
            Parameter("encodings.rgb", value="bgr8"), Parameter("encodings.depth", value="16UC1"),
            Parameter("encodings.thermal", value="mono16")])
        tracker = TrackerNode(context=context, parameter_overrides=[
            Parameter("model.preset", value=preset), Parameter("model.device", value=device),
            Parameter("model.warm_up", value=True), Parameter("debug_image.enabled", value=bool(debug_image))])
        console = CommandConsoleNode(context=context)
        recorder = OutputRecorder(context=context)
        executor = SingleThreadedExecutor(context=context)
        nodes = (replay, tracker, console, recorder)
        for node in nodes:
            executor.add_node(node)
        try:
            if not wait_for_matches(executor, [(tracker.pub_tracks, 1), (console.publisher, 1),
                                               (replay.pub_rgb, 1)], timeout_s=10.0):
                raise RuntimeError("bench ros: DDS discovery between the nodes did not complete in 10 s")
            console.send(text)
            spin_until(executor, lambda: bool(tracker.active_queries()), 5.0)
            replay.start()
            spin_until(executor, lambda: False, warmup_s)
            # ---- measurement window
            rss_start = rss_mb()
            t0_ns = time.time_ns()
            published0, dropped0, received0 = replay.frames_published, tracker._slot.dropped, len(recorder.tracks)
            stages0 = {k: len(v) for k, v in tracker.stage_ms.items()}
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=int(round(duration_s)), desc=f"bench ros ({tracker.tracker_name()[:40]})",
                           unit="s")
            end = time.monotonic() + duration_s
            next_tick = time.monotonic() + 1.0
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.01)
                if bar is not None and time.monotonic() >= next_tick:
                    bar.update(1)
                    bar.set_postfix(out=len(recorder.tracks) - received0, sent=replay.frames_published - published0)
                    next_tick += 1.0
            if bar is not None:
                bar.close()
            published = replay.frames_published - published0
            slot_dropped = tracker._slot.dropped - dropped0
            rss_end = rss_mb()
            window = [(rx, m) for rx, m in recorder.tracks[received0:] if C.stamp_to_ns(m.header.stamp) >= t0_ns]
            tracker_name = tracker.tracker_name()
            stages = {k: _stats(list(v)[stages0[k]:]) for k, v in tracker.stage_ms.items()}
            bad_input = dict(tracker.bad_input)
        finally:
            for node in reversed(nodes):
                executor.remove_node(node)
                node.destroy_node()
            executor.shutdown()
    publish_ms = [float(m.latency_ms) for _, m in window]
    receive_ms = [(rx - C.stamp_to_ns(m.header.stamp)) / 1e6 for rx, m in window]
    thirds = max(1, len(publish_ms) // 3)
    with_tracks = sum(1 for _, m in window if m.tracks)
    result = {
        "benchmark": "ros", "preset": preset, "tracker": tracker_name, "clip": clip.name, "command": text,
        "rate_hz": rate_hz, "duration_s": duration_s, "warmup_s": warmup_s, "debug_image": bool(debug_image),
        "modalities": ["rgb", "depth", "thermal", "event"],
        "latency_publish_ms": _stats(publish_ms), "latency_receive_ms": _stats(receive_ms),
        "stage_ms": {"wait_before_inference": stages["wait"], "tracker_step": stages["step"],
                     "publish_outputs": stages["publish"]},
        "latency_publish_p50_first_third_ms": _stats(publish_ms[:thirds])["p50"],
        "latency_publish_p50_last_third_ms": _stats(publish_ms[-thirds:])["p50"],
        "frames_published": published, "track_arrays_received": len(window),
        "output_rate_hz": round(len(window) / duration_s, 2), "input_rate_hz": round(published / duration_s, 2),
        "frames_dropped": max(0, published - len(window)), "frames_dropped_stale_in_node": slot_dropped,
        "frames_with_tracks": with_tracks,
        "rss_mb_start": round(rss_start, 1), "rss_mb_end": round(rss_end, 1),
        "rss_growth_pct": round(100.0 * (rss_end - rss_start) / rss_start, 2) if rss_start else None,
        "bad_input": bad_input, "machine": machine_info(),
        "note": "replay, tracker and subscriber share one process and one executor; RSS covers all three",
    }
    return result


def print_table(r: Dict[str, Any]) -> None:
    pub, rec = r["latency_publish_ms"], r["latency_receive_ms"]
    m = r["machine"]
    print(f"\nvl-tracking bench ros: {r['tracker']} on {r['clip']} ({r['command']!r}), "
          f"RGB+depth+thermal+events at {r['rate_hz']} Hz for {r['duration_s']:.0f} s")
    print(f"machine: {m.get('cpu', '?')}, {m.get('affinity_cpus', m.get('cpu_count'))} CPUs, "
          f"{m.get('mem_total_gb', '?')} GB, {m.get('platform', '')}")
    print(f"{'metric':44s} {'p50':>8s} {'p95':>8s} {'max':>8s}")

    def row(name, s):
        fmt = lambda v: f"{v:8.1f}" if v is not None else f"{'-':>8s}"  # noqa: E731
        print(f"{name:44s} {fmt(s['p50'])} {fmt(s['p95'])} {fmt(s['max'])}")

    row("latency stamp -> TrackArray publish (ms)", pub)
    row("latency stamp -> subscriber receipt (ms)", rec)
    row("  stage: stamp -> worker picks frame (ms)", r["stage_ms"]["wait_before_inference"])
    row("  stage: tracker step (ms)", r["stage_ms"]["tracker_step"])
    row("  stage: publish tracks/markers/debug (ms)", r["stage_ms"]["publish_outputs"])
    print(f"{'output rate (Hz) / input rate (Hz)':44s} {r['output_rate_hz']:8.2f} {r['input_rate_hz']:8.2f}")
    print(f"{'frames dropped (of published)':44s} {r['frames_dropped']:8d} {r['frames_published']:8d}")
    print(f"{'p50 latency first / last third (ms)':44s} {r['latency_publish_p50_first_third_ms'] or 0:8.1f} "
          f"{r['latency_publish_p50_last_third_ms'] or 0:8.1f}")
    print(f"{'RSS start / end (MiB), growth %':44s} {r['rss_mb_start']:8.1f} {r['rss_mb_end']:8.1f} "
          f"{r['rss_growth_pct'] if r['rss_growth_pct'] is not None else float('nan'):8.2f}")


def run(args: argparse.Namespace) -> int:
    result = run_bench(duration_s=args.duration, warmup_s=args.warmup, rate_hz=args.rate, preset=args.preset,
                       device=args.device, suite=args.suite, clip_index=args.clip, command=args.command,
                       debug_image=not args.no_debug_image, domain_id=args.domain_id)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print_table(result)
    print(f"wrote {args.json}")
    return 0 if result["track_arrays_received"] > 0 else 1
