"""tracker_node: language-commanded multi-modal tracking over ROS 2.

Subscribes (relative names; remap them in launch):
  rgb/image (sensor_msgs/Image), rgb/camera_info (sensor_msgs/CameraInfo),
  depth/image, thermal/image (sensor_msgs/Image; when enabled),
  events (vl_tracking_ros/EventArray) and events/image (sensor_msgs/Image),
  events/packet (event_camera_msgs/EventPacket, evt3; only when importable),
  command (std_msgs/String).
Service: set_command (vl_tracking_ros/SetCommand).
Publishes:
  tracks (vl_tracking_ros/TrackArray, header copied from the RGB image),
  debug_image (sensor_msgs/Image rgb8, annotated), markers
  (visualization_msgs/MarkerArray, 3D when depth + camera_info), target_pose
  (geometry_msgs/PoseStamped of the primary target), /diagnostics
  (diagnostic_msgs/DiagnosticArray), detections (vision_msgs/Detection2DArray,
  only when vision_msgs is importable).

Threading: subscription callbacks only convert the message and hand it to the
core :class:`FrameAssembler` (which pairs each RGB frame with the nearest
depth / thermal / event data within the slop and carries on without a silent
stream); synced frames go into a keep-newest :class:`LatestSlot`. One worker
thread takes the newest frame, runs the tracker and publishes. A slow model
therefore drops stale frames instead of building a backlog, and DDS callbacks
never wait for inference.

Bad input (unknown encodings, wrong sizes, truncated data, bad commands, ...)
is logged as a throttled warning naming the problem, counted in diagnostics,
and dropped; nothing garbage is published.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from ..core.assembler import AssemblerConfig, FrameAssembler
from ..core.commands import CommandError, parse_command
from ..core.geometry import box_to_point_m
from ..core.imageconv import ThermalCalibration
from ..core.mailbox import LatestSlot
from ..core.tracker import Tracker
from ..core.types import SensorFrame, TargetQuery, TrackerOutput
from ..msg import EventArray, TrackArray
from ..srv import SetCommand
from . import convert as C
from . import params as P
from .node_main import spin_main

_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def _qos(reliability: str, depth: int) -> QoSProfile:
    return QoSProfile(reliability=_RELIABILITY[reliability], history=HistoryPolicy.KEEP_LAST, depth=depth,
                      durability=DurabilityPolicy.VOLATILE)


class _Rate:
    """Counts events and reports the rate over the last diagnostics period."""

    def __init__(self) -> None:
        self.count = 0
        self._last_count = 0
        self._last_t = time.monotonic()
        self.last_seen: Optional[float] = None

    def tick(self) -> None:
        self.count += 1
        self.last_seen = time.monotonic()

    def rate_hz(self) -> float:
        now = time.monotonic()
        dt = max(now - self._last_t, 1e-6)
        hz = (self.count - self._last_count) / dt
        self._last_t, self._last_count = now, self.count
        return hz


class TrackerNode(Node):
    """The tracker node (see module docstring). ``tracker`` injects a built
    tracker (tests, the demo); otherwise ``model.preset`` is built, falling
    back to ``model.fallback_preset`` when it cannot be. ``kwargs`` go to
    ``rclpy.node.Node`` (``context``, ``parameter_overrides``, ``namespace``)."""

    def __init__(self, node_name: str = "tracker_node", tracker: Optional[Tracker] = None, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.config = cfg = P.tracker_config(P.declare_and_read(self, P.TRACKER_PARAMS))
        self._stop = threading.Event()
        self._assembler_lock = threading.Lock()
        self._assembler = FrameAssembler(self._assembler_config())
        self._slot: LatestSlot = LatestSlot()
        self._calibration = self._thermal_calibration()

        # commands: written by callbacks, applied by the worker before the next step
        self._cmd_lock = threading.Lock()
        self._queries: List[TargetQuery] = []
        self._commands_dirty = False

        # bookkeeping read by diagnostics and tests
        self.bad_input: Dict[str, int] = {}
        self.last_warning: Dict[str, str] = {}
        self._warned_at: Dict[str, float] = {}
        self.published = 0
        self.tracker_errors = 0
        self._latencies_ms: Deque[float] = deque(maxlen=300)
        #: per-frame stage times, ms: wait (stamp -> worker picks the frame), step (tracker), publish
        self.stage_ms: Dict[str, Deque[float]] = {k: deque(maxlen=2000) for k in ("wait", "step", "publish")}
        self._rates: Dict[str, _Rate] = {k: _Rate() for k in ("rgb", "camera_info", "depth", "thermal", "event",
                                                                  "output")}
        self._last_rgb_stamp_ns: Optional[int] = None
        self._camera = None

        self._tracker, self._tracker_note = (tracker, "") if tracker is not None else self._build_tracker()

        # publishers (reliable out by default)
        out_qos = _qos(cfg.qos_output_reliability, cfg.qos_output_depth)
        self.pub_tracks = self.create_publisher(  # own profile copy: overrides are applied in place
            TrackArray, "tracks", _qos(cfg.qos_output_reliability, cfg.qos_output_depth),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self.pub_debug = self.create_publisher(Image, "debug_image", out_qos) if cfg.debug_image_enabled else None
        self.pub_markers = self.create_publisher(MarkerArray, "markers", out_qos)
        self.pub_pose = self.create_publisher(PoseStamped, "target_pose", out_qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_detections = None
        if C.HAVE_VISION_MSGS:  # pragma: no cover - vision_msgs is not installable here
            self.pub_detections = self.create_publisher(C.Detection2DArray, "detections", out_qos)

        # subscriptions (sensor-data QoS in by default)
        def in_qos() -> QoSProfile:  # a fresh profile per topic: rclpy applies overrides in place
            return _qos(cfg.qos_sensor_reliability, cfg.qos_sensor_depth)

        # per-topic overrides the standard ROS 2 way, e.g. qos_overrides./rgb/image.subscription.reliability
        overridable = {"qos_overriding_options": QoSOverridingOptions.with_default_policies()}
        self.create_subscription(Image, "rgb/image", self._on_rgb, in_qos(), **overridable)
        self.create_subscription(CameraInfo, "rgb/camera_info", self._on_camera_info, in_qos(), **overridable)
        if "depth" in cfg.modalities:
            self.create_subscription(Image, "depth/image", self._on_depth, in_qos(), **overridable)
        if "thermal" in cfg.modalities:
            self.create_subscription(Image, "thermal/image", self._on_thermal, in_qos(), **overridable)
        if "event" in cfg.modalities:
            self.create_subscription(EventArray, "events", self._on_events, in_qos(), **overridable)
            self.create_subscription(Image, "events/image", self._on_event_image, in_qos(), **overridable)
            if C.HAVE_EVENT_CAMERA_MSGS:  # pragma: no cover - event_camera_msgs is not installable here
                self.create_subscription(C.EventPacket, "events/packet", self._on_event_packet, in_qos())
        cmd_qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)
        self.create_subscription(String, "command", self._on_command, cmd_qos)
        self.create_service(SetCommand, "set_command", self._on_set_command)

        self.create_timer(0.02, self._pop_frames)
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"tracking with {self.tracker_name()}; modalities rgb+{'+'.join(cfg.modalities)}")

    # ------------------------------------------------------------------ setup
    def _assembler_config(self) -> AssemblerConfig:
        cfg = self.config
        homographies = {m: h for m, h in (("depth", cfg.align_depth_homography),
                                          ("thermal", cfg.align_thermal_homography),
                                          ("event", cfg.align_event_homography)) if h is not None}
        try:
            return AssemblerConfig(
                modalities=cfg.modalities,
                slop_ns=max(1, int(round(cfg.sync_slop_ms * 1e6))),
                silence_timeout_ns=int(round(cfg.sync_silence_timeout_s * 1e9)),
                max_wait_ns=int(round(cfg.sync_max_wait_ms * 1e6)),
                event_window_us=max(1, int(round(cfg.events_window_ms * 1e3))),
                event_representation=cfg.events_representation,
                event_bins=cfg.events_bins,
                homographies={m: np.asarray(h, dtype=np.float64).reshape(3, 3) for m, h in homographies.items()},
            )
        except ValueError as exc:  # AssemblerError: e.g. a singular homography
            raise P.ParameterError(f"sync/events/align parameters: {exc}") from exc

    def _thermal_calibration(self) -> Optional[ThermalCalibration]:
        cfg = self.config
        if cfg.thermal_calibration == "auto":
            return None
        if cfg.thermal_calibration == "linear":
            return ThermalCalibration(gain=cfg.thermal_gain, offset=cfg.thermal_offset, unit=cfg.thermal_unit)
        return ThermalCalibration.preset(cfg.thermal_calibration)

    def _build_tracker(self):
        from ..trackers.router import build_with_options

        cfg = self.config
        options: Dict[str, Any] = {"device": cfg.model_device, "backend": cfg.model_backend}
        if cfg.model_weights_dir:
            options["weights_dir"] = cfg.model_weights_dir
        if cfg.model_preset == "default":
            options.update(single_preset=cfg.model_single_preset, multi_preset=cfg.model_multi_preset,
                           fallback_preset=cfg.model_fallback_preset, warm_up=cfg.model_warm_up)
        try:
            return build_with_options(cfg.model_preset, **options), ""
        except Exception as exc:  # missing weights, unknown preset, backend failure: stay up
            note = f"fallback: {cfg.model_preset} failed ({type(exc).__name__}: {exc})"
            self.get_logger().error(f"cannot build tracker preset {cfg.model_preset!r}: {type(exc).__name__}: "
                                    f"{exc}; falling back to the {cfg.model_fallback_preset!r} preset")
            return build_with_options(cfg.model_fallback_preset, **options), note

    def warm_up_for(self, commands: Sequence[str]) -> None:
        """Build now the model(s) that ``commands`` will need (a routing
        tracker loads its roles lazily otherwise), so the first tracked frame
        does not pay the model-load time. Call before frames flow."""
        warm_up = getattr(self._tracker, "warm_up", None)
        if not callable(warm_up):
            return
        roles = set()
        for text in commands:
            try:
                queries = self._parse(text).queries
            except CommandError:
                continue
            roles.update("multi" if q.multi else "single" for q in queries)
        if roles:
            warm_up(tuple(sorted(roles, reverse=True)))

    @property
    def rgb_frames_received(self) -> int:
        """RGB images received and decoded so far."""
        return self._rates["rgb"].count

    def tracker_name(self) -> str:
        """What produces the tracks, e.g. ``default(single=mvlm-small, multi=heuristic [fallback])``."""
        describe = getattr(self._tracker, "description", None)
        name = describe() if callable(describe) else str(getattr(self._tracker, "name", "tracker"))
        return f"{name} [{self._tracker_note}]" if self._tracker_note else name

    # -------------------------------------------------------------- warnings
    def _warn(self, kind: str, text: str, dropped: bool = True) -> None:
        """Count a bad-input event of ``kind`` and log it, at most once per
        ``warn_throttle_s`` per kind (``dropped``: the message was discarded)."""
        self.bad_input[kind] = self.bad_input.get(kind, 0) + 1
        self.last_warning[kind] = text
        now = time.monotonic()
        if now - self._warned_at.get(kind, -1e18) >= self.config.warn_throttle_s:
            self._warned_at[kind] = now
            repeats = self.bad_input[kind]
            notes = (["dropped"] if dropped else []) + ([f"{repeats} times so far"] if repeats > 1 else [])
            self.get_logger().warning(f"{text} ({'; '.join(notes)})" if notes else text)

    # ------------------------------------------------------------- callbacks
    def _decode(self, topic: str, convert: Callable[[], Any]) -> Any:
        """Run one message conversion; a ValueError (bad encoding, size, step,
        ...) becomes a throttled warning naming the topic, and None."""
        try:
            return convert()
        except ValueError as exc:
            self._warn(topic, f"{topic}: {exc}")
            return None

    def _on_rgb(self, msg: Image) -> None:
        stamp_ns = C.stamp_to_ns(msg.header.stamp)
        image_rgb = self._decode("rgb/image", lambda: C.image_msg_to_rgb(msg))
        if image_rgb is None:
            return
        if self._last_rgb_stamp_ns is not None and stamp_ns <= self._last_rgb_stamp_ns:
            what = "duplicate" if stamp_ns == self._last_rgb_stamp_ns else "out-of-order"
            self._warn("rgb/stamp", f"rgb/image: {what} stamp {stamp_ns} ns (last {self._last_rgb_stamp_ns} ns)")
            return
        self._last_rgb_stamp_ns = stamp_ns
        self._rates["rgb"].tick()
        self._add("rgb/image", lambda a: a.add_rgb(stamp_ns, image_rgb, msg.header.frame_id))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        camera = self._decode("rgb/camera_info", lambda: C.camera_info_to_intrinsics(msg))
        if camera is None:
            return
        self._rates["camera_info"].tick()
        if camera != self._camera:
            self._camera = camera
            self._add("rgb/camera_info", lambda a: a.set_camera(camera))

    def _on_depth(self, msg: Image) -> None:
        depth_m = self._decode("depth/image", lambda: C.image_msg_to_depth_m(msg))
        if depth_m is None:
            return
        if not np.isfinite(depth_m).any():
            self._warn("depth/invalid", "depth/image: no valid depth pixel (all zero / NaN / Inf); no 3D "
                       "positions for this frame", dropped=False)
        self._rates["depth"].tick()
        stamp_ns = C.stamp_to_ns(msg.header.stamp)
        self._add("depth/image", lambda a: a.add_depth(stamp_ns, depth_m))

    def _on_thermal(self, msg: Image) -> None:
        thermal_k = self._decode("thermal/image", lambda: C.image_msg_to_thermal_k(
            msg, self._calibration, self.config.thermal_float_unit))
        if thermal_k is None:
            return
        self._rates["thermal"].tick()
        stamp_ns = C.stamp_to_ns(msg.header.stamp)
        self._add("thermal/image", lambda a: a.add_thermal(stamp_ns, thermal_k))

    def _on_events(self, msg: EventArray) -> None:
        batch = self._decode("events", lambda: C.event_array_to_batch(msg))
        if batch is None:
            return
        self._rates["event"].tick()
        # the packet covers the stream up to its newest event, or up to its stamp when empty
        covered_ns = max(C.stamp_to_ns(msg.header.stamp), int(batch.t_us.max()) * 1000 if len(batch) else 0)
        self._add("events", lambda a: a.add_events(batch, stamp_ns=covered_ns))

    def _on_event_packet(self, msg) -> None:  # pragma: no cover - needs event_camera_msgs
        batch = self._decode("events/packet", lambda: C.event_packet_to_batch(msg))
        if batch is None:
            return
        self._rates["event"].tick()
        self._add("events/packet", lambda a: a.add_events(batch))

    def _on_event_image(self, msg: Image) -> None:
        frame = self._decode("events/image", lambda: C.image_msg_to_event_frame(msg))
        if frame is None:
            return
        self._rates["event"].tick()
        stamp_ns = C.stamp_to_ns(msg.header.stamp)
        self._add("events/image", lambda a: a.add_event_image(stamp_ns, frame))

    def _add(self, topic: str, action) -> None:
        """Run ``action(assembler)`` under the lock; the assembler's own
        validation errors (size mismatch, ...) become bad-input warnings."""
        try:
            with self._assembler_lock:
                action(self._assembler)
        except ValueError as exc:
            self._warn(topic, f"{topic}: {exc}")
            return
        self._pop_frames()

    def _pop_frames(self) -> None:
        """Move synced frames from the assembler into the keep-newest slot
        (also on a timer, so frames waiting for a silent stream get released)."""
        with self._assembler_lock:
            frames = self._assembler.pop()
        for frame in frames:
            self._slot.put(frame)

    # -------------------------------------------------------------- commands
    def _parse(self, text: str):
        return parse_command(text, max_chars=self.config.command_max_chars)

    def _apply(self, parsed) -> List[TargetQuery]:
        """Apply a parsed command (track / add / stop) to the active queries;
        the worker hands them to the tracker before its next step. Raises
        CommandError (e.g. too many targets after 'add')."""
        with self._cmd_lock:
            self._queries = parsed.apply_to(self._queries)
            self._commands_dirty = True
            queries = list(self._queries)
        self.get_logger().info(f"commands: {C.commands_text(queries) or '(none: idle)'}")
        return queries

    def _on_command(self, msg: String) -> None:
        try:
            self._apply(self._parse(msg.data))
        except CommandError as exc:
            shown = msg.data if len(msg.data) <= 60 else msg.data[:57] + "..."
            self._warn("command", f"command {shown!r} rejected: {exc}")

    def _on_set_command(self, request: SetCommand.Request, response: SetCommand.Response) -> SetCommand.Response:
        try:
            queries = self._apply(self._parse(request.command))
        except CommandError as exc:
            self._warn("set_command", f"set_command rejected: {exc}")
            response.accepted = False
            response.message = str(exc)
            response.active_commands = C.commands_text(self.active_queries())
            return response
        response.accepted = True
        response.message = "cleared" if not queries else "tracking: " + "; ".join(C.commands_text(queries))
        response.active_commands = C.commands_text(queries)
        return response

    def active_queries(self) -> List[TargetQuery]:
        with self._cmd_lock:
            return list(self._queries)

    # ---------------------------------------------------------------- worker
    def _work(self) -> None:
        while not self._stop.is_set():
            frame = self._slot.get(timeout=0.1)
            if frame is None:
                continue
            try:
                self._process(frame)
            except Exception as exc:  # never let the worker die; report and go on
                self.tracker_errors += 1
                self._warn("tracker", f"tracker failed on frame {frame.stamp_ns} ns: {type(exc).__name__}: {exc}")

    def _process(self, frame: SensorFrame) -> None:
        t_pick = time.perf_counter()
        self.stage_ms["wait"].append((self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e6)
        with self._cmd_lock:
            dirty, queries = self._commands_dirty, list(self._queries)
            self._commands_dirty = False
        if dirty:
            self._tracker.set_commands(queries)
        if queries:
            output = self._tracker.step(frame)
            self.stage_ms["step"].append((time.perf_counter() - t_pick) * 1e3)
        else:
            output = TrackerOutput(mode="idle")
            self._warn("idle", "frames arrive but no command is active; send e.g. 'track the red ball' on "
                       "'command'", dropped=False)
        t_publish = time.perf_counter()
        self._publish(frame, output, queries)
        self.stage_ms["publish"].append((time.perf_counter() - t_publish) * 1e3)

    def _clean(self, frame: SensorFrame, output: TrackerOutput) -> TrackerOutput:
        """Drop invalid / low-confidence tracks; fill 3D positions from depth."""
        kept = []
        for tr in output.tracks:
            if not C.valid_track(tr, frame.width, frame.height):
                self._warn("tracker/output", f"tracker returned an invalid box {np.asarray(tr.box_xyxy).tolist()} "
                           f"(confidence {tr.confidence})")
                continue
            if tr.confidence < self.config.thresholds_min_confidence:
                continue
            if tr.position_m is None and frame.depth_m is not None and frame.camera is not None:
                tr.position_m = box_to_point_m(np.asarray(tr.box_xyxy, dtype=np.float32), frame.depth_m,
                                               frame.camera)
            kept.append(tr)
        output.tracks = kept
        return output

    def _publish(self, frame: SensorFrame, output: TrackerOutput, queries: Sequence[TargetQuery]) -> None:
        cfg = self.config
        output = self._clean(frame, output)
        header = Header(stamp=C.ns_to_stamp(frame.stamp_ns), frame_id=cfg.output_frame_id or frame.frame_id)
        missing = [m for m in cfg.modalities if m not in frame.available_modalities()]
        latency_ms = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e6
        msg = C.output_to_track_array(output, header, C.commands_text(queries), self.tracker_name(),
                                      latency_ms, missing)
        self.pub_tracks.publish(msg)
        self.published += 1
        self._rates["output"].tick()
        self._latencies_ms.append(latency_ms)
        camera_frame = cfg.output_frame_id or (frame.camera.frame_id if frame.camera else "") or frame.frame_id
        self.pub_markers.publish(C.track_array_to_markers(msg, camera_frame))
        primary = C.primary_track(msg, cfg.thresholds_pose_min_confidence)
        if primary is not None:
            self.pub_pose.publish(C.track_to_pose(primary, Header(stamp=header.stamp, frame_id=camera_frame)))
        if self.pub_detections is not None:  # pragma: no cover - needs vision_msgs
            self.pub_detections.publish(C.track_array_to_detections(msg))
        if self.pub_debug is not None:
            from ..viz.annotate import annotate

            mode = f"{output.mode} | {self.tracker_name()} | {latency_ms:.0f} ms"
            if missing:
                mode += " | missing: " + ",".join(missing)
            image = annotate(frame.image_rgb, output, C.commands_text(queries), mode)
            self.pub_debug.publish(C.rgb_to_image_msg(image, frame.stamp_ns, header.frame_id, "rgb8"))

    # ----------------------------------------------------------- diagnostics
    def diagnostics(self) -> Dict[str, str]:
        """Key/values of the node's health (what /diagnostics carries)."""
        lat = np.asarray(self._latencies_ms, dtype=np.float64)
        with self._assembler_lock:
            assembler = dict(self._assembler.diagnostics())
        values: Dict[str, str] = {f"{k}_rate_hz": f"{r.rate_hz():.2f}" for k, r in self._rates.items()}
        values.update({
            "tracker": self.tracker_name(),
            "active_commands": "; ".join(C.commands_text(self.active_queries())),
            "published": str(self.published),
            "dropped_frames": str(int(getattr(self._slot, "dropped", 0))),
            "latency_p50_ms": f"{np.percentile(lat, 50):.1f}" if lat.size else "",
            "latency_p95_ms": f"{np.percentile(lat, 95):.1f}" if lat.size else "",
            "tracker_errors": str(self.tracker_errors),
        })
        for stage, times in self.stage_ms.items():
            arr = np.asarray(list(times)[-300:], dtype=np.float64)
            values[f"stage_{stage}_ms_p50"] = f"{np.percentile(arr, 50):.1f}" if arr.size else ""
        for kind, count in sorted(self.bad_input.items()):
            values[f"bad_input.{kind}"] = str(count)
        for key, value in assembler.items():
            values[f"sync.{key}"] = str(value)
        return values

    def _publish_diagnostics(self) -> None:
        values = self.diagnostics()
        now = time.monotonic()
        problems = []
        rgb_seen = self._rates["rgb"].last_seen
        if rgb_seen is None or now - rgb_seen > self.config.sync_silence_timeout_s:
            problems.append("no RGB frames")
            if self.active_queries():
                self._warn("no_frames", f"command active ({'; '.join(C.commands_text(self.active_queries()))}) "
                           f"but no RGB frames on {self.resolve_topic_name('rgb/image')}", dropped=False)
        for m in self.config.modalities:
            seen = self._rates[m].last_seen
            if rgb_seen is not None and (seen is None or now - seen > self.config.sync_silence_timeout_s):
                problems.append(f"{m} missing")
        if self._tracker_note:
            problems.append(self._tracker_note)
        fallbacks = getattr(self._tracker, "fallbacks", {}) or {}
        problems.extend(f"{role}: {why}" for role, why in fallbacks.items())
        status = DiagnosticStatus(name=f"{self.get_name()}: tracking", hardware_id=self.get_fully_qualified_name(),
                                  level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
                                  message="; ".join(problems) if problems else "ok")
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        arr = DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()))
        arr.status = [status]
        self.pub_diag.publish(arr)

    # ------------------------------------------------------------- shutdown
    def destroy_node(self) -> None:
        self._stop.set()
        self._slot.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        try:
            self._tracker.close()
        finally:
            super().destroy_node()


def main(argv: Optional[list] = None) -> int:
    return spin_main("tracker_node", TrackerNode, argv)


if __name__ == "__main__":
    sys.exit(main())
