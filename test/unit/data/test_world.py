"""The synthetic world: determinism, ground truth, sensors, referents."""
import numpy as np
import pytest

from vl_tracking_ros.core import imageconv
from vl_tracking_ros.data.bag import THERMAL_CALIBRATION
from vl_tracking_ros.data.clip_io import depth_m_to_mm16, kelvin_to_raw16, mm16_to_depth_m
from vl_tracking_ros.data.language import VOCABULARY, relation_holds
from vl_tracking_ros.data.scene import ClipConfig
from vl_tracking_ros.data.world import render_clip

SMALL = dict(width=160, height=120, num_frames=16)


def _clip_bytes(clip):
    parts = []
    for f in clip.frames:
        parts += [f.image_rgb.tobytes(), f.depth_m.tobytes(), f.thermal_k.tobytes(), f.event_frame.tobytes()]
    for b in clip.events:
        parts += [b.x_px.tobytes(), b.y_px.tobytes(), b.t_us.tobytes(), b.polarity.tobytes()]
    parts.append(repr(clip.command_schedule).encode())
    parts.append(repr([(o.obj_id, o.box_xyxy.tobytes(), o.visibility)
                       for g in clip.gt for o in g.objects.values()]).encode())
    return b"".join(parts)


def test_same_seed_identical_bytes_different_seed_differs():
    cfg = ClipConfig(**SMALL, ego_motion=3.0, motion_blur=0.5, occlusion="partial", target_switches=1)
    a, b, c = render_clip(cfg, 11), render_clip(cfg, 11), render_clip(cfg, 12)
    assert _clip_bytes(a) == _clip_bytes(b)
    assert _clip_bytes(a) != _clip_bytes(c)
    assert a.frames[3].image_rgb.dtype == np.uint8 and a.frames[3].image_rgb.shape == (120, 160, 3)
    assert a.frames[3].depth_m.dtype == np.float32 and a.frames[3].thermal_k.dtype == np.float32
    assert a.frames[3].event_frame.shape[:2] == (120, 160)


def test_modality_set_does_not_move_objects():
    full = render_clip(ClipConfig(**SMALL), 5)
    rgb_only = render_clip(ClipConfig(**SMALL, modalities=("rgb",)), 5)
    assert rgb_only.frames[0].depth_m is None and rgb_only.frames[0].thermal_k is None
    assert rgb_only.frames[0].event_frame is None
    for g1, g2 in zip(full.gt, rgb_only.gt):
        for oid in g1.objects:
            np.testing.assert_array_equal(g1.objects[oid].box_xyxy, g2.objects[oid].box_xyxy)


def _check_referents(clip):
    W, H = clip.camera.width, clip.camera.height
    assert clip.expressions, "every clip gets at least one command"
    for expr in clip.expressions:
        f = expr.start_frame
        objs = clip.gt[f].objects
        spatial = expr.relation is not None or "hpos" in expr.attributes or "vpos" in expr.attributes
        expected = []
        for oid, o in sorted(objs.items()):
            if spatial and not (o.in_view and o.visibility > 0.3):
                continue
            if any(o.attrs[k] != v for k, v in expr.attributes.items()):
                continue
            if expr.relation is not None:
                if oid == expr.anchor_id or not relation_holds(o.full_box_xyxy, objs[expr.anchor_id].full_box_xyxy,
                                                              expr.relation):
                    continue
            expected.append(oid)
        assert tuple(expected) == expr.referent_ids, (expr.text, expr.attributes, expected)
        if expr.relation is not None:   # the anchor itself is named uniquely
            anchor = [oid for oid, o in objs.items()
                      if all(o.attrs[k] == v for k, v in expr.anchor_attributes.items())]
            assert anchor == [expr.anchor_id]
        if expr.multi:
            assert len(expr.referent_ids) >= 1 and expr.command.startswith("track all ")
        else:
            assert len(expr.referent_ids) == 1 and expr.command == "track " + expr.text
            target = objs[expr.referent_ids[0]]
            assert target.in_view and target.visibility >= 0.5    # visible when the command is given
        # words of the text come from the published vocabulary
        unknown = [w for w in expr.text.split() if w not in VOCABULARY["words"]]
        assert not unknown, (expr.text, unknown)


@pytest.mark.parametrize("kw", [dict(num_objects=5, distractor_similarity=0.8, relation_prob=0.6),
                                dict(num_objects=6, target_switches=2, relation_prob=0.5),
                                dict(num_objects=7, multi_target=True, target_switches=1)])
