"""ROS message <-> core type conversions (thin: the numeric work is in core).

Inbound: ``sensor_msgs/Image`` -> numpy arrays (``core.imageconv``),
``sensor_msgs/CameraInfo`` -> :class:`CameraIntrinsics`, the package's
``EventArray`` / an event-frame Image / ``event_camera_msgs/EventPacket``
(EVT 3.0, only when that package is importable) -> :class:`EventBatch`.

Outbound: :class:`TrackerOutput` -> ``TrackArray``, ``MarkerArray``,
``PoseStamped``, and ``vision_msgs/Detection2DArray`` when vision_msgs is
importable (it is on robots; it is not installable here, so it is guarded and
never faked). Images for publishers (replay, debug image) via the
``core.imageconv`` encoders.

Every inbound function raises :class:`MessageConversionError` (or
``ImageConversionError`` for images, a subclass of ValueError too) with a
message naming what was wrong; callers log it and drop the message.
"""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, PoseStamped, Vector3
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from ..core import imageconv
from ..core.imageconv import ImageConversionError, ThermalCalibration
from ..core.types import CameraIntrinsics, EventBatch, TrackerOutput, TrackResult, TrackState
from ..msg import EventArray, Track, TrackArray

try:  # present on robots with vision_msgs installed; absent here (not on PyPI)
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # type: ignore
    HAVE_VISION_MSGS = True
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_VISION_MSGS = False

try:  # event_camera_msgs (Metavision / libcaer drivers); absent here
    from event_camera_msgs.msg import EventPacket  # type: ignore
    HAVE_EVENT_CAMERA_MSGS = True
except ImportError:  # pragma: no cover - depends on the machine
    EventPacket = None
    HAVE_EVENT_CAMERA_MSGS = False

__all__ = [
    "MessageConversionError", "ImageConversionError", "HAVE_VISION_MSGS", "HAVE_EVENT_CAMERA_MSGS",
    "stamp_to_ns", "ns_to_stamp", "image_msg_to_rgb", "image_msg_to_depth_m", "image_msg_to_thermal_k",
    "image_msg_to_event_frame", "rgb_to_image_msg", "depth_m_to_image_msg", "kelvin_to_image_msg",
    "camera_info_to_intrinsics", "intrinsics_to_camera_info", "event_array_to_batch", "batch_to_event_array",
    "event_packet_to_batch", "output_to_track_array", "track_array_to_markers", "primary_track",
    "track_to_pose", "track_array_to_detections",
]


class MessageConversionError(ValueError):
    """A (non-image) message cannot be converted: missing or inconsistent fields."""


# ---------------------------------------------------------------- time
def stamp_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> Time:
    """integer nanoseconds -> builtin_interfaces/Time."""
    stamp_ns = int(stamp_ns)
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def _header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


