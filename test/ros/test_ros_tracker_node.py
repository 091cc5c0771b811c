"""tracker_node over real DDS (in-process, private domain): every supported
input encoding, the outputs' content, commands and the set_command service.

The node runs the numpy-only "heuristic" preset (no weights) on a scene with
known geometry (ros_helpers): a red square at 1.5 m and a blue square that is
hot in the thermal image and is where the events are.
"""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from ros_helpers import (tracker_rig, BLUE_BOX, CAMERA, RED_BOX, RED_DEPTH_M, H, W, Probe, iou, scene_depth_m,  # noqa: E402
                         scene_events, scene_rgb, scene_thermal_k, spin_until, track_box)
from vl_tracking_ros.core.imageconv import ThermalCalibration  # noqa: E402
from vl_tracking_ros.msg import Track  # noqa: E402
from vl_tracking_ros.ros import convert as C  # noqa: E402
from vl_tracking_ros.ros.tracker_node import TrackerNode  # noqa: E402
from vl_tracking_ros.srv import SetCommand  # noqa: E402

pytestmark = pytest.mark.ros

NODE_PARAMS = [
    Parameter("model.preset", value="heuristic"),
    Parameter("sync.max_wait_ms", value=300.0),  # generous: CI machines may be loaded
    Parameter("sync.slop_ms", value=150.0),  # loaded CI machines: partners may be >50 ms apart
    Parameter("sync.silence_timeout_s", value=2.0),
    Parameter("diagnostics.period_s", value=0.2),
    Parameter("output.frame_id", value=""),
]


@pytest.fixture(scope="module")
def rig(ros_context):
    yield from tracker_rig(ros_context, NODE_PARAMS)


def command(rig, text: str, expect) -> None:
    node, probe, executor = rig
    probe.pub["command"].publish(_string(text))
    assert spin_until(executor, lambda: [str(q) for q in node.active_queries()] == expect, 5.0), \
        f"command {text!r}: active {node.active_queries()}"


def _string(text: str):
    from std_msgs.msg import String

    return String(data=text)


def roundtrip(rig, timeout_s: float = 5.0, **frame):
    """Publish one frame with a fresh stamp; return (stamp_ns, TrackArray).

    With depth / thermal / events, a priming frame goes first: a stream that
    was silent is (by design) not waited for, so only from its second sample
    on is it paired deterministically with the RGB frame."""
    node, probe, executor = rig
    partners = any(k.endswith("_msg") and k != "rgb_msg" for k in frame)
    for attempt in range(2 if partners else 1):
        stamp = probe.now_ns()
        msgs = {key: (build(stamp) if callable(build) else build) for key, build in frame.items()}
        probe.publish_frame(stamp, **msgs)
        assert spin_until(executor, lambda: probe.tracks_at(stamp) is not None, timeout_s), \
            f"no TrackArray for stamp {stamp}; bad input: {node.bad_input}, last: {node.last_warning}"
    return stamp, probe.tracks_at(stamp)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_track_the_named_object(rig, encoding):
    node, probe, executor = rig
    command(rig, "track the red ball", ["track the red ball"])
    stamp, msg = roundtrip(rig, rgb_encoding=encoding)
    assert C.stamp_to_ns(msg.header.stamp) == stamp and msg.header.frame_id == "test_optical"
    assert list(msg.active_commands) == ["track the red ball"] and msg.mode == "single"
    assert msg.tracker == "heuristic" and msg.latency_ms >= 0.0
    assert len(msg.tracks) == 1
    track = msg.tracks[0]
    assert iou(track_box(track), RED_BOX) > 0.7, track_box(track)
    assert track.command == "red ball" or "red ball" in track.command
    assert track.state == Track.STATE_TRACKING and 0.0 < track.confidence <= 1.0
    # debug image: same stamp, rgb8, full size, annotated (differs from the input)
    assert spin_until(executor, lambda: probe.debug_at(stamp) is not None, 3.0)
    debug = probe.debug_at(stamp)
    assert (debug.encoding, debug.width, debug.height) == ("rgb8", W, H)
    image = C.image_msg_to_rgb(debug)
    assert (image != scene_rgb()).mean() > 0.005


