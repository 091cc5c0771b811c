"""replay_node: publish a synthetic clip or an MCAP bag on the tracker's topics.

Publishes (relative names, same as tracker_node subscribes):
  rgb/image, rgb/camera_info, depth/image, thermal/image (sensor_msgs),
  events (vl_tracking_ros/EventArray) or events/image (sensor_msgs/Image);
  each frame's event packet is followed by an empty packet stamped at the
  frame ("stream complete up to here", as drivers' time-only packets say),
  command (std_msgs/String, the clip's scripted commands at their frames).

The source is a suite of the synthetic world (``source: suite``, generated on
the fly from ``suite`` + ``seed`` + ``clip_index``) or a bag written by
``vl-tracking generate --bag`` (``source: bag``). Frames go out at ``rate_hz``
(0 = the clip's own rate) stamped with the node clock at publish time, so
``now - stamp`` downstream is the true pipeline latency; every stream of one
frame carries the same stamp, and the frame's events keep their offsets
relative to it. Messages are built once per clip frame and only re-stamped
when looping, so the replay itself costs little CPU.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from ..core.types import CameraIntrinsics, EventBatch, SensorFrame
from ..msg import EventArray
from . import convert as C
from . import params as P
from .node_main import spin_main


@dataclass
class ReplayClip:
    """What the replay node publishes, independent of where it came from.

    frames: the clip's frames (SensorFrame: image_rgb, depth_m, thermal_k, camera).
    events: per frame, the raw events since the previous frame (EventBatch with
        ``t_us`` on the clip clock, i.e. ``frame.stamp_ns / 1000``), or None.
    commands: (frame_index, command text) in order.
    camera: RGB intrinsics (None: no camera_info published).
    fps: the clip's frame rate.
    """

    frames: Sequence[SensorFrame]
    events: Sequence[Optional[EventBatch]] = ()
    commands: Sequence[Tuple[int, str]] = ()
    camera: Optional[CameraIntrinsics] = None
    fps: float = 15.0
    name: str = "clip"


def clip_from_world(clip: Any, name: str = "") -> ReplayClip:
    """Adapt a ``vl_tracking_ros.data`` Clip (frames, events, command_schedule,
    camera, fps) to a ReplayClip."""
    frames = list(clip.frames)
    events = list(getattr(clip, "events", None) or [None] * len(frames))
    camera = getattr(clip, "camera", None) or (frames[0].camera if frames else None)
    return ReplayClip(frames=frames, events=events, commands=list(getattr(clip, "command_schedule", ())),
                      camera=camera, fps=float(getattr(clip, "fps", 15.0)),
                      name=name or str(getattr(clip, "name", getattr(clip, "clip_id", "clip"))))


def load_suite_clip(suite: str, seed: Optional[int] = None, clip_index: int = 0) -> ReplayClip:
    """Render clip ``clip_index`` of synthetic suite ``suite`` (``seed`` None
    or negative = the suite's default seed)."""
    from ..data.suites import get_suite

    s = get_suite(suite, seed=None if seed is None or seed < 0 else seed)
    clip = s.clip(clip_index)  # IndexError names the suite's size
    return clip_from_world(clip, name=clip.name)


def load_bag_clip(path: str) -> ReplayClip:
    """Read a clip from an MCAP bag written by ``vl-tracking generate --bag``."""
    from ..data import bag

    return clip_from_world(bag.read_clip(path), name=path)


@dataclass
class _FrameMsgs:
    rgb: Image
    info: Optional[CameraInfo]
    depth: Optional[Image]
    thermal: Optional[Image]
    events: Optional[Any]
    clip_stamp_ns: int
    events_offset_ns: int = 0  # event window start - frame stamp (<= 0: events precede the frame)


class ReplayNode(Node):
    """Publishes a :class:`ReplayClip` (given, or loaded from the parameters).

    Attributes for in-process users (demo, bench): ``frames_published``,
    ``done`` (set after the last frame unless looping), ``on_frame`` (optional
    callable ``(index, stamp_ns)`` run after each published frame);
    ``autostart=False`` waits for :meth:`start` instead of ``start_delay_s``;
    ``gate`` (optional callable -> bool) holds the next frame while it returns
    False (the demo's lock-step mode: one frame per answered frame).
    """

    def __init__(self, node_name: str = "replay_node", clip: Optional[ReplayClip] = None, autostart: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.config = cfg = P.replay_config(P.declare_and_read(self, P.REPLAY_PARAMS))
        if clip is None:
            clip = load_bag_clip(cfg.bag_path) if cfg.source == "bag" else load_suite_clip(cfg.suite, cfg.seed,
                                                                                           cfg.clip_index)
        if not clip.frames:
            raise ValueError(f"replay clip {clip.name!r} has no frames")
        self.clip = clip
        self.frames_published = 0
        self.done = threading.Event()
        self.on_frame = None
        self.gate = None
        self._cache: List[Optional[_FrameMsgs]] = [None] * len(clip.frames)
        self._commands = {}
        for index, text in clip.commands:
            self._commands.setdefault(int(index), []).append(text)

        sensor_qos = qos_profile_sensor_data if cfg.qos_sensor_reliability == "best_effort" else \
            QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)
        self.pub_rgb = self.create_publisher(Image, "rgb/image", sensor_qos)
        self.pub_info = self.create_publisher(CameraInfo, "rgb/camera_info", sensor_qos)
        self.pub_depth = self.create_publisher(Image, "depth/image", sensor_qos) \
            if "depth" in cfg.modalities else None
        self.pub_thermal = self.create_publisher(Image, "thermal/image", sensor_qos) \
            if "thermal" in cfg.modalities else None
        self.pub_events = None
        if "event" in cfg.modalities:
            self.pub_events = self.create_publisher(EventArray, "events", sensor_qos) if cfg.events_format == "array" \
                else self.create_publisher(Image, "events/image", sensor_qos)
        cmd_qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)
        self.pub_command = self.create_publisher(String, "command", cmd_qos) if cfg.publish_commands else None

        self.rate_hz = cfg.rate_hz if cfg.rate_hz > 0 else clip.fps
        self._index = 0
        self._timer = None
        self._start_timer = self.create_timer(max(cfg.start_delay_s, 1e-3), self.start) if autostart else None
        self.get_logger().info(f"replaying {clip.name}: {len(clip.frames)} frames at {self.rate_hz:.1f} Hz "
                               f"(rgb {cfg.encodings_rgb}, modalities {', '.join(cfg.modalities) or 'none'})")

    def start(self) -> None:
        """Start publishing (called by the start-delay timer, or by an
        in-process user that created the node with ``autostart=False``)."""
        if self._start_timer is not None:
            self._start_timer.cancel()
            self.destroy_timer(self._start_timer)
            self._start_timer = None
        if self._timer is None:
            self._timer = self.create_timer(1.0 / self.rate_hz, self._tick)

    # -------------------------------------------------------------- messages
    def _build(self, i: int) -> _FrameMsgs:
        cfg, frame = self.config, self.clip.frames[i]
        fid = cfg.frame_id
        rgb = C.rgb_to_image_msg(frame.image_rgb, 0, fid, cfg.encodings_rgb)
        camera = frame.camera or self.clip.camera
        info = C.intrinsics_to_camera_info(camera, 0, fid) if camera is not None else None
        depth = thermal = events = None
        events_offset_ns = 0
        if self.pub_depth is not None and frame.depth_m is not None:
            depth = C.depth_m_to_image_msg(frame.depth_m, 0, fid, cfg.encodings_depth)
        if self.pub_thermal is not None and frame.thermal_k is not None:
            thermal = C.kelvin_to_image_msg(frame.thermal_k, 0, fid, cfg.encodings_thermal)
        if self.pub_events is not None:
            batch = self.clip.events[i] if i < len(self.clip.events) else None
            if cfg.events_format == "array" and batch is not None:
                events, events_offset_ns = self._event_array(batch, frame.stamp_ns, fid)
            elif cfg.events_format == "image" and frame.event_frame is not None:
                events = _event_frame_msg(frame.event_frame, fid)
        return _FrameMsgs(rgb, info, depth, thermal, events, int(frame.stamp_ns), events_offset_ns)

    @staticmethod
    def _event_array(batch: EventBatch, frame_stamp_ns: int, frame_id: str) -> Tuple[EventArray, int]:
        """(EventArray, offset_ns): the header stamp is the window start (the
        earliest event) and ``t_us`` count from it; offset_ns is the window
        start minus the frame stamp, re-applied to the live stamp on publish."""
        t_us = np.asarray(batch.t_us, dtype=np.int64)
        start_us = int(t_us.min()) if t_us.size else frame_stamp_ns // 1000
        msg = C.batch_to_event_array(batch, stamp_ns=start_us * 1000, frame_id=frame_id)
        return msg, start_us * 1000 - int(frame_stamp_ns)

    # ------------------------------------------------------------------ tick
    def _tick(self) -> None:
        if self.gate is not None and not self.gate():
            return
        cfg, n = self.config, len(self.clip.frames)
        if cfg.max_frames and self.frames_published >= cfg.max_frames:
            self._finish()
            return
        if self._index >= n:
            if not cfg.loop:
                self._finish()
                return
            self._index = 0
        i = self._index
        if self._cache[i] is None:
            self._cache[i] = self._build(i)
        msgs = self._cache[i]
        stamp_ns = self.get_clock().now().nanoseconds
        stamp = C.ns_to_stamp(stamp_ns)
        for m in (msgs.rgb, msgs.info, msgs.depth, msgs.thermal):
            if m is not None:
                m.header.stamp = stamp
        if msgs.events is not None:
            msgs.events.header.stamp = C.ns_to_stamp(stamp_ns + msgs.events_offset_ns)
        # partners first, RGB last: the tracker pairs the RGB frame with what is already there
        if msgs.info is not None:
            self.pub_info.publish(msgs.info)
        if msgs.depth is not None:
            self.pub_depth.publish(msgs.depth)
        if msgs.thermal is not None:
            self.pub_thermal.publish(msgs.thermal)
        if msgs.events is not None:
            self.pub_events.publish(msgs.events)
            if isinstance(msgs.events, EventArray):
                # an empty packet stamped at the frame: "no more events up to here", so the
                # tracker need not wait for later events before using this frame
                self.pub_events.publish(EventArray(header=msgs.rgb.header, width=msgs.events.width,
                                                   height=msgs.events.height))
        self.pub_rgb.publish(msgs.rgb)
        if self.pub_command is not None and (self.frames_published < n or cfg.loop):
            for text in self._commands.get(i, ()):
                self.pub_command.publish(String(data=text))
                self.get_logger().info(f"frame {i}: command {text!r}")
        self.frames_published += 1
        self._index += 1
        if self.on_frame is not None:
            self.on_frame(i, stamp_ns)

    def _finish(self) -> None:
        if not self.done.is_set():
            self.done.set()
            if self._timer is not None:
                self._timer.cancel()
            self.get_logger().info(f"replay finished after {self.frames_published} frames")


def _event_frame_msg(event_frame: np.ndarray, frame_id: str) -> Image:
    """(H, W, C) float32 event representation -> 32FC1 Image of its channel sum."""
    plane = np.ascontiguousarray(np.asarray(event_frame, dtype=np.float32).reshape(
        event_frame.shape[0], event_frame.shape[1], -1).sum(axis=2), dtype="<f4")
    msg = Image(height=plane.shape[0], width=plane.shape[1], encoding="32FC1", is_bigendian=0,
                step=plane.shape[1] * 4)
    msg.header.frame_id = frame_id
    msg.data = plane.tobytes()
    return msg


def _spin_until_done(node: "ReplayNode") -> None:
    """Spin until the replay finished (or shutdown)."""
    while rclpy.ok() and not node.done.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)


def main(argv: Optional[list] = None) -> int:
    # ValueError / IndexError: a bad suite, clip index or bag path
    return spin_main("replay_node", ReplayNode, argv, spin=_spin_until_done,
                     errors=(P.ParameterError, ValueError, IndexError))


if __name__ == "__main__":
    sys.exit(main())