# ---------------------------------------------------------------- images in
def image_msg_to_rgb(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (rgb8/bgr8/rgba8/bgra8/mono8/16-bit colour) -> (H, W, 3) uint8 RGB."""
    return imageconv.image_to_rgb(msg.data, msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian))


def image_msg_to_depth_m(msg: Image) -> np.ndarray:
    """Depth Image (16UC1 mm / 32FC1 m, REP 117) -> (H, W) float32 metres, NaN invalid."""
    return imageconv.depth_to_m(msg.data, msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian))


def image_msg_to_thermal_k(msg: Image, calibration: Optional[ThermalCalibration] = None,
                           float_unit: str = "K") -> np.ndarray:
    """Thermal Image (mono8/mono16 raw counts, 32FC1 K or degC) -> (H, W) float32 kelvin.
    ``calibration`` None = the per-encoding default of core.imageconv."""
    return imageconv.thermal_to_kelvin(msg.data, msg.height, msg.width, msg.encoding, msg.step,
                                       bool(msg.is_bigendian), calibration=calibration, float_unit=float_unit)


def image_msg_to_event_frame(msg: Image) -> np.ndarray:
    """Event-frame Image -> (H, W, C) float32.

    32FC1 frames are taken as they are (one channel); 8-bit frames (mono8, or
    rgb8/bgr8 where red = ON and blue = OFF counts, the common renderer
    convention) become float counts with channels (ON, OFF) for colour and one
    channel for mono.
    """
    enc = msg.encoding
    if enc in ("32FC1", "32fc1"):
        _, arr = imageconv.decode_raw(msg.data, msg.height, msg.width, "32FC1", msg.step, bool(msg.is_bigendian))
        out = arr.astype(np.float32)
        out[~np.isfinite(out)] = 0.0
        return out
    _, arr = imageconv.decode_raw(msg.data, msg.height, msg.width, enc, msg.step, bool(msg.is_bigendian),
                                  allowed=("mono8", "8UC1", "rgb8", "bgr8"))
    if arr.shape[2] == 1:
        return arr.astype(np.float32)
    rgb = arr if enc == "rgb8" else arr[..., ::-1]
    return np.stack([rgb[..., 0], rgb[..., 2]], axis=-1).astype(np.float32)


# ---------------------------------------------------------------- images out
def _image_msg(data: bytes, step: int, height: int, width: int, encoding: str, stamp_ns: int,
               frame_id: str) -> Image:
    msg = Image(header=_header(stamp_ns, frame_id), height=int(height), width=int(width),
                encoding=encoding, is_bigendian=0, step=int(step))
    msg.data = data
    return msg


def rgb_to_image_msg(image_rgb: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "rgb8") -> Image:
    """(H, W, 3) uint8 RGB -> sensor_msgs/Image in ``encoding``."""
    data, step = imageconv.rgb_to_bytes(image_rgb, encoding)
    return _image_msg(data, step, image_rgb.shape[0], image_rgb.shape[1], encoding, stamp_ns, frame_id)


def depth_m_to_image_msg(depth_m: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "32FC1") -> Image:
    """(H, W) float32 metres (NaN invalid) -> depth Image (16UC1 mm or 32FC1 m)."""
    data, step = imageconv.depth_m_to_bytes(depth_m, encoding)
    return _image_msg(data, step, depth_m.shape[0], depth_m.shape[1], encoding, stamp_ns, frame_id)


def kelvin_to_image_msg(thermal_k: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "mono16",
                        calibration: Optional[ThermalCalibration] = None, float_unit: str = "K") -> Image:
    """(H, W) float32 kelvin -> thermal Image (mono16 / mono8 raw counts or 32FC1)."""
    data, step = imageconv.kelvin_to_bytes(thermal_k, encoding, calibration=calibration, float_unit=float_unit)
    return _image_msg(data, step, thermal_k.shape[0], thermal_k.shape[1], encoding, stamp_ns, frame_id)


# ---------------------------------------------------------------- camera info
def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """CameraInfo -> CameraIntrinsics (from K; raises if K is unset or invalid)."""
    k = [float(v) for v in msg.k]
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
        raise MessageConversionError(f"camera_info: K has no valid focal lengths (fx={fx}, fy={fy}); "
                                     "is the camera calibrated?")
    if msg.width <= 0 or msg.height <= 0:
        raise MessageConversionError(f"camera_info: image size {msg.width}x{msg.height} is not positive")
    return CameraIntrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=int(msg.width), height=int(msg.height),
                            frame_id=msg.header.frame_id or "camera_optical_frame")


def intrinsics_to_camera_info(camera: CameraIntrinsics, stamp_ns: int, frame_id: str = "") -> CameraInfo:
    """CameraIntrinsics -> CameraInfo (plumb_bob, zero distortion, P = [K | 0])."""
    msg = CameraInfo(header=_header(stamp_ns, frame_id or camera.frame_id), width=int(camera.width),
                     height=int(camera.height), distortion_model="plumb_bob")
    msg.d = [0.0] * 5
    msg.k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


# ---------------------------------------------------------------- events
def event_array_to_batch(msg: EventArray) -> EventBatch:
    """The package's EventArray -> EventBatch with absolute ``t_us``
    (header stamp + per-event offsets). Raises on unequal array lengths,
    zero sensor size or coordinates outside the sensor."""
    from ..core.events import events_from_arrays

    n = len(msg.x)
    lengths = {"x": n, "y": len(msg.y), "t_us": len(msg.t_us), "polarity": len(msg.polarity)}
    if len(set(lengths.values())) != 1:
        raise MessageConversionError(f"events: arrays have different lengths {lengths}")
    if msg.width <= 0 or msg.height <= 0:
        raise MessageConversionError(f"events: sensor size {msg.width}x{msg.height} is not positive")
    t0_us = stamp_to_ns(msg.header.stamp) // 1000
    t_us = np.asarray(msg.t_us, dtype=np.int64) + t0_us
    try:
        return events_from_arrays(np.asarray(msg.x, dtype=np.uint16), np.asarray(msg.y, dtype=np.uint16), t_us,
                                  np.asarray(msg.polarity, dtype=np.uint8), int(msg.width), int(msg.height))
    except ValueError as exc:
        raise MessageConversionError(f"events: {exc}") from exc


def batch_to_event_array(batch: EventBatch, stamp_ns: Optional[int] = None, frame_id: str = "") -> EventArray:
    """EventBatch -> EventArray; the header stamp is ``stamp_ns`` (default:
    the first event's time) and ``t_us`` are offsets from it (>= 0)."""
    t_us = np.asarray(batch.t_us, dtype=np.int64)
    if stamp_ns is None:
        stamp_ns = int(t_us.min()) * 1000 if t_us.size else 0
    offsets = t_us - int(stamp_ns) // 1000
    if offsets.size and offsets.min() < 0:
        raise MessageConversionError("events: stamp is later than the first event")
    msg = EventArray(header=_header(int(stamp_ns), frame_id), width=int(batch.width), height=int(batch.height))
    msg.x = np.asarray(batch.x_px, dtype=np.uint16)
    msg.y = np.asarray(batch.y_px, dtype=np.uint16)
    msg.t_us = offsets.astype(np.uint32)
    msg.polarity = np.asarray(batch.polarity, dtype=np.uint8)
    return msg


def event_packet_to_batch(msg) -> EventBatch:
    """event_camera_msgs/EventPacket (encoding ``evt3``) -> EventBatch.

    The packet's ``time_base`` is the sensor time (ns) of its first time
    high/low words; event times are re-based onto the header stamp so they
    share the clock of the frames. Raises for other encodings.
    """
    from ..core.events import decode_evt3

    if str(msg.encoding).lower() != "evt3":
        raise MessageConversionError(f"events: EventPacket encoding {msg.encoding!r} is not supported (only evt3)")
    try:
        batch = decode_evt3(bytes(msg.events), int(msg.width), int(msg.height))
    except ValueError as exc:
        raise MessageConversionError(f"events: bad EVT3 packet: {exc}") from exc
    if len(batch):
        shift_us = stamp_to_ns(msg.header.stamp) // 1000 - int(np.min(batch.t_us))
        batch.t_us = np.asarray(batch.t_us, dtype=np.int64) + shift_us
    return batch


# ---------------------------------------------------------------- outputs
def _track_msg(tr: TrackResult) -> Track:
    box = np.asarray(tr.box_xyxy, dtype=np.float64).reshape(-1)
    msg = Track(id=int(tr.track_id), state=int(TrackState(tr.state)),
                x_min=float(box[0]), y_min=float(box[1]), x_max=float(box[2]), y_max=float(box[3]),
                confidence=float(tr.confidence), kappa=float(tr.kappa), command=str(tr.command),
                expression_score=float(tr.expression_score), label=str(tr.label), age=int(tr.age))
    if tr.position_m is not None:
        p = np.asarray(tr.position_m, dtype=np.float64).reshape(-1)
        if p.shape == (3,) and np.all(np.isfinite(p)):
            msg.has_position = True
            msg.position = Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
    if tr.modality_weights:
        names = list(tr.modality_weights)
        msg.modalities = names
        msg.modality_weights = [float(tr.modality_weights[n]) for n in names]
    return msg


def valid_track(tr: TrackResult, width: int, height: int) -> bool:
    """True when the track's box and confidence are finite and the box is
    non-degenerate and overlaps the image (garbage is never published)."""
    box = np.asarray(tr.box_xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or not math.isfinite(float(tr.confidence)):
        return False
    if box[2] <= box[0] or box[3] <= box[1]:
        return False
    return bool(box[2] > 0 and box[3] > 0 and box[0] < width and box[1] < height)


def output_to_track_array(output: TrackerOutput, header: Header, active_commands: Sequence[str],
                          tracker_name: str, latency_ms: float = 0.0,
                          missing_modalities: Iterable[str] = ()) -> TrackArray:
    """TrackerOutput -> TrackArray (header copied from the RGB image)."""
    msg = TrackArray(header=header, mode=str(output.mode), tracker=str(tracker_name), latency_ms=float(latency_ms))
    msg.tracks = [_track_msg(tr) for tr in output.tracks]
    msg.active_commands = [str(c) for c in active_commands]
    msg.missing_modalities = [str(m) for m in missing_modalities]
    return msg


_STATE_COLORS = {
    TrackState.TRACKING: (0.1, 0.9, 0.2),
    TrackState.SEARCHING_LOCAL: (1.0, 0.8, 0.1),
    TrackState.RELOCALIZING: (1.0, 0.4, 0.1),
    TrackState.LOST: (0.6, 0.6, 0.6),
}


def track_array_to_markers(tracks: TrackArray, frame_id: str, box_size_m: float = 0.25,
                           lifetime_s: float = 0.5) -> MarkerArray:
    """3D markers for tracks with a position: a sphere at the target and a
    text label ``#id command (confidence)`` above it. The first marker is a
    DELETEALL so stale markers vanish when a target is lost."""
    out = MarkerArray()
    clear = Marker(header=Header(stamp=tracks.header.stamp, frame_id=frame_id), action=Marker.DELETEALL)
    out.markers.append(clear)
    lifetime = ns_to_stamp(int(lifetime_s * 1e9))
    for tr in tracks.tracks:
        if not tr.has_position:
            continue
        r, g, b = _STATE_COLORS.get(TrackState(tr.state), (1.0, 1.0, 1.0))
        hdr = Header(stamp=tracks.header.stamp, frame_id=frame_id)
        sphere = Marker(header=hdr, ns="targets", id=int(tr.id) % 2**31, type=Marker.SPHERE, action=Marker.ADD)
        sphere.pose.position = tr.position
        sphere.pose.orientation.w = 1.0
        sphere.scale = Vector3(x=box_size_m, y=box_size_m, z=box_size_m)
        sphere.color = ColorRGBA(r=r, g=g, b=b, a=0.8)
        sphere.lifetime.sec, sphere.lifetime.nanosec = lifetime.sec, lifetime.nanosec
        text = Marker(header=hdr, ns="labels", id=int(tr.id) % 2**31, type=Marker.TEXT_VIEW_FACING,
                      action=Marker.ADD)
        text.pose.position = Point(x=tr.position.x, y=tr.position.y - box_size_m, z=tr.position.z)
        text.pose.orientation.w = 1.0
        text.scale.z = 0.12
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        text.text = f"#{tr.id} {tr.command} ({tr.confidence:.2f})"
        text.lifetime.sec, text.lifetime.nanosec = lifetime.sec, lifetime.nanosec
        out.markers.extend([sphere, text])
    return out


def primary_track(tracks: TrackArray, min_confidence: float = 0.0) -> Optional[Track]:
    """The follow-me target: the most confident non-lost track with a 3D
    position and confidence >= ``min_confidence``; None if there is none."""
    best = None
    for tr in tracks.tracks:
        if not tr.has_position or tr.state == Track.STATE_LOST or tr.confidence < min_confidence:
            continue
        if best is None or tr.confidence > best.confidence:
            best = tr
    return best


def track_to_pose(track: Track, header: Header) -> PoseStamped:
    """PoseStamped at the track's 3D position (camera optical frame), identity orientation."""
    pose = PoseStamped(header=header)
    pose.pose.position = track.position
    pose.pose.orientation.w = 1.0
    return pose


def track_array_to_detections(tracks: TrackArray):
    """vision_msgs/Detection2DArray of the tracks, or None when vision_msgs is
    not importable (the node then does not create the publisher)."""
    if not HAVE_VISION_MSGS:
        return None
    out = Detection2DArray(header=tracks.header)  # pragma: no cover - needs vision_msgs
    for tr in tracks.tracks:  # pragma: no cover
        det = Detection2D(header=tracks.header)
        det.id = str(tr.id)
        det.bbox.center.position.x = (tr.x_min + tr.x_max) / 2.0
        det.bbox.center.position.y = (tr.y_min + tr.y_max) / 2.0
        det.bbox.size_x = float(tr.x_max - tr.x_min)
        det.bbox.size_y = float(tr.y_max - tr.y_min)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = tr.label or tr.command
        hyp.hypothesis.score = float(tr.confidence)
        if tr.has_position:
            hyp.pose.pose.position = tr.position
        det.results.append(hyp)
        out.detections.append(det)
    return out


def commands_text(queries: Sequence) -> List[str]:
    """TargetQuery sequence -> their canonical command strings."""
    return [str(q) for q in queries]
