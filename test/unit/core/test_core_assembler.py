"""core.assembler: decoded streams -> aligned SensorFrames."""
import numpy as np
import pytest

from vl_tracking_ros.core.assembler import AssemblerConfig, AssemblerError, FrameAssembler
from vl_tracking_ros.core.events import events_from_arrays
from vl_tracking_ros.core.imageconv import depth_m_to_bytes, depth_to_m, kelvin_to_bytes, thermal_to_kelvin
from vl_tracking_ros.core.types import CameraIntrinsics

MS = 1_000_000
T0 = 10_000 * MS
PERIOD = 66 * MS


def _assembler(**kw):
    kw.setdefault("wall_clock_release", False)
    return FrameAssembler(AssemblerConfig(**kw))


def _rgb(h=48, w=64):
    img = np.zeros((h, w, 3), np.uint8)
    img[10:20, 30:40] = (255, 0, 0)
    return img


def test_all_modalities_aligned_to_rgb_grid():
    a = _assembler(event_representation="voxel", event_bins=3)
    cam = CameraIntrinsics(50, 50, 31.5, 23.5, 64, 48)
    a.set_camera(cam)
    frames = []
    for i in range(4):
        t = T0 + i * PERIOD
        a.add_rgb(t, _rgb(), "cam")
        # depth at half resolution, thermal at double, through the real codecs
        data, step = depth_m_to_bytes(np.full((24, 32), 1.5, np.float32), "16UC1")
        a.add_depth(t + MS, depth_to_m(data, 24, 32, "16UC1", step))
        data, step = kelvin_to_bytes(np.full((96, 128), 300.0, np.float32), "mono16")
        a.add_thermal(t - MS, thermal_to_kelvin(data, 96, 128, "mono16", step))
        tu = t // 1000
        a.add_events(events_from_arrays([0, 31, 31], [0, 23, 23], [tu - 20_000, tu - 10_000, tu], [1, 0, 1], 32, 24))
        frames += a.pop()
    frames += a.flush()
    assert [f.frame_index for f in frames] == [0, 1, 2, 3]
    for f in frames:
        assert f.available_modalities() == ["rgb", "depth", "thermal", "event"]
        assert f.depth_m.shape == (48, 64) and f.depth_m.dtype == np.float32
        assert np.allclose(f.depth_m, 1.5)
        assert f.thermal_k.shape == (48, 64) and np.allclose(f.thermal_k, 300.0, atol=0.06)
        assert f.event_frame.shape == (48, 64, 3) and f.event_frame.dtype == np.float32
        assert f.event_frame[46:48, 62:64].any() and f.event_frame[0, 0].any()
        assert not f.event_frame[20:30, 20:40].any()
        assert f.camera == cam and f.frame_id == "cam"
    d = a.diagnostics()
    assert d["frames_out"] == 4 and d["depth.shape"] == "24x32" and d["thermal.shape"] == "96x128"
    assert d["depth.matched"] == 4 and d["rgb.received"] == 4


def test_histogram_event_frame_is_default_and_normalised():
    a = _assembler(modalities=("event",))
    tu = T0 // 1000
    a.add_events(events_from_arrays([5, 5, 6], [5, 5, 6], [tu - 3, tu - 2, tu - 1], [1, 1, 0], 64, 48))
    a.add_rgb(T0, _rgb())
    (f,) = a.pop() + a.flush()
    assert f.event_frame.shape == (48, 64, 2)
    assert f.event_frame[5, 5, 0] == 1.0 and f.event_frame[5, 5, 1] == 0.0     # two ON events
    assert 0.0 < f.event_frame[6, 6, 1] < 1.0 and f.event_frame[6, 6, 0] == 0.0  # one OFF event
    assert np.count_nonzero(f.event_frame) == 2


