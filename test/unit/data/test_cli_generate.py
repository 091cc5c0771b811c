"""`vl-tracking generate` end to end, and the clip folder round trip."""
import json

import numpy as np
import pytest

from vl_tracking_ros import cli
from vl_tracking_ros.data.bag import read_clip
from vl_tracking_ros.data.clip_io import read_clip_folder, write_clip_folder
from vl_tracking_ros.data.datasets import read_lasot_sequence, read_mot_sequence
from vl_tracking_ros.data.scene import ClipConfig
from vl_tracking_ros.data.suites import get_suite
from vl_tracking_ros.data.world import render_clip


def test_clip_folder_round_trip(tmp_path):
    clip = render_clip(ClipConfig(width=96, height=72, num_frames=8, occlusion="full", occlusion_frames=3), 17)
    write_clip_folder(clip, tmp_path / "c")
    back = read_clip_folder(tmp_path / "c")
    assert back.command_schedule == clip.command_schedule and back.num_frames == 8
    for a, b in zip(clip.frames, back.frames):
        np.testing.assert_array_equal(a.image_rgb, b.image_rgb)
        np.testing.assert_array_equal(np.isnan(a.depth_m), np.isnan(b.depth_m))
        assert np.nanmax(np.abs(a.depth_m - b.depth_m)) <= 0.0005 + 1e-5
        assert np.abs(a.thermal_k - b.thermal_k).max() <= 0.05 + 1e-3
        np.testing.assert_array_equal(a.event_frame, b.event_frame)
    # the same folder is a valid LaSOT sequence whose boxes are the single-target GT
    seq = read_lasot_sequence(tmp_path / "c")
    for i in range(8):
        box = clip.sot_target_box(i)
        assert seq.absent[i] == (box is None)
        if box is not None:
            np.testing.assert_allclose(seq.boxes_xyxy[i], box, atol=0.01)
    assert seq.language == clip.expressions[0].text


def test_generate_cli_writes_folders_and_bags(tmp_path, capsys):
    rc = cli.main(["generate", "--suite", "switch", "--out", str(tmp_path / "out"), "--clips", "1", "--bag",
                   "--refer-kitti"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "generated suite 'switch'" in out and "1 clips" in out
    index = json.loads((tmp_path / "out" / "suite.json").read_text())
    name = index["clips"][0]["name"]
    expected = get_suite("switch").clip(0)
    assert name == expected.name and index["seed"] == 1003
    clip_dir = tmp_path / "out" / name
    meta = json.loads((clip_dir / "clip.json").read_text())
    assert [c for _, c in meta["command_schedule"]] == [c for _, c in expected.command_schedule]
    assert len(meta["frames"]) == expected.num_frames
    assert read_mot_sequence(clip_dir).gt is not None           # MOT-style gt of every object
    from_bag = read_clip(clip_dir / "bag")
    np.testing.assert_array_equal(from_bag.frames[-1].image_rgb, expected.frames[-1].image_rgb)
    assert from_bag.command_schedule == expected.command_schedule
    from vl_tracking_ros.data.datasets import list_refer_kitti
    assert list_refer_kitti(tmp_path / "out" / "refer-kitti") == [name]


def test_generate_cli_unknown_suite_lists_valid(tmp_path, capsys):
    rc = cli.main(["generate", "--suite", "nope", "--out", str(tmp_path / "x")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown suite 'nope'" in err and "sot-day" in err and "rmot" in err


def test_generate_cli_refuses_to_overwrite(tmp_path):
    args = ["generate", "--suite", "sot-day", "--out", str(tmp_path / "o"), "--clips", "1"]
    assert cli.main(args) == 0
    assert cli.main(args) == 2


def test_refer_kitti_export_matches_clip_referents(tmp_path):
    from vl_tracking_ros.data.clip_io import write_refer_kitti_clip
    from vl_tracking_ros.data.datasets import read_refer_kitti

    clip = render_clip(ClipConfig(width=96, height=72, num_frames=10, multi_target=True, num_objects=6,
                                  target_switches=1, modalities=("rgb",)), 9)
    write_refer_kitti_clip(clip, tmp_path / "rk")
    seq = read_refer_kitti(tmp_path / "rk", clip.name)
    assert len(seq) == clip.num_frames
    by_text = {e.sentence: e for e in seq.expressions}
    for expr in clip.expressions:
        rk = by_text[expr.text]
        for f in range(expr.start_frame, expr.end_frame):
            assert sorted(rk.referents(f)) == sorted(clip.target_boxes(f))
            ids, boxes, _ = seq.labels[f]
            for oid, box in clip.target_boxes(f).items():
                np.testing.assert_allclose(boxes[list(ids).index(oid)], box, atol=1e-3)
