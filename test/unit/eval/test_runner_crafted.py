"""Runner + oracle + MIL on crafted clips (exact expectations), mismatch refusal."""
import numpy as np
import pytest

from vl_tracking_ros.core.types import TrackerOutput
from vl_tracking_ros.eval.runner import run_clip, score_outputs, evaluate_clips
from vl_tracking_ros.eval.sot_metrics import FrameCountMismatchError
from vl_tracking_ros.trackers.registry import build_tracker

from crafted_eval_clip import crafted_clip


def test_oracle_perfect_on_single_with_switch_and_occlusion():
    clip = crafted_clip(num_frames=40, switch_at=25, occlude=(8, 14))
    res = run_clip(build_tracker("oracle"), clip)
    assert res.metrics["AUC"] == pytest.approx(1.0) and res.metrics["PRE"] == 1.0 and res.metrics["NPRE"] == 1.0
    assert res.command_frames == [0, 25]
    assert res.metrics["switch_latencies"] == [0.0]
    assert res.metrics["reloc_times"] == [0.0]
    assert res.metrics["present_frames"] == 40 - 6


def test_oracle_hota_100_on_multi():
    res = run_clip(build_tracker("oracle"), crafted_clip(num_frames=20, multi=True))
    assert res.metrics["HOTA"] == pytest.approx(100.0)
    assert res.metrics["IDF1"] == pytest.approx(100.0) and res.metrics["IDsw"] == 0


def test_idle_tracker_scores_zero_and_never_switches():
    clip = crafted_clip(num_frames=30, switch_at=10)
    res = score_outputs(clip, [TrackerOutput() for _ in range(30)])
    assert res.metrics["AUC"] == 0.0 and res.metrics["PRE"] == 0.0
    assert res.metrics["switch_latencies"] == [float("inf")]


def test_mil_follows_the_given_box_and_reinitialises_after_switch():
    clip = crafted_clip(num_frames=30, switch_at=15)
    res = run_clip(build_tracker("mil"), clip)
    # a high-contrast square on noise: MIL follows it closely, and the GT box
    # handed over at the switch makes the "latency" 0 frames
    assert res.metrics["AUC"] > 0.4 and res.metrics["PRE"] > 0.9, res.metrics
    assert res.metrics["switch_latencies"] == [0.0]


def test_mismatched_frame_count_refused():
    clip = crafted_clip(num_frames=10)
    with pytest.raises(FrameCountMismatchError, match="9 tracker outputs but 10 ground-truth"):
        score_outputs(clip, [TrackerOutput() for _ in range(9)])
    clip.frames.pop()
    with pytest.raises(FrameCountMismatchError, match="refusing"):
        run_clip(build_tracker("oracle"), clip)


def test_suite_summary_by_condition_and_worst():
    clips = [crafted_clip(20, seed=s) for s in range(2)] + [crafted_clip(20, multi=True)]
    result = evaluate_clips(build_tracker("oracle"), clips, suite="crafted", tracker_name="oracle",
                            keep_worst=1, show_progress=False)
    s = result.summary()
    assert s["AUC"] == pytest.approx(1.0) and s["HOTA"] == pytest.approx(100.0)
    assert s["by_condition"]["lighting"]["day"]["clips"] == 3
    assert len(result.worst) == 1 and len(result.worst[0][2]) == 20