def test_referent_sets_match_scene_attributes(kw):
    for seed in range(6):
        clip = render_clip(ClipConfig(**dict(SMALL, **kw), modalities=("rgb",)), 100 + seed)
        _check_referents(clip)
        # the schedule is consistent with the expressions
        assert [c for _, c in clip.command_schedule] == [e.command for e in clip.expressions]
        for e in clip.expressions:
            assert clip.active_expression(e.start_frame) is e


def test_switch_schedule_changes_target():
    clip = render_clip(ClipConfig(width=160, height=120, num_frames=40, num_objects=5, target_switches=2,
                                  stop_at_end=True, modalities=("rgb",)), 3)
    ids = [e.referent_ids[0] for e in clip.expressions]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert clip.command_schedule[-1][1] == "stop"
    stop_frame = clip.command_schedule[-1][0]
    assert clip.active_expression(stop_frame) is None and clip.target_boxes(stop_frame) == {}
    assert clip.sot_target_box(stop_frame) is None


def test_full_occlusion_hides_target_and_sot_box_is_none():
    clip = render_clip(ClipConfig(width=160, height=120, num_frames=40, occlusion="full", occlusion_frames=8,
                                  modalities=("rgb",)), 21)
    target = clip.expressions[0].referent_ids[0]
    vis = np.array([clip.gt[i].objects[target].visibility for i in range(clip.num_frames)])
    hidden = np.flatnonzero(vis == 0)
    assert len(hidden) >= 6                       # fully hidden for about occlusion_frames
    assert all(clip.sot_target_box(int(i)) is None for i in hidden)
    assert vis.max() > 0.9                       # and visible elsewhere
    partial = render_clip(ClipConfig(width=160, height=120, num_frames=40, occlusion="partial", occlusion_frames=8,
                                     modalities=("rgb",)), 21)
    pv = np.array([g.objects[partial.expressions[0].referent_ids[0]].visibility for g in partial.gt])
    assert 0.0 < pv.min() < 0.8


def test_small_target_limits_and_leave_reenter():
    for seed in range(4):
        clip = render_clip(ClipConfig(width=320, height=240, num_frames=60, target_size="small", target_speed="fast",
                                      leave_reenter=True, modalities=("rgb",)), seed)
        tid = clip.expressions[0].referent_ids[0]
        boxes = np.array([g.objects[tid].full_box_xyxy for g in clip.gt])
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        assert np.all(w < 22) and np.all(h < 22) and np.all(w * h < 0.01 * 320 * 240)
        in_view = np.array([g.objects[tid].in_view for g in clip.gt])
        assert not in_view.all(), "the target leaves the view"
        first_out = int(np.argmin(in_view))
        assert in_view[first_out:].any(), "and comes back"
        assert clip.gt[0].objects[tid].attrs["size"] == "small"


def test_lighting_night_rgb_nearly_black_thermal_unchanged():
    day = render_clip(ClipConfig(**SMALL, lighting="day"), 4)
    night = render_clip(ClipConfig(**SMALL, lighting="night"), 4)
    glare = render_clip(ClipConfig(**SMALL, lighting="glare"), 4)
    assert day.frames[5].image_rgb.mean() > 60
    assert night.frames[5].image_rgb.mean() < 15
    assert (glare.frames[5].image_rgb == 255).mean() > 0.01
    # the hot / warm objects are still there in thermal at night
    tid = night.expressions[0].referent_ids[0]
    assert night.gt[5].objects[tid].attrs == day.gt[5].objects[tid].attrs


def test_depth_units_16uc1_mm_and_32fc1_m_agree():
    clip = render_clip(ClipConfig(**SMALL), 8)
    depth_m = clip.frames[4].depth_m
    valid = np.isfinite(depth_m)
    assert valid.mean() > 0.3 and np.isnan(depth_m).any()                     # holes / out of range
    assert np.nanmin(depth_m) >= 0.3 and np.nanmax(depth_m) <= 20.0           # range limits
    mm = depth_m_to_mm16(depth_m)
    assert mm.dtype == np.uint16 and np.all(mm[~valid] == 0)
    back = mm16_to_depth_m(mm)
    np.testing.assert_allclose(back[valid], depth_m[valid], atol=0.0005 + 1e-5)
    # the same through core's ROS encodings (what the bag carries)
    data16, step16 = imageconv.depth_m_to_bytes(depth_m, "16UC1")
    data32, step32 = imageconv.depth_m_to_bytes(depth_m, "32FC1")
    d16 = imageconv.depth_to_m(data16, 120, 160, "16UC1", step16)
    d32 = imageconv.depth_to_m(data32, 120, 160, "32FC1", step32)
    np.testing.assert_array_equal(np.isnan(d16), np.isnan(d32))
    np.testing.assert_allclose(d16[valid], d32[valid], atol=0.0005 + 1e-5)


