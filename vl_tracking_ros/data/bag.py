"""Clips <-> MCAP rosbag2 bags with the real message types (via ``rosbags``).

Topics (absolute; the tracker node subscribes the same relative names in the
root namespace, so ``ros2 bag play`` feeds it directly):

==================  =================================  ====================================
topic               type                               content
==================  =================================  ====================================
/rgb/image          sensor_msgs/msg/Image              rgb8
/rgb/camera_info    sensor_msgs/msg/CameraInfo         pinhole K, P; no distortion
/depth/image        sensor_msgs/msg/Image              32FC1 metres (NaN) or 16UC1 mm (0)
/thermal/image      sensor_msgs/msg/Image              mono16, THERMAL_CALIBRATION counts
/events             vl_tracking_ros/msg/EventArray     events since the previous frame
/command            std_msgs/msg/String                at the scheduled frame's stamp
/ground_truth       std_msgs/msg/String                the clip's GT JSON (once, frame 0)
==================  =================================  ====================================

Every stream of frame i is logged (and stamped) at the frame's stamp. Depth,
thermal and events are in each sensor's own pixel grid: the RGB grid unless
the clip has ``homographies`` (then ``read_clip`` aligns them back). The
package's own message definitions are read from ``msg/*.msg`` (source tree or
``<prefix>/share/vl_tracking_ros/msg``) and registered in the typestore.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from ..core import imageconv
from ..core.align import Alignment
from ..core.types import CameraIntrinsics, EventBatch, SensorFrame
from .event_sim import empty_batch, event_frame
from .language import Expression
from .sensor_grid import events_to_rgb_grid
from .world import Clip, FrameGT, ObjectGT

#: the radiometric calibration of mono16 thermal images this package writes
#: (Optris: temperature_C = (raw - 1000) / 10; 0.1 K per count), which is also
#: the tracker node's default for mono16 -- so bags decode without parameters.
THERMAL_CALIBRATION = imageconv.ThermalCalibration.preset("optris")

TOPICS = {"rgb": "/rgb/image", "camera_info": "/rgb/camera_info", "depth": "/depth/image",
          "thermal": "/thermal/image", "events": "/events", "command": "/command", "ground_truth": "/ground_truth"}

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
STRING = "std_msgs/msg/String"
EVENT_ARRAY = "vl_tracking_ros/msg/EventArray"


class BagFormatError(ValueError):
    """A bag that is not a readable clip (missing topics, bad messages)."""


def _msg_dirs() -> List[Path]:
    here = Path(__file__).resolve().parents[2] / "msg"
    return [here, Path(sys.prefix) / "share" / "vl_tracking_ros" / "msg"]


def typestore():
    """A rosbags typestore with ROS 2 Kilted types plus this package's messages."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    for d in _msg_dirs():
        files = sorted(d.glob("*.msg")) if d.is_dir() else []
        if files:
            types: Dict[str, Any] = {}
            for f in files:
                types.update(get_types_from_msg(f.read_text(), f"vl_tracking_ros/msg/{f.stem}"))
            store.register(types)
            return store
    raise FileNotFoundError(f"vl_tracking_ros message definitions (EventArray.msg) not found in "
                            f"{', '.join(str(d) for d in _msg_dirs())}")


def _header(store, stamp_ns: int, frame_id: str):
    T = store.types
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=int(stamp_ns // 10**9),
                                                                           nanosec=int(stamp_ns % 10**9)),
                                    frame_id=frame_id)


def _image(store, data: bytes, step: int, h: int, w: int, encoding: str, stamp_ns: int, frame_id: str):
    return store.types[IMAGE](header=_header(store, stamp_ns, frame_id), height=h, width=w, encoding=encoding,
                              is_bigendian=0, step=step, data=np.frombuffer(data, np.uint8))


def _camera_info(store, cam: CameraIntrinsics, stamp_ns: int):
    T = store.types
    k = cam.k_matrix().reshape(-1).astype(np.float64)
    p = np.array([cam.fx, 0, cam.cx, 0, 0, cam.fy, cam.cy, 0, 0, 0, 1, 0], np.float64)
    roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return T[CAMERA_INFO](header=_header(store, stamp_ns, cam.frame_id), height=cam.height, width=cam.width,
                          distortion_model="plumb_bob", d=np.zeros(5), k=k, r=np.eye(3).reshape(-1), p=p,
                          binning_x=0, binning_y=0, roi=roi)


def _event_array(store, batch: EventBatch, stamp_ns: int, frame_id: str):
    t0_us = int(batch.t_us[0]) if len(batch) else stamp_ns // 1000
    offsets = (batch.t_us - t0_us).astype(np.uint32) if len(batch) else np.zeros(0, np.uint32)
    return store.types[EVENT_ARRAY](header=_header(store, t0_us * 1000, frame_id), height=batch.height,
                                    width=batch.width, x=batch.x_px.astype(np.uint16), y=batch.y_px.astype(np.uint16),
                                    t_us=offsets, polarity=batch.polarity.astype(np.uint8))


