"""``vl-tracking demo --out DIR``: the live pipeline, in one process, over real DDS.

A replay node publishes a synthetic clip (RGB + depth + thermal + events +
camera_info) at ``--rate`` Hz -- in lock-step by default (the next frame goes
out once the tracker answered the previous one, so a slow CPU model still
gives a complete video; ``--realtime`` lets a slow model drop frames as it
would on a robot); the tracker node subscribes to it like on a robot; a scripted console publishes the commands (the clip's own schedule,
which includes a target switch, then ``stop`` near the end); a recorder
subscribes to ``tracks`` and ``debug_image``. Writes:

  DIR/demo.mp4       the annotated debug images received over DDS
  DIR/tracks.jsonl   one JSON object per received TrackArray
  DIR/summary.json   the printed summary

All nodes share one executor in this process, on a private ROS domain.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from ..msg import TrackArray
from . import convert as C
from .command_console_node import CommandConsoleNode
from .inprocess import OutputRecorder, machine_info, ros_context, spin_until, wait_for_matches
from .replay_node import ReplayClip, ReplayNode, load_suite_clip
from .tracker_node import TrackerNode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (demo.mp4, tracks.jsonl, summary.json)")
    parser.add_argument("--suite", default="switch", help="synthetic suite to replay (default: switch, whose "
                        "command switches target mid-clip)")
    parser.add_argument("--seed", type=int, default=None, help="suite seed (default: the suite's own)")
    parser.add_argument("--clip", type=int, default=0, help="clip index in the suite")
    parser.add_argument("--frames", type=int, default=0, help="frames to replay (default: the whole clip)")
    parser.add_argument("--rate", type=float, default=10.0, help="replay rate in Hz (default 10; 0 = clip fps)")
    parser.add_argument("--preset", default="default", help="tracker preset (default: the routing preset)")
    parser.add_argument("--device", default="cpu", help="inference device")
    parser.add_argument("--realtime", action="store_true",
                        help="replay at --rate regardless of the tracker (a slow model then drops frames); "
                             "default: lock-step, the next frame goes out once the previous one was answered "
                             "(or after 10 s), so the video has every frame")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS domain (default: private, from the pid)")


def demo_script(clip: ReplayClip, frames: int) -> List[Tuple[int, str]]:
    """The console's script: the clip's commands within the replayed frames
    (a target switch in the 'switch' suite), then 'stop' near the end."""
    script = [(i, text) for i, text in clip.commands if i < frames and text.strip().lower() != "stop"]
    if not script:
        raise ValueError(f"clip {clip.name} has no command in its first {frames} frames")
    stop_at = max(script[-1][0] + 1, frames - max(3, frames // 10))
    script.append((stop_at, "stop"))
    return script


def track_array_to_json(msg: TrackArray, received_ns: int) -> Dict[str, Any]:
    """One TrackArray as a JSON-friendly dict (tracks.jsonl line)."""
    return {
        "stamp_ns": C.stamp_to_ns(msg.header.stamp), "frame_id": msg.header.frame_id, "received_ns": received_ns,
        "mode": msg.mode, "tracker": msg.tracker, "latency_ms": round(float(msg.latency_ms), 2),
        "active_commands": list(msg.active_commands), "missing_modalities": list(msg.missing_modalities),
        "tracks": [{
            "id": int(t.id), "state": int(t.state), "box_xyxy": [round(float(v), 1) for v in
                                                                  (t.x_min, t.y_min, t.x_max, t.y_max)],
            "confidence": round(float(t.confidence), 3), "command": t.command, "label": t.label,
            "position_m": [round(t.position.x, 3), round(t.position.y, 3), round(t.position.z, 3)]
            if t.has_position else None,
        } for t in msg.tracks],
    }


class _VideoSink:
    """Writes RGB frames to an mp4 (the project's writer when present, else OpenCV)."""

    def __init__(self, path: str, fps: float) -> None:
        self.path, self.fps, self.frames = path, fps, 0
        self._writer = None

    def write(self, image_rgb: np.ndarray) -> None:
        if self._writer is None:
            import cv2

            h, w = image_rgb.shape[:2]
            self._writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise RuntimeError(f"cannot open a video writer for {self.path}")
        self._writer.write(np.ascontiguousarray(image_rgb[..., ::-1]))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


def run_demo(out_dir: str, suite: str = "switch", seed: Optional[int] = None, clip_index: int = 0,
             frames: int = 0, rate_hz: float = 10.0, preset: str = "default", device: str = "cpu",
             domain_id: Optional[int] = None, verbose: bool = True, realtime: bool = False) -> Dict[str, Any]:
    """Run the demo; returns the summary dict (also written to summary.json)."""
    os.makedirs(out_dir, exist_ok=True)
    t_start = time.monotonic()
    clip = load_suite_clip(suite, seed, clip_index)
    n = min(frames, len(clip.frames)) if frames > 0 else len(clip.frames)
    script = demo_script(clip, n)
    rate = rate_hz if rate_hz > 0 else clip.fps
    if verbose:
        print(f"demo: {clip.name}, {n} frames at {rate:.1f} Hz, preset {preset}; script: {script}")
    video = _VideoSink(os.path.join(out_dir, "demo.mp4"), fps=rate)
    tracks_path = os.path.join(out_dir, "tracks.jsonl")
    with ros_context(domain_id) as context, open(tracks_path, "w") as tracks_file:
        replay = ReplayNode(clip=clip, autostart=False, context=context, parameter_overrides=[
            Parameter("rate_hz", value=float(rate)), Parameter("max_frames", value=n),
            Parameter("publish_commands", value=False), Parameter("start_delay_s", value=0.0),
            Parameter("encodings.rgb", value="bgr8")])
        tracker = TrackerNode(context=context, parameter_overrides=[
            Parameter("model.preset", value=preset), Parameter("model.device", value=device),
            Parameter("model.warm_up", value=False)])
        tracker.warm_up_for([text for _, text in script])  # only the models the script needs
        console = CommandConsoleNode(context=context)
        recorder = OutputRecorder(context=context, on_debug_image=lambda _stamp, img: video.write(img))
        executor = SingleThreadedExecutor(context=context)
        for node in (replay, tracker, console, recorder):
            executor.add_node(node)
        try:
            pubs = [tracker.pub_tracks, tracker.pub_debug, console.publisher, replay.pub_rgb]
            if not wait_for_matches(executor, [(p, 1) for p in pubs if p is not None], timeout_s=10.0):
                raise RuntimeError("demo: DDS discovery between the nodes did not complete in 10 s")
            pending = list(script)

            def on_frame(index: int, _stamp_ns: int) -> None:
                while pending and pending[0][0] <= index:
                    text = pending.pop(0)[1]
                    console.send(text)
                    if verbose:
                        print(f"  frame {index:4d}: console -> {text!r}")

            last = {"stamp": None, "t": 0.0}

            def after_frame(index: int, stamp_ns: int) -> None:
                last["stamp"], last["t"] = stamp_ns, time.monotonic()
                on_frame(index + 1, stamp_ns)  # after frame i: the commands of frame i+1

            def answered() -> bool:
                if last["stamp"] is None or time.monotonic() - last["t"] > 10.0:
                    return True
                return bool(recorder.tracks) and C.stamp_to_ns(recorder.tracks[-1][1].header.stamp) >= last["stamp"]

            on_frame(0, 0)  # frame-0 commands go out before the first frame
            replay.on_frame = after_frame
            if not realtime:
                replay.gate = answered
            replay.start()
            spin_until(executor, replay.done.is_set, timeout_s=n / rate + (60.0 if realtime else 10.0 * n + 60.0))
            # drain: the last frames are still in the tracker / on the wire
            last = len(recorder.tracks)
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.2)
                if len(recorder.tracks) == last and tracker._slot.peek_pending() is False:
                    break
                last = len(recorder.tracks)
        finally:
            for received_ns, msg in recorder.tracks:
                tracks_file.write(json.dumps(track_array_to_json(msg, received_ns)) + "\n")
            video.close()
            summary = _summary(clip, n, rate, script, replay, tracker, recorder, video, t_start)
            for node in (recorder, console, tracker, replay):
                executor.remove_node(node)
                node.destroy_node()
            executor.shutdown()
    summary["outputs"] = {"video": video.path, "tracks": tracks_path}
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if verbose:
        _print_summary(summary)
    return summary


