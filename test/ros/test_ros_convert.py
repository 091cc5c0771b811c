"""Message <-> core conversions (ros/convert.py) on real message objects."""
from __future__ import annotations

import types

import numpy as np
import pytest

pytest.importorskip("rclpy")
from sensor_msgs.msg import CameraInfo  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from ros_helpers import CAMERA, scene_events  # noqa: E402
from vl_tracking_ros.core.events import encode_evt3  # noqa: E402
from vl_tracking_ros.core.types import TrackerOutput, TrackResult, TrackState  # noqa: E402
from vl_tracking_ros.ros import convert as C  # noqa: E402


def test_stamps_round_trip():
    for ns in (0, 1, 1_700_000_000_123_456_789):
        assert C.stamp_to_ns(C.ns_to_stamp(ns)) == ns


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_images_round_trip_with_row_padding(encoding):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    msg = C.rgb_to_image_msg(img, 5, "f", encoding)
    np.testing.assert_array_equal(C.image_msg_to_rgb(msg), img)
    channels = 4 if "a" in encoding else 3
    padded = bytearray()
    for row in range(7):
        padded += bytes(msg.data)[row * 5 * channels:(row + 1) * 5 * channels] + b"\x00" * 3
    msg.step, msg.data = 5 * channels + 3, bytes(padded)
    np.testing.assert_array_equal(C.image_msg_to_rgb(msg), img)


def test_camera_info_round_trip_and_rejects_uncalibrated():
    info = C.intrinsics_to_camera_info(CAMERA, 10)
    assert C.camera_info_to_intrinsics(info) == CAMERA
    with pytest.raises(C.MessageConversionError, match="focal"):
        C.camera_info_to_intrinsics(CameraInfo(width=320, height=240))


def test_event_array_round_trip_and_errors():
    batch = scene_events(5_000_000_000, n=100)
    msg = C.batch_to_event_array(batch)
    back = C.event_array_to_batch(msg)
    np.testing.assert_array_equal(back.t_us, batch.t_us)
    np.testing.assert_array_equal(back.x_px, batch.x_px)
    msg.y = list(msg.y)[:-1]
    with pytest.raises(C.MessageConversionError, match="different lengths"):
        C.event_array_to_batch(msg)
    msg = C.batch_to_event_array(batch)
    msg.x = [400] * len(msg.x)
    with pytest.raises(ValueError, match="outside"):
        C.event_array_to_batch(msg)


def test_evt3_event_packet_decodes_and_rebases_onto_the_header_stamp():
    """event_camera_msgs is not installable here; the conversion is checked on
    an object with EventPacket's fields holding EVT 3.0 bytes we encode."""
    batch = scene_events(2_000_000, n=200)
    packet = types.SimpleNamespace(encoding="evt3", width=320, height=240,
                                   events=encode_evt3(batch, time_base_us=int(batch.t_us.min())),
                                   header=Header(stamp=C.ns_to_stamp(9_000_000_000)))
    out = C.event_packet_to_batch(packet)
    assert len(out) == 200 and out.t_us.min() == 9_000_000
    np.testing.assert_array_equal(np.sort(out.t_us - out.t_us.min()), np.sort(batch.t_us - batch.t_us.min()))
    packet.encoding = "evt2"
    with pytest.raises(C.MessageConversionError, match="evt2"):
        C.event_packet_to_batch(packet)


def _output():
    good = TrackResult(track_id=3, box_xyxy=np.array([10, 20, 50, 80], np.float32), confidence=0.8,
                       state=TrackState.TRACKING, command="the red car", position_m=np.array([0.1, 0.2, 2.0]),
                       modality_weights={"rgb": 0.7, "thermal": 0.3}, age=4)
    weak = TrackResult(track_id=4, box_xyxy=np.array([60, 20, 90, 80], np.float32), confidence=0.2,
                       state=TrackState.SEARCHING_LOCAL, command="the red car")
    return TrackerOutput(tracks=[good, weak], mode="multi")


def test_track_array_markers_pose():
    header = Header(stamp=C.ns_to_stamp(123), frame_id="cam")
    msg = C.output_to_track_array(_output(), header, ["track all the red car"], "heuristic", 12.5, ["event"])
    assert msg.header.frame_id == "cam" and C.stamp_to_ns(msg.header.stamp) == 123
    t = msg.tracks[0]
    assert (t.id, t.x_min, t.y_max, t.age, t.command) == (3, 10.0, 80.0, 4, "the red car")
    assert t.has_position and t.position.z == 2.0 and not msg.tracks[1].has_position
    assert list(t.modalities) == ["rgb", "thermal"] and np.isclose(sum(t.modality_weights), 1.0)
    assert list(msg.missing_modalities) == ["event"] and msg.latency_ms == 12.5
    markers = C.track_array_to_markers(msg, "cam")
    assert markers.markers[0].action == Marker.DELETEALL
    assert [m.type for m in markers.markers[1:]] == [Marker.SPHERE, Marker.TEXT_VIEW_FACING]
    assert "#3 the red car" in markers.markers[2].text
    assert C.primary_track(msg).id == 3 and C.primary_track(msg, min_confidence=0.9) is None
    pose = C.track_to_pose(C.primary_track(msg), header)
    assert pose.pose.position.z == 2.0 and pose.pose.orientation.w == 1.0
    assert C.track_array_to_detections(msg) is None or C.HAVE_VISION_MSGS


@pytest.mark.parametrize("box,ok", [((10, 10, 20, 20), True), ((np.nan, 0, 5, 5), False), ((20, 10, 10, 20), False),
                                    ((400, 10, 450, 20), False), ((-50, -50, -10, -10), False)])
def test_valid_track(box, ok):
    tr = TrackResult(track_id=1, box_xyxy=np.array(box, np.float32), confidence=0.5)
    assert C.valid_track(tr, 320, 240) is ok
