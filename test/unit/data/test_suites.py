"""Suites: names, seeds, sizes, training stream."""
import pytest

from vl_tracking_ros.data import suites
from vl_tracking_ros.data.suites import (SUITES, TRAIN_SEED_OFFSET, UnknownSuiteError, get_suite, training_clip_seed,
                                         training_clips, training_config)

REQUIRED = {"sot-day", "sot-night", "switch", "small-fast", "occlusion", "rmot"}


def test_required_suites_exist_and_unknown_lists_valid_names():
    assert REQUIRED <= set(SUITES)
    with pytest.raises(UnknownSuiteError) as exc:
        get_suite("sot-dya")
    for name in REQUIRED:
        assert name in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_suite_sizes_seeds_and_configs():
    for name in REQUIRED:
        s = get_suite(name)
        full = get_suite(name, full=True)
        assert 8 <= s.num_clips <= 12 and full.num_clips > s.num_clips
        cfg = s.config(0)
        assert 60 <= cfg.num_frames <= 100 and full.config(0).num_frames > cfg.num_frames
        assert s.config(1) == get_suite(name).config(1)             # fixed
        assert s.clip_seed(0) < TRAIN_SEED_OFFSET
    assert get_suite("sot-night").config(0).lighting in ("night", "dusk")
    assert get_suite("rmot").config(0).multi_target
    assert get_suite("small-fast").config(0).target_size == "small"
    assert get_suite("switch").config(0).target_switches >= 1
    assert get_suite("occlusion").config(0).occlusion in ("full", "partial")
    assert get_suite("sot-day", seed=7).clip_seed(3) != get_suite("sot-day").clip_seed(3)
    with pytest.raises(IndexError):
        get_suite("sot-day").clip_seed(99)
    with pytest.raises(ValueError):
        get_suite("sot-day", seed=-1)


def test_training_seeds_never_overlap_evaluation_seeds():
    eval_max = (suites.MAX_SUITE_SEED - 1) * suites.CLIPS_PER_SEED + suites.CLIPS_PER_SEED - 1
    assert training_clip_seed(0, 0) > eval_max
    assert training_clip_seed(3, 5) != training_clip_seed(5, 3)
    kinds = {(c.lighting, c.multi_target, c.target_switches > 0, c.target_size)
             for c in (training_config(training_clip_seed(1, i)) for i in range(30))}
    assert len(kinds) > 5                                                  # varied


def test_training_clips_stream_with_overrides():
    clips = list(training_clips(4, 2, num_frames=6, width=96, height=72, modalities=("rgb", "thermal")))
    assert [c.num_frames for c in clips] == [6, 6]
    assert clips[0].frames[0].thermal_k is not None and clips[0].frames[0].depth_m is None
    assert all(c.seed >= TRAIN_SEED_OFFSET for c in clips) and clips[0].name != clips[1].name
    with pytest.raises(UnknownSuiteError):
        training_config(training_clip_seed(0, 0), mix={"nope": 1.0})


def test_data_package_imports_neither_torch_nor_rclpy():
    """`vl-tracking generate` and the readers must work without torch / ROS loaded."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.path.insert(0, '.');"
            "import vl_tracking_ros.data.cli_generate, vl_tracking_ros.data.suites, vl_tracking_ros.data.bag,"
            " vl_tracking_ros.data.clip_io, vl_tracking_ros.data.datasets, vl_tracking_ros.data.panel;"
            "print(sorted(m for m in ('torch', 'rclpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[3], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