def _summary(clip, n, rate, script, replay, tracker, recorder, video, t_start) -> Dict[str, Any]:
    msgs = [m for _, m in recorder.tracks]
    lat = np.asarray([m.latency_ms for m in msgs], dtype=np.float64)
    per_command: Dict[str, Dict[str, int]] = {}
    for m in msgs:
        key = "; ".join(m.active_commands) or "(idle)"
        entry = per_command.setdefault(key, {"frames": 0, "with_tracks": 0})
        entry["frames"] += 1
        entry["with_tracks"] += int(bool(m.tracks))
    return {
        "clip": clip.name, "frames_published": replay.frames_published, "frames_requested": n, "rate_hz": rate,
        "script": [[i, t] for i, t in script], "tracker": tracker.tracker_name(),
        "track_arrays_received": len(msgs), "debug_images_received": recorder.debug_count,
        "video_frames": video.frames, "frames_dropped_by_tracker": int(tracker._slot.dropped),
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
        "per_command": per_command, "bad_input": dict(tracker.bad_input),
        "wall_s": round(time.monotonic() - t_start, 1), "machine": machine_info(),
    }


def _print_summary(s: Dict[str, Any]) -> None:
    print(f"\ndemo summary ({s['clip']}, tracker {s['tracker']})")
    print(f"  frames published {s['frames_published']}, TrackArrays received {s['track_arrays_received']}, "
          f"debug images {s['debug_images_received']}, dropped by tracker (stale) {s['frames_dropped_by_tracker']}")
    if s["latency_ms_p50"] is not None:
        print(f"  latency sensor stamp -> TrackArray publish: p50 {s['latency_ms_p50']:.1f} ms, "
              f"p95 {s['latency_ms_p95']:.1f} ms")
    for command, entry in s["per_command"].items():
        print(f"  {command[:60]:60s} {entry['with_tracks']:4d}/{entry['frames']:4d} frames with a track")
    print(f"  wrote {s['outputs']['video']} ({s['video_frames']} frames) and {s['outputs']['tracks']} "
          f"in {s['wall_s']} s")


def run(args: argparse.Namespace) -> int:
    summary = run_demo(args.out, suite=args.suite, seed=args.seed, clip_index=args.clip, frames=args.frames,
                       rate_hz=args.rate, preset=args.preset, device=args.device, domain_id=args.domain_id,
                       realtime=args.realtime)
    return 0 if summary["track_arrays_received"] > 0 else 1
