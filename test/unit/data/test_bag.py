"""Clip -> MCAP rosbag2 -> reader round trip (real rosbags serialisation)."""
import numpy as np
import pytest

from vl_tracking_ros.data import bag
from vl_tracking_ros.data.scene import ClipConfig
from vl_tracking_ros.data.world import render_clip


@pytest.fixture(scope="module")
def clip():
    return render_clip(ClipConfig(width=96, height=72, num_frames=10, target_switches=1, num_objects=4,
                                  stop_at_end=True), 31)


@pytest.mark.parametrize("depth_encoding", ["32FC1", "16UC1"])
def test_bag_round_trip(tmp_path, clip, depth_encoding):
    path = bag.write_bag(clip, tmp_path / "clip_bag", depth_encoding=depth_encoding)
    assert (path / "clip_bag.mcap").exists() or list(path.glob("*.mcap"))
    back = bag.read_clip(path)
    assert back.num_frames == clip.num_frames
    assert back.command_schedule == clip.command_schedule
    assert abs(back.fps - clip.fps) < 1e-6 and back.name == clip.name
    assert back.camera.fx == pytest.approx(clip.camera.fx) and back.camera.width == clip.camera.width
    for a, b in zip(clip.frames, back.frames):
        assert a.stamp_ns == b.stamp_ns
        np.testing.assert_array_equal(a.image_rgb, b.image_rgb)
        np.testing.assert_array_equal(np.isnan(a.depth_m), np.isnan(b.depth_m))
        tol = 0.0005 + 1e-5 if depth_encoding == "16UC1" else 0.0
        valid = np.isfinite(a.depth_m)
        np.testing.assert_allclose(a.depth_m[valid], b.depth_m[valid], atol=tol)
        assert np.abs(a.thermal_k - b.thermal_k).max() <= 0.05 + 1e-3      # mono16, 0.1 K per count
        np.testing.assert_array_equal(a.event_frame, b.event_frame)
    for a, b in zip(clip.events, back.events):
        for f in ("x_px", "y_px", "t_us", "polarity"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    # ground truth and expressions survive
    assert [e.to_dict() for e in back.expressions] == [e.to_dict() for e in clip.expressions]
    for i in range(clip.num_frames):
        sa, sb = clip.sot_target_box(i), back.sot_target_box(i)
        assert (sa is None) == (sb is None)
        if sa is not None:
            np.testing.assert_allclose(sa, sb, atol=1e-3)


def test_read_bag_yields_topics_in_log_order(tmp_path, clip):
    path = bag.write_bag(clip, tmp_path / "b")
    items = list(bag.read_bag(path))
    topics = {t for t, _, _ in items}
    assert {"/rgb/image", "/rgb/camera_info", "/depth/image", "/thermal/image", "/events", "/command",
            "/ground_truth"} <= topics
    stamps = [s for _, s, _ in items]
    assert stamps == sorted(stamps)
    commands = [(s, v) for t, s, v in items if t == "/command"]
    assert [v for _, v in commands] == [c for _, c in clip.command_schedule]
    # the event message type is the package's own EventArray
    from rosbags.rosbag2 import Reader
    with Reader(path) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
    assert types["/events"] == "vl_tracking_ros/msg/EventArray"
    assert types["/rgb/image"] == "sensor_msgs/msg/Image" and types["/command"] == "std_msgs/msg/String"


def test_bag_errors(tmp_path, clip):
    with pytest.raises(FileNotFoundError):
        list(bag.read_bag(tmp_path / "missing"))
    bag.write_bag(clip, tmp_path / "x")
    with pytest.raises(FileExistsError):
        bag.write_bag(clip, tmp_path / "x")
    with pytest.raises(ValueError, match="depth_encoding"):
        bag.write_bag(clip, tmp_path / "y", depth_encoding="mono8")


def test_misaligned_sensors_round_trip_through_core_align(tmp_path):
    """A thermal / depth / event sensor offset by a known homography: the bag
    carries each sensor's own grid; reading aligns it back with core.align."""
    from vl_tracking_ros.core.align import Alignment
    from vl_tracking_ros.data.scene import ClipConfig

    h_thermal = (1.02, 0.0, 4.0, 0.0, 1.02, -3.0, 0.0, 0.0, 1.0)        # thermal pixel -> RGB pixel
    h_shift = (1.0, 0.0, 3.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0)
    cfg = ClipConfig(width=96, height=72, num_frames=6,
                     x_homographies=(("thermal", h_thermal), ("depth", h_shift), ("event", h_shift)))
    clip = render_clip(cfg, 5)
    raw = clip.sensor_image(3, "thermal")
    assert raw.shape == (72, 96) and not np.allclose(raw[10:60, 10:80], clip.frames[3].thermal_k[10:60, 10:80])
    # core.align with the same homography brings the sensor image back onto RGB
    back = Alignment(np.array(h_thermal).reshape(3, 3)).apply(raw, "linear")
    inner = (slice(8, 60), slice(8, 84))
    assert np.nanmedian(np.abs(back[inner] - clip.frames[3].thermal_k[inner])) < 0.3
    ev = clip.sensor_events(3)
    assert len(ev) > 0 and len(ev) <= len(clip.events[3])

    path = bag.write_bag(clip, tmp_path / "mis")
    raw_msgs = {t: v for t, s, v in bag.read_bag(path) if s == clip.frames[3].stamp_ns}
    assert np.abs(raw_msgs["/thermal/image"] - raw).max() <= 0.05 + 1e-3          # the sensor's own grid
    aligned = bag.read_clip(path)
    d_ref, d_back = clip.frames[3].depth_m[inner], aligned.frames[3].depth_m[inner]
    both = np.isfinite(d_ref) & np.isfinite(d_back)
    assert both.mean() > 0.3 and np.allclose(d_back[both], d_ref[both], atol=1e-6)  # pure shift, nearest: exact
    t_back = aligned.frames[3].thermal_k[inner]
    assert np.nanmedian(np.abs(t_back - clip.frames[3].thermal_k[inner])) < 0.3
    raw_clip = bag.read_clip(path, align=False)
    assert set(raw_clip.homographies) == {"thermal", "depth", "event"}
