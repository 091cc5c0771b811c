"""Event rendering sanity."""
import numpy as np

from vl_tracking_ros.data.event_sim import EventSimulator, log_intensity
from vl_tracking_ros.data.scene import ClipConfig
from vl_tracking_ros.data.world import render_clip


def test_static_scene_without_noise_has_no_events():
    cfg = ClipConfig(width=160, height=120, num_frames=12, num_objects=1, target_speed="still", ego_motion=0.0,
                     event_noise_hz=0.0, scale_change=0.0, occlusion="none")
    clip = render_clip(cfg, 2)
    assert sum(len(b) for b in clip.events) == 0
    assert all(float(f.event_frame.sum()) == 0.0 for f in clip.frames)
    # the same scene with sensor noise does emit (random) events
    noisy = render_clip(cfg.with_(event_noise_hz=5.0), 2)
    assert sum(len(b) for b in noisy.events) > 0


def test_polarity_follows_brightness_change():
    h, w = 4, 5
    base = np.full((h, w), 0.2, np.float32)
    sim = EventSimulator(log_intensity(base), np.full((h, w), 0.2, np.float32), noise_hz=0.0)
    brighter = np.full((h, w), 0.6, np.float32)
    x, y, t, p = sim.segment(log_intensity(base), log_intensity(brighter), 1000.0, 2000.0)
    expected_per_px = int(np.floor((log_intensity(brighter)[0, 0] - log_intensity(base)[0, 0]) / 0.2))
    assert expected_per_px >= 2
    assert len(x) == expected_per_px * h * w and np.all(p == 1)
    assert np.all((t >= 1000.0) & (t <= 2000.0))
    # crossing times are ordered by level: the first crossing comes first
    assert t.min() < t.max()
    # the per-pixel reference moved with the events: no change -> no events
    x2, _, _, _ = sim.segment(log_intensity(brighter), log_intensity(brighter), 2000.0, 2500.0)
    assert len(x2) == 0
    # and going back down fires the same number of OFF events
    x, y, t, p = sim.segment(log_intensity(brighter), log_intensity(base), 2500.0, 3000.0)
    assert len(x) == expected_per_px * h * w and np.all(p == 0)


def test_events_come_from_the_moving_object_at_subframe_times():
    cfg = ClipConfig(width=160, height=120, num_frames=10, num_objects=1, target_speed="normal", ego_motion=0.0,
                     event_noise_hz=0.0, scale_change=0.0, target_category="box")
    clip = render_clip(cfg, 7)
    tid = 1
    total = 0
    for i in range(1, clip.num_frames):
        b = clip.events[i]
        if not len(b):
            continue
        total += len(b)
        box0, box1 = clip.gt[i - 1].objects[tid].full_box_xyxy, clip.gt[i].objects[tid].full_box_xyxy
        x0, y0 = min(box0[0], box1[0]) - 2, min(box0[1], box1[1]) - 2
        x1, y1 = max(box0[2], box1[2]) + 2, max(box0[3], box1[3]) + 2
        inside = (b.x_px >= x0) & (b.x_px <= x1) & (b.y_px >= y0) & (b.y_px <= y1)
        assert inside.all()
        t_prev, t_now = clip.frames[i - 1].stamp_ns // 1000, clip.frames[i].stamp_ns // 1000
        assert b.t_us.min() >= t_prev and b.t_us.max() <= t_now
        assert np.all(np.diff(b.t_us) >= 0)
        assert len(np.unique(b.t_us)) > 2           # spread over sub-frame times, not one stamp
    assert total > 0
