"""``vl-tracking bench ros --json OUT``: end-to-end latency of the live node.

The replay node publishes a synthetic clip (RGB + depth + thermal + events +
camera_info, looping) at ``--rate`` Hz from its own process (as a camera
driver would); tracker_node tracks the clip's command in this process, where
a recorder subscribes to ``tracks`` -- real DDS on a private domain.

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
import signal
import subprocess
import sys
import time
from pathlib import Path
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
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "tensorrt"),
                        help="inference backend of the model (the node's model.backend)")
    parser.add_argument("--suite", default="sot-day", help="synthetic suite of the replayed clip")
    parser.add_argument("--clip", type=int, default=0, help="clip index")
    parser.add_argument("--command", default="", help="command to track (default: the clip's first command)")
    parser.add_argument("--no-debug-image", action="store_true", help="disable the annotated debug image")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS domain (default: private, from the pid)")
    parser.add_argument("--in-process-replay", action="store_true",
                        help="run the replay node in this process (default: its own process, as on a robot)")


def _stats(values: List[float]) -> Dict[str, Optional[float]]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "mean": None}
    a = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "max": round(float(a.max()), 2), "mean": round(float(a.mean()), 2)}


def _replay_command(suite: str, clip_index: int, rate_hz: float) -> List[str]:
    params = {"suite": suite, "clip_index": clip_index, "rate_hz": float(rate_hz), "loop": "true",
              "publish_commands": "false", "events.format": "array", "encodings.rgb": "bgr8",
              "encodings.depth": "16UC1", "encodings.thermal": "mono16", "start_delay_s": 0.5}
    cmd = [sys.executable, "-m", "vl_tracking_ros.ros.replay_node", "--ros-args"]
    for key, value in params.items():
        cmd += ["-p", f"{key}:={value}"]
    return cmd


def run_bench(duration_s: float = 60.0, warmup_s: Optional[float] = None, rate_hz: float = 15.0, preset: str = "default",
              device: str = "cpu", backend: str = "torch", suite: str = "sot-day", clip_index: int = 0, command: str = "",
              debug_image: bool = True, domain_id: Optional[int] = None, progress: bool = True,
              replay_process: bool = True) -> Dict[str, Any]:
    """Run the benchmark and return the result dict (see module docstring).

    replay_process: run the replay node in its own process (as on a robot,
    where drivers are separate processes; default), else in this one (the
    replay then competes with the tracker for this interpreter's GIL).
    """
    clip = None
    if not command or warmup_s is None or not replay_process:
        clip = load_suite_clip(suite, None, clip_index)
    text = command or next((c for _, c in clip.commands if c.strip().lower() != "stop"), "")
    if not text:
        raise ValueError(f"clip {clip.name} has no command; pass --command")
    if warmup_s is None:
        warmup_s = len(clip.frames) / rate_hz + 1.0
    clip_name = clip.name if clip is not None else f"{suite}[{clip_index}]"
    proc = None
    replay_rc = None
    with ros_context(domain_id) as context:
        replay = None
        if not replay_process:
            replay = ReplayNode(clip=clip, autostart=False, context=context, parameter_overrides=[
                Parameter("rate_hz", value=float(rate_hz)), Parameter("loop", value=True),
                Parameter("publish_commands", value=False), Parameter("events.format", value="array"),
                Parameter("encodings.rgb", value="bgr8"), Parameter("encodings.depth", value="16UC1"),
                Parameter("encodings.thermal", value="mono16")])
        tracker = TrackerNode(context=context, parameter_overrides=[
            Parameter("model.preset", value=preset), Parameter("model.device", value=device),
            Parameter("model.backend", value=backend),
            Parameter("model.warm_up", value=False), Parameter("debug_image.enabled", value=bool(debug_image))])
        tracker.warm_up_for([text])  # load the model the command needs before measuring
        console = CommandConsoleNode(context=context)
        recorder = OutputRecorder(context=context)
        executor = SingleThreadedExecutor(context=context)
        nodes = tuple(n for n in (replay, tracker, console, recorder) if n is not None)
        for node in nodes:
            executor.add_node(node)
        try:
            if not wait_for_matches(executor, [(tracker.pub_tracks, 1), (console.publisher, 1)], timeout_s=10.0):
                raise RuntimeError("bench ros: DDS discovery between the nodes did not complete in 10 s")
            console.send(text)
            spin_until(executor, lambda: bool(tracker.active_queries()), 5.0)
            if replay is not None:
                replay.start()
            else:
                env = dict(os.environ, ROS_DOMAIN_ID=str(context.get_domain_id()))
                root = str(Path(__file__).resolve().parents[2])
                env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
                proc = subprocess.Popen(_replay_command(suite, clip_index, rate_hz), env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if not spin_until(executor, lambda: tracker.rgb_frames_received > 0 or proc.poll() is not None,
                                  120.0) or proc.poll() is not None:
                    raise RuntimeError(f"bench ros: the replay process sent no frames (exit code {proc.poll()}): "
                                       f"{(proc.stderr.read() if proc.poll() is not None else '')[-2000:]}")
            spin_until(executor, lambda: False, warmup_s)
            # ---- measurement window
            rss_start = rss_mb()
            t0_ns = time.time_ns()
            rgb0, dropped0, received0 = tracker.rgb_frames_received, tracker._slot.dropped, len(recorder.tracks)
            published0 = replay.frames_published if replay is not None else 0
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
                    bar.set_postfix(out=len(recorder.tracks) - received0, rgb_in=tracker.rgb_frames_received - rgb0)
                    next_tick += 1.0
            if bar is not None:
                bar.close()
            rgb_in = tracker.rgb_frames_received - rgb0
            published = replay.frames_published - published0 if replay is not None else None
            slot_dropped = tracker._slot.dropped - dropped0
            rss_end = rss_mb()
            window = [(rx, m) for rx, m in recorder.tracks[received0:] if C.stamp_to_ns(m.header.stamp) >= t0_ns]
            tracker_name = tracker.tracker_name()
            stages = {k: _stats(list(v)[stages0[k]:]) for k, v in tracker.stage_ms.items()}
            bad_input = dict(tracker.bad_input)
        finally:
            if proc is not None:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                replay_rc = proc.returncode
            for node in reversed(nodes):
                executor.remove_node(node)
                node.destroy_node()
            executor.shutdown()
    publish_ms = [float(m.latency_ms) for _, m in window]
    receive_ms = [(rx - C.stamp_to_ns(m.header.stamp)) / 1e6 for rx, m in window]
    thirds = max(1, len(publish_ms) // 3)
    with_tracks = sum(1 for _, m in window if m.tracks)
    result = {
        "benchmark": "ros", "preset": preset, "backend": backend, "tracker": tracker_name, "clip": clip_name, "command": text,
        "rate_hz": rate_hz, "duration_s": duration_s, "warmup_s": warmup_s, "debug_image": bool(debug_image),
        "modalities": ["rgb", "depth", "thermal", "event"],
        "latency_publish_ms": _stats(publish_ms), "latency_receive_ms": _stats(receive_ms),
        "stage_ms": {"wait_before_inference": stages["wait"], "tracker_step": stages["step"],
                     "publish_outputs": stages["publish"]},
        "latency_publish_p50_first_third_ms": _stats(publish_ms[:thirds])["p50"],
        "latency_publish_p50_last_third_ms": _stats(publish_ms[-thirds:])["p50"],
        "replay": "separate process" if replay_process else "in-process", "replay_exit_code": replay_rc,
        "frames_published": published, "frames_received_by_node": rgb_in, "track_arrays_received": len(window),
        "output_rate_hz": round(len(window) / duration_s, 2), "input_rate_hz": round(rgb_in / duration_s, 2),
        "frames_dropped": max(0, rgb_in - len(window)), "frames_dropped_stale_in_node": slot_dropped,
        "frames_with_tracks": with_tracks,
        "rss_mb_start": round(rss_start, 1), "rss_mb_end": round(rss_end, 1),
        "rss_growth_pct": round(100.0 * (rss_end - rss_start) / rss_start, 2) if rss_start else None,
        "bad_input": bad_input, "machine": machine_info(),
        "note": ("RSS is the tracker process (tracker node + subscriber" + ("" if replay_process else " + replay")
                 + "); frames_dropped = RGB frames received by the node and never answered"),
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
    print(f"{'frames dropped (of received by the node)':44s} {r['frames_dropped']:8d} "
          f"{r['frames_received_by_node']:8d}")
    print(f"{'p50 latency first / last third (ms)':44s} {r['latency_publish_p50_first_third_ms'] or 0:8.1f} "
          f"{r['latency_publish_p50_last_third_ms'] or 0:8.1f}")
    print(f"{'RSS start / end (MiB), growth %':44s} {r['rss_mb_start']:8.1f} {r['rss_mb_end']:8.1f} "
          f"{r['rss_growth_pct'] if r['rss_growth_pct'] is not None else float('nan'):8.2f}")


def run(args: argparse.Namespace) -> int:
    result = run_bench(duration_s=args.duration, warmup_s=args.warmup, rate_hz=args.rate, preset=args.preset,
                       device=args.device, backend=args.backend, suite=args.suite, clip_index=args.clip, command=args.command,
                       debug_image=not args.no_debug_image, domain_id=args.domain_id,
                       replay_process=not args.in_process_replay)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print_table(result)
    print(f"wrote {args.json}")
    return 0 if result["track_arrays_received"] > 0 else 1