def test_mono8_rgb_is_accepted(rig):
    """mono8 has no colour: the node still answers with a well-formed TrackArray."""
    command(rig, "track the red ball", ["track the red ball"])
    stamp, msg = roundtrip(rig, rgb_encoding="mono8")
    assert C.stamp_to_ns(msg.header.stamp) == stamp and list(msg.active_commands) == ["track the red ball"]
    for t in msg.tracks:
        assert 0 <= t.x_min < t.x_max <= W and 0 <= t.y_min < t.y_max <= H


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_depth_gives_3d_position_markers_and_pose(rig, encoding):
    node, probe, executor = rig
    command(rig, "track the red ball", ["track the red ball"])
    stamp, msg = roundtrip(rig, depth_msg=lambda s: C.depth_m_to_image_msg(scene_depth_m(), s, "test_optical",
                                                                              encoding))
    assert "depth" not in msg.missing_modalities
    track = msg.tracks[0]
    assert track.has_position
    u, v = (RED_BOX[0] + RED_BOX[2]) / 2, (RED_BOX[1] + RED_BOX[3]) / 2
    expected = np.array([(u - CAMERA.cx) * RED_DEPTH_M / CAMERA.fx, (v - CAMERA.cy) * RED_DEPTH_M / CAMERA.fy,
                         RED_DEPTH_M])
    got = np.array([track.position.x, track.position.y, track.position.z])
    np.testing.assert_allclose(got, expected, atol=0.06)
    def at_stamp(msgs, stamp_of):
        return next((m for m in reversed(msgs) if stamp_of(m) == stamp), None)

    assert spin_until(executor, lambda: at_stamp(probe.markers, lambda m: C.stamp_to_ns(m.markers[0].header.stamp))
                      is not None and at_stamp(probe.poses, lambda p: C.stamp_to_ns(p.header.stamp)) is not None, 3.0)
    markers = at_stamp(probe.markers, lambda m: C.stamp_to_ns(m.markers[0].header.stamp))
    assert markers.markers[0].action == Marker.DELETEALL
    spheres = [m for m in markers.markers if m.type == Marker.SPHERE]
    assert len(spheres) == 1 and abs(spheres[0].pose.position.z - RED_DEPTH_M) < 0.06
    assert spheres[0].header.frame_id == "test_optical"
    pose = at_stamp(probe.poses, lambda p: C.stamp_to_ns(p.header.stamp))
    assert abs(pose.pose.position.z - RED_DEPTH_M) < 0.06 and pose.header.frame_id == "test_optical"


