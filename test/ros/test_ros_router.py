"""The ``default`` preset's RoutingTracker (no ROS needed): routes "track"
and "track all" queries to two trackers built lazily, keeps IDs distinct,
and falls back to the heuristic tracker (stating why) when a model cannot be
built."""
from __future__ import annotations

import numpy as np

from ros_helpers import BLUE_BOX, RED_BOX, iou, scene_rgb
from vl_tracking_ros.core.types import SensorFrame, TargetQuery
from vl_tracking_ros.trackers.registry import build_tracker
from vl_tracking_ros.trackers.router import RoutingTracker, build_with_options


def frame(i: int = 0) -> SensorFrame:
    return SensorFrame(image_rgb=scene_rgb(), stamp_ns=1_000 + i * 50_000_000, frame_index=i)


def test_default_preset_is_a_lazy_router():
    tracker = build_tracker("default", single_preset="heuristic", multi_preset="heuristic")
    assert isinstance(tracker, RoutingTracker) and tracker.built_presets() == {}
    out = tracker.step(frame())
    assert out.mode == "idle" and out.tracks == []
    tracker.set_commands([TargetQuery("the red ball")])
    assert tracker.built_presets() == {"single": "heuristic"}   # the multi model is not loaded
    out = tracker.step(frame(1))
    assert out.mode == "single" and len(out.tracks) == 1 and iou(out.tracks[0].box_xyxy, RED_BOX) > 0.7


def test_single_and_multi_queries_merge_with_distinct_ids():
    tracker = RoutingTracker(single_preset="heuristic", multi_preset="heuristic")
    tracker.set_commands([TargetQuery("the red ball"), TargetQuery("blue boxes", multi=True)])
    for i in range(3):
        out = tracker.step(frame(i))
    assert out.mode == "multi"
    ids = [t.track_id for t in out.tracks]
    assert len(ids) == len(set(ids)) == 2
    red = next(t for t in out.tracks if "the red ball" in t.command)
    blue = next(t for t in out.tracks if "blue boxes" in t.command)
    assert iou(red.box_xyxy, RED_BOX) > 0.7 and iou(blue.box_xyxy, BLUE_BOX) > 0.7
    assert all(k.startswith(("single.", "multi.")) for k in out.timings_ms)
    ids_before = set(ids)
    tracker.set_commands([TargetQuery("the red ball")])          # multi role cleared
    out = tracker.step(frame(4))
    assert out.mode == "single" and len(out.tracks) == 1 and out.tracks[0].track_id in ids_before
    tracker.clear()
    assert tracker.step(frame(5)).tracks == []


def test_unbuildable_model_falls_back_to_heuristic_and_says_so():
    tracker = RoutingTracker(single_preset="no-such-model", multi_preset="heuristic")
    tracker.set_commands([TargetQuery("the red ball")])
    assert tracker.built_presets()["single"] == "heuristic"
    assert "no-such-model" in tracker.fallbacks["single"] and "heuristic" in tracker.fallbacks["single"]
    assert "single=heuristic [fallback]" in tracker.description()
    out = tracker.step(frame())
    assert len(out.tracks) == 1 and iou(out.tracks[0].box_xyxy, RED_BOX) > 0.7


def test_options_are_filtered_to_what_a_factory_accepts():
    tracker = build_with_options("default", device="cpu", backend="torch", single_preset="heuristic",
                                 multi_preset="heuristic", not_an_option=1)
    tracker.set_commands([TargetQuery("blue boxes", multi=True)])
    out = tracker.step(frame())
    assert len(out.tracks) == 1 and np.isfinite(out.tracks[0].box_xyxy).all()
