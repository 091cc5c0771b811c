"""Helpers of the ROS tests (imported by the test modules in this folder)."""
from __future__ import annotations

import time
from typing import Callable


def spin_until(executor, predicate: Callable[[], bool], timeout_s: float = 10.0, step_s: float = 0.02) -> bool:
    """Spin ``executor`` until ``predicate()`` is true (True) or timeout (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=step_s)
    return bool(predicate())


# ---------------------------------------------------------------------------
# A probe node with publishers for every tracker input and subscribers for
# every tracker output, plus a synthetic scene with known geometry.
import numpy as np  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from vl_tracking_ros.core.types import CameraIntrinsics, EventBatch  # noqa: E402
from vl_tracking_ros.msg import EventArray, TrackArray  # noqa: E402
from vl_tracking_ros.ros import convert as C  # noqa: E402

QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=50)

W, H = 320, 240
CAMERA = CameraIntrinsics(fx=300.0, fy=300.0, cx=160.0, cy=120.0, width=W, height=H, frame_id="test_optical")
RED_BOX = (200, 80, 240, 120)     # xyxy of the red square (near: 1.5 m, warm)
BLUE_BOX = (60, 150, 100, 190)    # xyxy of the blue square (far, hot in thermal, moving in events)
RED_DEPTH_M, BACKGROUND_DEPTH_M = 1.5, 4.0


def scene_rgb() -> np.ndarray:
    """(H, W, 3) uint8: grey background, a red and a blue square."""
    img = np.full((H, W, 3), 110, np.uint8)
    x0, y0, x1, y1 = RED_BOX
    img[y0:y1, x0:x1] = (220, 25, 25)
    x0, y0, x1, y1 = BLUE_BOX
    img[y0:y1, x0:x1] = (25, 40, 220)
    return img


def scene_depth_m(shape=(H, W)) -> np.ndarray:
    """(h, w) float32 metres: background 4 m, the red square 1.5 m (scaled to ``shape``)."""
    h, w = shape
    d = np.full((h, w), BACKGROUND_DEPTH_M, np.float32)
    x0, y0, x1, y1 = RED_BOX
    d[y0 * h // H:y1 * h // H, x0 * w // W:x1 * w // W] = RED_DEPTH_M
    return d


def scene_thermal_k() -> np.ndarray:
    """(H, W) float32 K: 20 degC background, the blue square 60 degC."""
    t = np.full((H, W), 293.15, np.float32)
    x0, y0, x1, y1 = BLUE_BOX
    t[y0:y1, x0:x1] = 333.15
    return t


def scene_events(stamp_ns: int, n: int = 3000, seed: int = 0) -> EventBatch:
    """Events inside the blue square in the 20 ms before ``stamp_ns``."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BLUE_BOX
    t_end = stamp_ns // 1000
    return EventBatch(x_px=rng.integers(x0, x1, n).astype(np.uint16), y_px=rng.integers(y0, y1, n).astype(np.uint16),
                      t_us=np.sort(rng.integers(t_end - 20_000, t_end, n)).astype(np.int64),
                      polarity=rng.integers(0, 2, n).astype(np.uint8), width=W, height=H)


def iou(a, b) -> float:
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter)


def track_box(track) -> tuple:
    return (track.x_min, track.y_min, track.x_max, track.y_max)


class Probe(Node):
    """Publishes sensor messages to and records the outputs of a tracker node."""

    def __init__(self, context, name: str = "probe", namespace: str = "") -> None:
        super().__init__(name, context=context, namespace=namespace)
        self.pub = {
            "rgb": self.create_publisher(Image, "rgb/image", QOS),
            "info": self.create_publisher(CameraInfo, "rgb/camera_info", QOS),
            "depth": self.create_publisher(Image, "depth/image", QOS),
            "thermal": self.create_publisher(Image, "thermal/image", QOS),
            "events": self.create_publisher(EventArray, "events", QOS),
            "event_image": self.create_publisher(Image, "events/image", QOS),
            "command": self.create_publisher(String, "command", QOS),
        }
        self.tracks: list = []
        self.debug: list = []
        self.markers: list = []
        self.poses: list = []
        self.diagnostics: list = []
        self.create_subscription(TrackArray, "tracks", self.tracks.append, QOS)
        self.create_subscription(Image, "debug_image", self.debug.append, QOS)
        self.create_subscription(MarkerArray, "markers", self.markers.append, QOS)
        self.create_subscription(PoseStamped, "target_pose", self.poses.append, QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, QOS)

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def publish_frame(self, stamp_ns: int, rgb_msg: Image = None, rgb_encoding: str = "rgb8", depth_msg=None,
                      thermal_msg=None, events_msg=None, event_image_msg=None, camera: bool = True) -> None:
        """Partners first, RGB last (as the replay node does)."""
        if camera:
            self.pub["info"].publish(C.intrinsics_to_camera_info(CAMERA, stamp_ns))
        if depth_msg is not None:
            self.pub["depth"].publish(depth_msg)
        if thermal_msg is not None:
            self.pub["thermal"].publish(thermal_msg)
        if events_msg is not None:
            self.pub["events"].publish(events_msg)
            # as drivers and the replay node do: "no more events up to the frame's stamp"
            self.pub["events"].publish(EventArray(header=C.Header(stamp=C.ns_to_stamp(stamp_ns)),
                                                  width=events_msg.width, height=events_msg.height))
        if event_image_msg is not None:
            self.pub["event_image"].publish(event_image_msg)
        if rgb_msg is None:
            rgb_msg = C.rgb_to_image_msg(scene_rgb(), stamp_ns, "test_optical", rgb_encoding)
        self.pub["rgb"].publish(rgb_msg)

    def tracks_at(self, stamp_ns: int):
        for msg in self.tracks:
            if C.stamp_to_ns(msg.header.stamp) == stamp_ns:
                return msg
        return None

    def debug_at(self, stamp_ns: int):
        for msg in self.debug:
            if C.stamp_to_ns(msg.header.stamp) == stamp_ns:
                return msg
        return None


def tracker_rig(ros_context, parameter_overrides):
    """Generator behind the ``rig`` fixtures: a TrackerNode and a Probe on one
    executor, waited until DDS discovery matched; yields (node, probe,
    executor) and tears everything down afterwards."""
    from rclpy.executors import SingleThreadedExecutor

    from vl_tracking_ros.ros.tracker_node import TrackerNode

    node = TrackerNode(context=ros_context, parameter_overrides=parameter_overrides)
    probe = Probe(ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    assert spin_until(executor, lambda: probe.pub["rgb"].get_subscription_count() > 0
                      and node.pub_tracks.get_subscription_count() > 0
                      and probe.pub["command"].get_subscription_count() > 0, 10.0), "DDS discovery failed"
    yield node, probe, executor
    for n in (probe, node):
        executor.remove_node(n)
        n.destroy_node()
    executor.shutdown()