def test_event_image_mapped_to_representation():
    a = _assembler(modalities=("event",))
    img = np.zeros((24, 32, 2), np.float32)
    img[2, 3] = (4.0, 0.0)
    a.add_event_image(T0, img)
    a.add_rgb(T0, _rgb())
    (f,) = a.pop()
    assert f.event_frame.shape == (48, 64, 2) and f.event_frame.max() <= 1.0
    ys, xs = np.nonzero(f.event_frame[..., 0])           # the ON pixel (2, 3), resized x2 bilinearly
    assert ys.min() >= 3 and ys.max() <= 6 and xs.min() >= 5 and xs.max() <= 8
    assert f.event_frame[..., 1].max() == 0.0


def test_homography_applied_to_thermal():
    h = [[1, 0, 10], [0, 1, 0], [0, 0, 1]]     # thermal pixels sit 10 px right in the RGB image
    a = _assembler(modalities=("thermal",), homographies={"thermal": h})
    t = np.full((48, 64), 290.0, np.float32)
    t[:, 0:5] = 320.0
    a.add_thermal(T0, t)
    a.add_rgb(T0, _rgb())
    (f,) = a.pop()
    assert np.all(np.isnan(f.thermal_k[:, :9]))
    assert np.allclose(f.thermal_k[:, 11:14], 320.0) and np.allclose(f.thermal_k[:, 20:], 290.0)


def test_missing_stream_frames_still_come():
    a = _assembler(modalities=("depth", "thermal"))
    out = []
    for i in range(5):
        a.add_rgb(T0 + i * PERIOD, _rgb())
        out += a.pop()
    assert len(out) == 5 and all(f.depth_m is None and f.thermal_k is None for f in out)
    d = a.diagnostics()
    assert d["depth.missing"] == 5 and d["thermal.missing"] == 5 and d["depth.silent"] is True


@pytest.mark.parametrize("call,match", [
    (lambda a: a.add_rgb(T0, np.zeros((4, 4), np.uint8)), r"image_rgb must be \(H, W, 3\) uint8"),
    (lambda a: a.add_rgb(T0, np.zeros((4, 4, 3), np.float32)), r"uint8"),
    (lambda a: a.add_depth(T0, np.zeros((4, 4, 3), np.float32)), r"depth_m must be \(h, w\) float"),
    (lambda a: a.add_depth(T0, np.zeros((4, 4), np.uint16)), r"depth_m must be"),
    (lambda a: a.add_thermal(T0, np.zeros((0, 4), np.float32)), r"thermal_k must be"),
    (lambda a: a.add_events("events"), r"add_events takes an EventBatch"),
    (lambda a: a.add_event_image(T0, np.zeros((2, 2, 2, 2))), r"event image must be"),
    (lambda a: a.set_camera("K"), r"CameraIntrinsics"),
])
def test_bad_input(call, match):
    with pytest.raises(AssemblerError, match=match):
        call(_assembler())


def test_disabled_modality_rejected():
    a = _assembler(modalities=("depth",))
    with pytest.raises(AssemblerError, match="thermal is not an enabled modality"):
        a.add_thermal(T0, np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("kwargs,match", [
    (dict(modalities=("lidar",)), "modalities must be distinct names"),
    (dict(slop_ns=0), "slop_ns must be a positive integer"),
    (dict(slop_ns=1.5), "slop_ns must be a positive integer"),
    (dict(event_representation="frames"), "event_representation"),
    (dict(homographies={"sonar": np.eye(3)}), "unknown modality 'sonar'"),
    (dict(homographies={"depth": [1, 2, 3]}), "bad homography"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(AssemblerError, match=match):
        AssemblerConfig(**kwargs)


def test_config_from_ms():
    cfg = AssemblerConfig.from_ms(enabled=("depth",), slop_ms=30, silence_timeout_ms=500, event_window_ms=20)
    assert cfg.slop_ns == 30 * MS and cfg.silence_timeout_ns == 500 * MS and cfg.event_window_us == 20_000
    assert cfg.enabled == ("depth",)
    with pytest.raises(AssemblerError, match="slop_ms must be positive"):
        AssemblerConfig.from_ms(slop_ms=-1)