def test_thermal_calibration_round_trip_and_object_temperatures():
    clip = render_clip(ClipConfig(**SMALL, num_objects=5), 9)
    t_k = clip.frames[3].thermal_k
    raw = kelvin_to_raw16(t_k)
    back = THERMAL_CALIBRATION.to_kelvin(raw)
    assert np.abs(back - t_k).max() <= 0.05 + 1e-3        # 0.1 K per count, rounded
    data, step = imageconv.kelvin_to_bytes(t_k, "mono16", calibration=THERMAL_CALIBRATION)
    np.testing.assert_array_equal(imageconv.thermal_to_kelvin(data, 120, 160, "mono16", step,
                                                              calibration=THERMAL_CALIBRATION), back)
    # a hot object is hotter than ambient where it is visible, a cold one colder
    g = clip.gt[3]
    for o in g.objects.values():
        if o.visibility < 0.6 or (o.box_xyxy[2] - o.box_xyxy[0]) < 6:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in o.box_xyxy)
        patch = t_k[y0:y1, x0:x1]
        if o.attrs["temperature"] == "hot":
            assert patch.max() > 330
        if o.attrs["temperature"] == "cold":
            assert patch.min() < 280


def test_config_validation_names_the_knob():
    with pytest.raises(ValueError, match="lighting"):
        render_clip(ClipConfig(lighting="noon"), 0)
    with pytest.raises(ValueError, match="modalities"):
        render_clip(ClipConfig(modalities=("rgb", "lidar")), 0)
    with pytest.raises(ValueError, match="num_objects"):
        render_clip(ClipConfig(num_objects=2, target_switches=3), 0)


def test_commands_parse_back_to_the_expressions():
    from vl_tracking_ros.core.commands import parse_command

    for kw in (dict(target_switches=2, num_objects=5, stop_at_end=True), dict(multi_target=True, num_objects=6)):
        clip = render_clip(ClipConfig(**dict(SMALL, num_frames=30, **kw), modalities=("rgb",)), 44)
        for frame, text in clip.command_schedule:
            parsed = parse_command(text)
            if text == "stop":
                assert parsed.action == "stop"
                continue
            expr = clip.active_expression(frame)
            assert parsed.action == "track" and parsed.queries == (expr.query(),)


def test_homography_knob_validation():
    with pytest.raises(ValueError, match="x_homographies"):
        render_clip(ClipConfig(**SMALL, x_homographies=(("lidar", (1, 0, 0, 0, 1, 0, 0, 0, 1)),)), 0)
    with pytest.raises(ValueError, match="invertible"):
        render_clip(ClipConfig(**SMALL, x_homographies=(("thermal", (0,) * 9),)), 0)
    clip = render_clip(ClipConfig(**SMALL, modalities=("rgb", "thermal"),
                                  x_homographies=(("thermal", (1, 0, 2, 0, 1, 0, 0, 0, 1)),)), 0)
    assert clip.conditions["aligned"] is False and clip.homographies["thermal"][0, 2] == 2


def test_same_bytes_in_another_process():
    """No dependence on hash seeds or process state: a fresh interpreter with
    another PYTHONHASHSEED renders the same clip."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.path.insert(0, '.');"
            "from vl_tracking_ros.data.scene import ClipConfig; from vl_tracking_ros.data.world import render_clip;"
            "c = render_clip(ClipConfig(width=96, height=72, num_frames=6, target_switches=1, relation_prob=0.5), 77);"
            "print(c.digest())")
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    here = render_clip(ClipConfig(width=96, height=72, num_frames=6, target_switches=1, relation_prob=0.5), 77)
    assert out.stdout.strip() == here.digest()
    assert here.digest() != render_clip(ClipConfig(width=96, height=72, num_frames=6), 78).digest()
