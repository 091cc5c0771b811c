"""tracker_node under bad input, over real DDS: each case logs a warning
naming what was wrong (counted in ``node.bad_input``), publishes nothing for
the bad message, and the node keeps working (the next good frame is tracked).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from ros_helpers import (tracker_rig, RED_BOX, H, W, Probe, iou, scene_depth_m, scene_rgb, scene_thermal_k,  # noqa: E402
                         spin_until, track_box)
from vl_tracking_ros.core.tracker import Tracker  # noqa: E402
from vl_tracking_ros.core.types import TrackerOutput, TrackResult  # noqa: E402
from vl_tracking_ros.ros import convert as C  # noqa: E402
from vl_tracking_ros.ros.tracker_node import TrackerNode  # noqa: E402

pytestmark = pytest.mark.ros

SILENCE_S = 0.3
NODE_PARAMS = [
    Parameter("model.preset", value="heuristic"),
    Parameter("sync.max_wait_ms", value=300.0),  # generous: CI machines may be loaded
    Parameter("sync.slop_ms", value=150.0),
    Parameter("sync.silence_timeout_s", value=SILENCE_S),
    Parameter("diagnostics.period_s", value=0.1),
    Parameter("command.max_chars", value=512),
]


@pytest.fixture(scope="module")
def rig(ros_context):
    yield from tracker_rig(ros_context, NODE_PARAMS)


def send(rig, text: str, settle_s: float = 0.3) -> None:
    node, probe, executor = rig
    probe.pub["command"].publish(String(data=text))
    spin_until(executor, lambda: False, settle_s)


def track_red(rig) -> None:
    node, probe, executor = rig
    probe.pub["command"].publish(String(data="track the red ball"))
    assert spin_until(executor, lambda: [str(q) for q in node.active_queries()] == ["track the red ball"], 5.0)


def good_frame(rig, **frame):
    """Publish a good frame and return its TrackArray (the node still works)."""
    node, probe, executor = rig
    stamp = probe.now_ns()
    probe.publish_frame(stamp, **{k: (v(stamp) if callable(v) else v) for k, v in frame.items()})
    assert spin_until(executor, lambda: probe.tracks_at(stamp) is not None, 5.0), (node.bad_input, node.last_warning)
    return probe.tracks_at(stamp)


def bad_rgb(rig, kind: str, mutate) -> str:
    """Publish an RGB message broken by ``mutate``; assert it is rejected
    under ``kind`` with nothing published; return the warning text."""
    node, probe, executor = rig
    before = node.bad_input.get(kind, 0)
    stamp = probe.now_ns()
    msg = C.rgb_to_image_msg(scene_rgb(), stamp, "test_optical", "rgb8")
    mutate(msg)
    probe.publish_frame(stamp, rgb_msg=msg)
    assert spin_until(executor, lambda: node.bad_input.get(kind, 0) > before, 5.0), node.bad_input
    spin_until(executor, lambda: False, 0.2)
    assert probe.tracks_at(stamp) is None and probe.debug_at(stamp) is None
    return node.last_warning[kind]


def _set(**fields):
    def mutate(msg):
        for key, value in fields.items():
            setattr(msg, key, value)
    return mutate


def test_unknown_encoding(rig):
    track_red(rig)
    text = bad_rgb(rig, "rgb/image", _set(encoding="yuv422_weird"))
    assert "yuv422_weird" in text and "encoding" in text
    assert iou(track_box(good_frame(rig).tracks[0]), RED_BOX) > 0.7


def test_depth_encoding_on_the_rgb_topic(rig):
    text = bad_rgb(rig, "rgb/image", _set(encoding="32FC1"))
    assert "32FC1" in text


def test_truncated_data(rig):
    def truncate(msg):
        msg.data = bytes(msg.data)[: len(msg.data) // 2]
    text = bad_rgb(rig, "rgb/image", truncate)
    assert "truncated" in text
    good_frame(rig)


def test_wrong_step(rig):
    text = bad_rgb(rig, "rgb/image", _set(step=W * 3 - 7))
    assert "step" in text


def test_size_disagrees_with_data(rig):
    text = bad_rgb(rig, "rgb/image", _set(height=H + 10))
    assert "truncated" in text or "bytes" in text


def test_bad_depth_is_dropped_frame_goes_on(rig):
    """A truncated depth image is rejected; the RGB frame is tracked without it."""
    node, probe, executor = rig
    track_red(rig)
    before = node.bad_input.get("depth/image", 0)

    def truncated_depth(stamp):
        msg = C.depth_m_to_image_msg(scene_depth_m(), stamp, "d", "16UC1")
        msg.data = bytes(msg.data)[:-10]
        return msg

    msg = good_frame(rig, depth_msg=truncated_depth)
    assert node.bad_input.get("depth/image", 0) > before and "truncated" in node.last_warning["depth/image"]
    assert msg.tracks and not msg.tracks[0].has_position


@pytest.mark.parametrize("encoding,fill", [("32FC1", math.nan), ("32FC1", math.inf), ("16UC1", 0.0)])
def test_depth_without_valid_pixels(rig, encoding, fill):
    """NaN / Inf / all-zero depth: warned, no 3D position, no target_pose, tracking goes on."""
    node, probe, executor = rig
    track_red(rig)
    before = node.bad_input.get("depth/invalid", 0)
    n_poses = len(probe.poses)
    for _ in range(2):  # the second frame is paired with its depth deterministically
        msg = good_frame(rig, depth_msg=lambda s: C.depth_m_to_image_msg(np.full((H, W), fill, np.float32), s, "d",
                                                                             encoding))
    assert node.bad_input.get("depth/invalid", 0) >= before + 2
    assert "no valid depth" in node.last_warning["depth/invalid"]
    assert msg.tracks and iou(track_box(msg.tracks[0]), RED_BOX) > 0.7
    assert not msg.tracks[0].has_position
    spin_until(executor, lambda: False, 0.2)
    assert len(probe.poses) == n_poses


def test_out_of_order_and_duplicate_stamps(rig):
    node, probe, executor = rig
    track_red(rig)
    first = good_frame(rig)
    stamp = C.stamp_to_ns(first.header.stamp)
    before = node.bad_input.get("rgb/stamp", 0)
    probe.publish_frame(stamp)                  # duplicate
    probe.publish_frame(stamp - 10_000_000)     # out of order
    assert spin_until(executor, lambda: node.bad_input.get("rgb/stamp", 0) >= before + 2, 5.0)
    assert "out-of-order" in node.last_warning["rgb/stamp"]
    spin_until(executor, lambda: False, 0.2)
    assert sum(1 for m in probe.tracks if C.stamp_to_ns(m.header.stamp) == stamp) == 1
    assert probe.tracks_at(stamp - 10_000_000) is None
    good_frame(rig)


def test_modality_stops_and_resumes(rig):
    node, probe, executor = rig
    track_red(rig)
    thermal = {"thermal_msg": lambda s: C.kelvin_to_image_msg(scene_thermal_k(), s, "t", "mono16")}
    for _ in range(2):
        msg = good_frame(rig, **thermal)
    assert "thermal" not in msg.missing_modalities
    spin_until(executor, lambda: False, SILENCE_S + 0.2)   # thermal camera goes quiet
    for _ in range(2):
        msg = good_frame(rig)
    assert "thermal" in msg.missing_modalities and msg.tracks   # reported, tracking goes on
    for _ in range(2):
        msg = good_frame(rig, **thermal)                     # and it comes back
    assert "thermal" not in msg.missing_modalities


def test_bad_commands_are_rejected_and_keep_the_active_one(rig):
    node, probe, executor = rig
    track_red(rig)
    for text, expect in [("", "empty"), ("   \t ", "empty"), ("x" * 10_000, "limit"),
                         ("the red ball", "no command verb"), ("track", "needs an expression")]:
        before = node.bad_input.get("command", 0)
        probe.pub["command"].publish(String(data=text))
        assert spin_until(executor, lambda: node.bad_input.get("command", 0) > before, 5.0), text[:20]
        assert expect in node.last_warning["command"], node.last_warning["command"]
        assert len(node.last_warning["command"]) < 400   # a 10 kB command is not echoed in full
        assert [str(q) for q in node.active_queries()] == ["track the red ball"]
    assert iou(track_box(good_frame(rig).tracks[0]), RED_BOX) > 0.7


def test_unicode_and_control_characters(rig):
    node, probe, executor = rig
    probe.pub["command"].publish(String(data="track the red\x00 ball\x07\u200b"))
    assert spin_until(executor, lambda: [str(q) for q in node.active_queries()] == ["track the red ball"], 5.0)
    probe.pub["command"].publish(String(data="track the Café ☕ über-red box"))
    assert spin_until(executor, lambda: [str(q) for q in node.active_queries()]
                      == ["track the café ☕ über-red box"], 5.0)
    msg = good_frame(rig)
    assert list(msg.active_commands) == ["track the café ☕ über-red box"]
    track_red(rig)


def test_frames_while_no_command(rig):
    node, probe, executor = rig
    send(rig, "stop")
    assert node.active_queries() == []
    before = node.bad_input.get("idle", 0)
    msg = good_frame(rig)
    assert msg.mode == "idle" and list(msg.tracks) == [] and list(msg.active_commands) == []
    assert node.bad_input.get("idle", 0) > before and "no command" in node.last_warning["idle"]


def test_command_while_no_frames(rig):
    node, probe, executor = rig
    track_red(rig)
    before = node.bad_input.get("no_frames", 0)
    assert spin_until(executor, lambda: node.bad_input.get("no_frames", 0) > before, SILENCE_S + 3.0)
    assert "no RGB frames" in node.last_warning["no_frames"]
    n_diag = len(probe.diagnostics)
    assert spin_until(executor, lambda: len(probe.diagnostics) > n_diag, 2.0)
    status = probe.diagnostics[-1].status[0]
    assert status.level == status.WARN and "no RGB frames" in status.message
    good_frame(rig)


class _GarbageTracker(Tracker):
    """Test double standing in for a broken model: NaN, inverted and
    off-image boxes plus one good box."""

    name = "garbage"

    def set_commands(self, queries):
        self._queries = list(queries)

    def step(self, frame):
        boxes = [(np.nan, 1, 5, 5), (50, 50, 10, 10), (W + 10, 5, W + 50, 40), (200, 80, 240, 120)]
        return TrackerOutput(mode="single", tracks=[TrackResult(track_id=i, box_xyxy=np.array(b, np.float32),
                                                                confidence=0.9) for i, b in enumerate(boxes)])


def test_garbage_from_the_model_is_never_published(ros_context):
    node = TrackerNode(node_name="garbage_tracker", tracker=_GarbageTracker(), context=ros_context,
                       namespace="garbage", parameter_overrides=[Parameter("sync.max_wait_ms", value=30.0)])
    probe = Probe(ros_context, name="garbage_probe", namespace="garbage")
    executor = SingleThreadedExecutor(context=ros_context)
    for n in (node, probe):
        executor.add_node(n)
    try:
        assert spin_until(executor, lambda: probe.pub["rgb"].get_subscription_count() > 0
                          and probe.pub["command"].get_subscription_count() > 0
                          and node.pub_tracks.get_subscription_count() > 0, 10.0)
        probe.pub["command"].publish(String(data="track the red ball"))
        assert spin_until(executor, lambda: node.active_queries() != [], 5.0)
        stamp = probe.now_ns()
        probe.publish_frame(stamp)
        assert spin_until(executor, lambda: probe.tracks_at(stamp) is not None, 5.0)
        msg = probe.tracks_at(stamp)
        assert [track_box(t) for t in msg.tracks] == [(200.0, 80.0, 240.0, 120.0)]
        assert node.bad_input.get("tracker/output", 0) == 3
        assert "invalid box" in node.last_warning["tracker/output"]
    finally:
        for n in (probe, node):
            executor.remove_node(n)
            n.destroy_node()
        executor.shutdown()