def write_bag(clip: Clip, path: Union[str, Path], depth_encoding: str = "32FC1",
              include_ground_truth: bool = True) -> Path:
    """Write ``clip`` as an MCAP rosbag2 directory at ``path`` (must not exist).

    depth_encoding: "32FC1" (metres, NaN holes) or "16UC1" (millimetres, 0 holes).
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    if depth_encoding not in ("32FC1", "16UC1"):
        raise ValueError(f"depth_encoding must be 32FC1 or 16UC1, got {depth_encoding!r}")
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"bag path {path} already exists")
    store = typestore()
    mods = set(clip.conditions.get("modalities", ["rgb", "depth", "thermal", "event"]))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {"rgb": writer.add_connection(TOPICS["rgb"], IMAGE, typestore=store),
                 "camera_info": writer.add_connection(TOPICS["camera_info"], CAMERA_INFO, typestore=store),
                 "command": writer.add_connection(TOPICS["command"], STRING, typestore=store)}
        if "depth" in mods:
            conns["depth"] = writer.add_connection(TOPICS["depth"], IMAGE, typestore=store)
        if "thermal" in mods:
            conns["thermal"] = writer.add_connection(TOPICS["thermal"], IMAGE, typestore=store)
        if "event" in mods:
            conns["events"] = writer.add_connection(TOPICS["events"], EVENT_ARRAY, typestore=store)
        if include_ground_truth:
            conns["ground_truth"] = writer.add_connection(TOPICS["ground_truth"], STRING, typestore=store)

        def put(key: str, msg, stamp: int, msgtype: str) -> None:
            writer.write(conns[key], stamp, store.serialize_cdr(msg, msgtype))

        commands: Dict[int, List[str]] = {}
        for idx, text in clip.command_schedule:
            commands.setdefault(int(idx), []).append(text)
        for i, frame in enumerate(clip.frames):
            stamp = int(frame.stamp_ns)
            fid = frame.frame_id or clip.camera.frame_id
            if i == 0 and include_ground_truth:
                put("ground_truth", store.types[STRING](data=json.dumps(clip.gt_dict())), stamp, STRING)
            h, w = frame.image_rgb.shape[:2]
            data, step = imageconv.rgb_to_bytes(frame.image_rgb, "rgb8")
            put("rgb", _image(store, data, step, h, w, "rgb8", stamp, fid), stamp, IMAGE)
            put("camera_info", _camera_info(store, frame.camera or clip.camera, stamp), stamp, CAMERA_INFO)
            # each sensor in its own pixel grid (the aligned image unless the clip has a homography)
            if "depth" in conns and frame.depth_m is not None:
                data, step = imageconv.depth_m_to_bytes(clip.sensor_image(i, "depth"), depth_encoding)
                put("depth", _image(store, data, step, h, w, depth_encoding, stamp, fid), stamp, IMAGE)
            if "thermal" in conns and frame.thermal_k is not None:
                data, step = imageconv.kelvin_to_bytes(clip.sensor_image(i, "thermal"), "mono16",
                                                       calibration=THERMAL_CALIBRATION)
                put("thermal", _image(store, data, step, h, w, "mono16", stamp, fid), stamp, IMAGE)
            if "events" in conns:
                batch = clip.sensor_events(i) if i < len(clip.events) else empty_batch(w, h)
                put("events", _event_array(store, batch, stamp, fid), stamp, EVENT_ARRAY)
            for text in commands.get(i, []):
                put("command", store.types[STRING](data=text), stamp, STRING)
    return path


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 10**9 + int(header.stamp.nanosec)


def _decode(topic: str, msg, store) -> Any:
    if topic == TOPICS["rgb"]:
        return imageconv.image_to_rgb(msg.data, msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian))
    if topic == TOPICS["depth"]:
        return imageconv.depth_to_m(msg.data, msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian))
    if topic == TOPICS["thermal"]:
        return imageconv.thermal_to_kelvin(msg.data, msg.height, msg.width, msg.encoding, msg.step,
                                           bool(msg.is_bigendian), calibration=THERMAL_CALIBRATION)
    if topic == TOPICS["camera_info"]:
        k = np.asarray(msg.k, np.float64)
        return CameraIntrinsics(fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]), width=int(msg.width),
                                height=int(msg.height), frame_id=msg.header.frame_id or "camera_optical_frame")
    if topic == TOPICS["events"]:
        t0_us = _stamp_ns(msg.header) // 1000
        return EventBatch(x_px=np.asarray(msg.x, np.uint16), y_px=np.asarray(msg.y, np.uint16),
                          t_us=t0_us + np.asarray(msg.t_us, np.int64), polarity=np.asarray(msg.polarity, np.uint8),
                          width=int(msg.width), height=int(msg.height))
    if topic == TOPICS["ground_truth"]:
        return json.loads(msg.data)
    if topic == TOPICS["command"]:
        return str(msg.data)
    return msg


def read_bag(path: Union[str, Path]) -> Iterator[Tuple[str, int, Any]]:
    """Yield ``(topic, log_stamp_ns, decoded)`` in log order.

    decoded: RGB (H, W, 3) uint8; depth (H, W) float32 m; thermal (H, W)
    float32 K; CameraIntrinsics; EventBatch (absolute t_us); command str;
    ground truth dict; anything else the raw rosbags message.
    """
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag {path} does not exist")
    store = typestore()
    with Reader(path) as reader:
        for conn, stamp, raw in reader.messages():
            try:
                msg = store.deserialize_cdr(raw, conn.msgtype)
                yield conn.topic, int(stamp), _decode(conn.topic, msg, store)
            except (ValueError, KeyError) as exc:
                raise BagFormatError(f"{path}: cannot decode a {conn.msgtype} message on {conn.topic} "
                                     f"at {stamp} ns: {exc}") from exc


def read_clip(path: Union[str, Path], align: bool = True) -> Clip:
    """Rebuild a :class:`Clip` from a bag written by :func:`write_bag`.

    Frames come from /rgb/image; depth / thermal / events / commands attach
    to the frame with the same log stamp. Ground truth and expressions are
    restored from /ground_truth when present (else ``gt`` and
    ``expressions`` are empty). When the ground truth lists sensor
    homographies and ``align`` is True, depth / thermal / events are warped
    into the RGB grid with ``core.align`` (as the tracker node does), so the
    frames honour the SensorFrame contract.
    """
    per_stamp: Dict[int, Dict[str, Any]] = {}
    order: List[int] = []
    commands: List[Tuple[int, str]] = []
    gt_json: Optional[Dict[str, Any]] = None
    camera: Optional[CameraIntrinsics] = None
    for topic, stamp, value in read_bag(path):
        if topic == TOPICS["ground_truth"]:
            gt_json = value
            continue
        if topic == TOPICS["command"]:
            commands.append((stamp, value))
            continue
        slot = per_stamp.setdefault(stamp, {})
        if topic == TOPICS["rgb"]:
            order.append(stamp)
        if topic == TOPICS["camera_info"]:
            camera = value
        slot[topic] = value
    if not order:
        raise BagFormatError(f"{path}: no {TOPICS['rgb']} messages; not a clip bag")
    index_of = {s: i for i, s in enumerate(order)}
    homographies = {m: np.asarray(v, np.float64).reshape(3, 3)
                    for m, v in (gt_json or {}).get("homographies", {}).items()}
    aligners = {m: Alignment(h) for m, h in homographies.items()} if align else {}
    frames: List[SensorFrame] = []
    events: List[EventBatch] = []
    has_events = any(TOPICS["events"] in per_stamp[s] for s in order)
    for i, stamp in enumerate(order):
        slot = per_stamp[stamp]
        rgb = slot[TOPICS["rgb"]]
        h, w = rgb.shape[:2]
        batch = slot.get(TOPICS["events"], empty_batch(w, h))
        depth, thermal = slot.get(TOPICS["depth"]), slot.get(TOPICS["thermal"])
        if "event" in aligners:
            batch = events_to_rgb_grid(batch, homographies["event"])
        if "depth" in aligners and depth is not None:
            depth = aligners["depth"].apply(depth, "nearest")
        if "thermal" in aligners and thermal is not None:
            thermal = aligners["thermal"].apply(thermal, "linear")
        events.append(batch)
        cam = slot.get(TOPICS["camera_info"], camera)
        frames.append(SensorFrame(image_rgb=rgb, stamp_ns=stamp, depth_m=depth, thermal_k=thermal,
                                  event_frame=event_frame(batch, h, w) if has_events else None,
                                  camera=cam, frame_index=i, frame_id=cam.frame_id if cam else ""))
    schedule = []
    for stamp, text in commands:
        if stamp not in index_of:
            raise BagFormatError(f"{path}: command {text!r} at {stamp} ns matches no RGB frame stamp")
        schedule.append((index_of[stamp], text))
    fps = (len(order) - 1) * 1e9 / (order[-1] - order[0]) if len(order) > 1 else 30.0
    gt: List[FrameGT] = []
    expressions: List[Expression] = []
    conditions: Dict[str, Any] = {}
    name, seed = Path(path).name, -1
    if gt_json is not None:
        gt = [FrameGT(frame_index=i, objects={int(o["id"]): ObjectGT.from_dict(o) for o in objs})
              for i, objs in enumerate(gt_json["frames"])]
        expressions = [Expression.from_dict(e) for e in gt_json["expressions"]]
        conditions = dict(gt_json.get("conditions", {}))
        name, seed, fps = str(gt_json.get("name", name)), int(gt_json.get("seed", -1)), float(gt_json.get("fps", fps))
    if camera is None:
        h, w = frames[0].image_rgb.shape[:2]
        camera = CameraIntrinsics(fx=0.9 * w, fy=0.9 * w, cx=w / 2, cy=h / 2, width=w, height=h)
    return Clip(name=name, fps=round(fps, 6), camera=camera, frames=frames, events=events, gt=gt,
                expressions=expressions, command_schedule=schedule, conditions=conditions, seed=seed,
                homographies={} if align else homographies)


#: alias used by other modules
clip_from_bag = read_clip
