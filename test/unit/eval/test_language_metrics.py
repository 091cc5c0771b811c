"""Switch latency, relocalization time and condition grouping on crafted sequences."""
import math

import numpy as np
import pytest

from vl_tracking_ros.eval.language_metrics import (condition_value_label, group_by_condition, latency_summary,
                                                   multi_locked, relocalization_times, sot_locked,
                                                   switch_latencies)

G = np.array([0.0, 0.0, 10.0, 10.0])
H = np.array([50.0, 50.0, 60.0, 60.0])


def test_switch_latency_crafted_sequence():
    # commands at frames 0 (target G) and 10 (target H); the tracker keeps
    # following G until frame 14, then jumps to H -> latency 4 frames
    gt = [G] * 10 + [H] * 10
    pred = [G] * 14 + [H] * 6
    locked = sot_locked(pred, gt)
    assert locked[:10].all() and not locked[10:14].any() and locked[14:].all()
    lat = switch_latencies(locked, [0, 10])
    assert lat == [0.0, 4.0]
    median, within = latency_summary(lat[1:])
    assert median == 4.0 and within == 1.0


def test_switch_never_relocked_is_inf():
    gt = [G] * 5 + [H] * 40
    pred = [G] * 45  # never switches
    lat = switch_latencies(sot_locked(pred, gt), [0, 5])
    assert lat[1] == math.inf
    median, within = latency_summary([lat[1], 3.0, 40.0])
    assert median == 40.0 and within == pytest.approx(1 / 3)
    assert latency_summary([]) == (None, None)


def test_lock_needs_iou_half():
    # IoU of G with G shifted by 4 px = 60/140 < 0.5; shifted by 3 px = 70/130 > 0.5
    assert not sot_locked([G + [4, 0, 4, 0]], [G])[0]
    assert sot_locked([G + [3, 0, 3, 0]], [G])[0]
    assert not sot_locked([None], [G])[0]


def test_relocalization_after_full_occlusion():
    # present 0-4, fully occluded 5-9, reappears at 10, tracker re-acquires at 13
    present = np.array([True] * 5 + [False] * 5 + [True] * 10)
    locked = np.array([True] * 5 + [False] * 8 + [True] * 7)
    assert relocalization_times(locked, present, [0]) == [3.0]
    # an absence at the clip start (never seen yet) and one running to the end do not count
    present2 = np.array([False] * 3 + [True] * 5 + [False] * 4)
    assert relocalization_times(np.ones(12, bool), present2, [0]) == []
    # absence crossing a command boundary does not count either
    assert relocalization_times(locked, present, [0, 7]) == []


def test_multi_locked_requires_every_referent():
    gt = [np.array([G, H]), np.array([G, H]), np.zeros((0, 4))]
    pred = [np.array([H, G]), np.array([G]), np.array([G])]
    assert multi_locked(pred, gt).tolist() == [True, False, False]


def test_group_by_condition():
    items = [{"c": {"lighting": "night", "modalities": ["thermal", "rgb"], "distractors": 2}},
             {"c": {"lighting": "day", "modalities": ["rgb"], "distractors": 2.0}}]
    groups = group_by_condition(items, lambda it: it["c"])
    assert set(groups) == {"lighting", "modalities", "distractors"}
    assert list(groups["modalities"]) == ["rgb", "rgb+thermal"]
    assert len(groups["distractors"]["2"]) == 2
    assert condition_value_label(True) == "true"


def test_breakdown_uses_categorical_keys_or_everything():
    from vl_tracking_ros.eval.language_metrics import breakdown_conditions

    cond = {"lighting": "night", "distractor_similarity": 0.4137, "modalities": ["rgb"]}
    assert breakdown_conditions(cond) == {"lighting": "night", "modalities": ["rgb"]}
    assert breakdown_conditions({"camera_motion": "fast"}) == {"camera_motion": "fast"}