def test_half_resolution_depth_is_resized_to_rgb(rig):
    """Image sizes that disagree between modalities: depth is resized onto the RGB grid."""
    command(rig, "track the red ball", ["track the red ball"])
    _, msg = roundtrip(rig, depth_msg=lambda s: C.depth_m_to_image_msg(scene_depth_m((H // 2, W // 2)), s, "d",
                                                                          "32FC1"))
    assert msg.tracks[0].has_position and abs(msg.tracks[0].position.z - RED_DEPTH_M) < 0.06


@pytest.mark.parametrize("encoding", ["mono8", "mono16", "32FC1"])
def test_thermal_encodings_find_the_hot_object(rig, encoding):
    command(rig, "track the hot object", ["track the hot object"])
    calibration = ThermalCalibration.preset("mono8_0_100c") if encoding == "mono8" else None
    _, msg = roundtrip(rig, thermal_msg=lambda s: C.kelvin_to_image_msg(scene_thermal_k(), s, "t", encoding,
                                                                           calibration=calibration))
    assert "thermal" not in msg.missing_modalities, (rig[0].bad_input, rig[0].last_warning, rig[0].diagnostics())
    assert len(msg.tracks) == 1 and iou(track_box(msg.tracks[0]), BLUE_BOX) > 0.6, [track_box(t) for t in msg.tracks]


def test_event_array_finds_the_moving_object(rig):
    command(rig, "track the moving object", ["track the moving object"])
    _, msg = roundtrip(rig, events_msg=lambda s: C.batch_to_event_array(scene_events(s), frame_id="e"))
    assert "event" not in msg.missing_modalities, str(rig[0].diagnostics())
    assert len(msg.tracks) == 1 and iou(track_box(msg.tracks[0]), BLUE_BOX) > 0.6, [track_box(t) for t in msg.tracks]


def test_event_image_finds_the_moving_object(rig):
    command(rig, "track the moving object", ["track the moving object"])
    frame = np.zeros((H, W), np.uint8)
    x0, y0, x1, y1 = BLUE_BOX
    frame[y0:y1:2, x0:x1:2] = 200

    def event_image(stamp):
        msg = C.rgb_to_image_msg(np.repeat(frame[..., None], 3, axis=2), stamp, "e", "mono8")
        return msg

    _, msg = roundtrip(rig, event_image_msg=event_image)
    assert "event" not in msg.missing_modalities, str(rig[0].diagnostics())
    assert len(msg.tracks) == 1 and iou(track_box(msg.tracks[0]), BLUE_BOX) > 0.5


def test_all_modalities_together(rig):
    command(rig, "track the red ball", ["track the red ball"])
    _, msg = roundtrip(
        rig, rgb_encoding="bgr8",
        depth_msg=lambda s: C.depth_m_to_image_msg(scene_depth_m(), s, "d", "16UC1"),
        thermal_msg=lambda s: C.kelvin_to_image_msg(scene_thermal_k(), s, "t", "mono16"),
        events_msg=lambda s: C.batch_to_event_array(scene_events(s)))
    assert list(msg.missing_modalities) == [], str(rig[0].diagnostics())
    assert iou(track_box(msg.tracks[0]), RED_BOX) > 0.7 and msg.tracks[0].has_position


def test_set_command_service_sets_and_clears(rig):
    node, probe, executor = rig
    client = probe.create_client(SetCommand, "set_command")
    assert spin_until(executor, client.service_is_ready, 5.0)

    def call(text):
        future = client.call_async(SetCommand.Request(command=text))
        assert spin_until(executor, future.done, 5.0)
        return future.result()

    res = call("track the red ball; track all blue boxes")
    assert res.accepted and list(res.active_commands) == ["track the red ball", "track all blue boxes"]
    _, msg = roundtrip(rig)
    assert list(msg.active_commands) == ["track the red ball", "track all blue boxes"]
    assert any(iou(track_box(t), RED_BOX) > 0.7 for t in msg.tracks)
    assert any(iou(track_box(t), BLUE_BOX) > 0.7 for t in msg.tracks)
    assert len({t.id for t in msg.tracks}) == len(msg.tracks)
    res = call("stop")
    assert res.accepted and list(res.active_commands) == [] and res.message == "cleared"
    res = call("   ")
    assert not res.accepted and "empty" in res.message and list(res.active_commands) == []
    probe.destroy_client(client)


def test_diagnostics_report_rates_model_and_bad_input(rig):
    node, probe, executor = rig
    command(rig, "track the red ball", ["track the red ball"])
    roundtrip(rig)
    n = len(probe.diagnostics)
    assert spin_until(executor, lambda: len(probe.diagnostics) > n, 3.0)
    status = probe.diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert values["tracker"] == "heuristic"
    for key in ("rgb_rate_hz", "output_rate_hz", "dropped_frames", "latency_p50_ms", "latency_p95_ms",
                "published", "active_commands"):
        assert key in values
    assert int(values["published"]) >= 1


def test_thermal_homography_parameter_aligns_the_thermal_image(ros_context):
    """align.thermal_homography (a real parameter -> core alignment): a thermal
    camera whose image is shifted 40 px to the right is mapped back onto RGB."""
    shift = 40
    node = TrackerNode(node_name="aligned", namespace="aligned", context=ros_context, parameter_overrides=NODE_PARAMS + [
        Parameter("align.thermal_homography", value=[1.0, 0.0, -float(shift), 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])])
    probe = Probe(ros_context, name="aligned_probe", namespace="aligned")
    executor = SingleThreadedExecutor(context=ros_context)
    for n in (node, probe):
        executor.add_node(n)
    try:
        assert spin_until(executor, lambda: probe.pub["thermal"].get_subscription_count() > 0
                          and probe.pub["command"].get_subscription_count() > 0
                          and node.pub_tracks.get_subscription_count() > 0, 10.0)
        command((node, probe, executor), "track the hot object", ["track the hot object"])
        shifted = np.roll(scene_thermal_k(), shift, axis=1)
        _, msg = roundtrip((node, probe, executor),
                           thermal_msg=lambda s: C.kelvin_to_image_msg(shifted, s, "t", "32FC1"))
        assert "thermal" not in msg.missing_modalities
        assert len(msg.tracks) == 1 and iou(track_box(msg.tracks[0]), BLUE_BOX) > 0.6, track_box(msg.tracks[0])
    finally:
        for n in (probe, node):
            executor.remove_node(n)
            n.destroy_node()
        executor.shutdown()
