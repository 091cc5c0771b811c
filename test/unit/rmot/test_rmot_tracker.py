"""The shipped rmot-small preset: weights verified at load, real model on a
rendered referring clip (EVAL's runner + TrackEval-style HOTA), several
expressions at once, contract behaviour and clear errors for bad weights."""
import os
import shutil

import numpy as np
import pytest
import torch

from vl_tracking_ros.core.types import SensorFrame, TargetQuery, TrackerOutput
from vl_tracking_ros.models.errors import WeightsError
from vl_tracking_ros.trackers.referring_tracker import (DEFAULT_CONFIG, DEFAULT_WEIGHTS_DIR, FrameInputError,
                                                        ReferringTracker, RmotModels, build_from_config,
                                                        load_weights, model_config_from_dict, load_yaml_config)
from vl_tracking_ros.trackers.registry import build_tracker

WEIGHTS = os.path.join(DEFAULT_WEIGHTS_DIR, "rmot-small.safetensors")
#: HOTA floor on the short CI clip ("track all crates heading right", 9 objects;
#: measured 40.0 with the shipped weights on the dev machine, see docs/rmot.md):
#: a regression guard, well below the measured value
MIN_HOTA = 20.0


@pytest.fixture(scope="module")
def tracker():
    torch.set_num_threads(1)
    return build_tracker("rmot-small", threads=1)


@pytest.fixture(scope="module")
def clip():
    from vl_tracking_ros.data.suites import get_suite

    suite = get_suite("rmot", seed=77)          # validation variant, not the eval suite's seed
    cfg = suite.config(3).with_(num_frames=30, target_switches=0, lighting="day")
    from vl_tracking_ros.data.world import render_clip

    return render_clip(cfg, suite.clip_seed(3), name="rmot-ci")


def test_registry_builds_verified_multi_target_tracker(tracker):
    assert isinstance(tracker, ReferringTracker) and tracker.multi_target
    assert tracker.name == "rmot-small"


def test_shipped_weights_score_above_floor(tracker, clip):
    from vl_tracking_ros.eval.runner import run_clip

    res = run_clip(tracker, clip)
    assert res.multi
    print("CI clip metrics", {k: res.metrics[k] for k in ("HOTA", "DetA", "AssA", "IDF1")})
    assert res.metrics["HOTA"] >= MIN_HOTA, res.metrics


def test_several_expressions_at_once_with_stable_ids(tracker, clip):
    from vl_tracking_ros.data.language import describe_multi
    from vl_tracking_ros.data.world import _language_view

    objects, boxes = _language_view(clip.gt[0], clip.config.width, clip.config.height)
    rng = np.random.default_rng(3)
    texts = []
    for oid in sorted(objects):
        t = describe_multi(oid, objects, boxes, rng)[2]
        if t not in texts:
            texts.append(t)
    texts = texts[:3]
    tracker.clear()
    tracker.set_commands([TargetQuery(t, multi=True) for t in texts] + [TargetQuery("the red car", multi=False)])
    assert [q.expression for q in tracker.active_commands] == texts      # single-target query not taken
    seen = {}
    for frame in clip.frames[:20]:
        out = tracker.step(frame)
        assert isinstance(out, TrackerOutput) and out.mode == "multi"
        ids = [t.track_id for t in out.tracks]
        assert len(ids) == len(set(ids))
        for t in out.tracks:
            assert t.command in {"track all " + x for x in texts}
            assert 0.0 <= t.expression_score <= 1.0
            seen.setdefault(t.track_id, set()).add(t.command)
    assert seen, "no track reported for any of the expressions"
    assert len(tracker.associator.confirmed_visible()) >= 3
    tracker.clear()
    assert tracker.step(clip.frames[0]).mode == "idle" and tracker.associator.tracks == []


def test_text_encoded_once_per_command(tracker, clip, monkeypatch):
    calls = []
    real = tracker.text_encoder.__class__.__call__

    def counting(self, texts):
        calls.append(list(texts))
        return real(self, texts)

    monkeypatch.setattr(tracker.text_encoder.__class__, "__call__", counting)
    tracker.set_commands([TargetQuery("red cars", multi=True)])
    for frame in clip.frames[:3]:
        tracker.step(frame)
    tracker.set_commands([TargetQuery("red cars", multi=True)])   # same command: not re-encoded
    assert calls == [["red cars"]]
    tracker.clear()


def test_bad_frame_raises(tracker):
    tracker.set_commands([TargetQuery("red cars", multi=True)])
    with pytest.raises(FrameInputError):
        tracker.step(SensorFrame(image_rgb=np.zeros((240, 320), np.uint8)))
    with pytest.raises(FrameInputError):
        tracker.step("not a frame")
    tracker.clear()


def _models():
    return RmotModels(model_config_from_dict(load_yaml_config(DEFAULT_CONFIG)["model"]))


def test_corrupt_weights_fail_hash_check(tmp_path):
    shutil.copy(os.path.join(DEFAULT_WEIGHTS_DIR, "manifest.json"), tmp_path / "manifest.json")
    data = bytearray(open(WEIGHTS, "rb").read())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "rmot-small.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        build_from_config(DEFAULT_CONFIG, weights_dir=str(tmp_path))


def test_missing_and_garbage_weights(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_weights(_models(), str(tmp_path / "nope.safetensors"), "rmot-small")
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(WeightsError, match="safetensors"):
        load_weights(_models(), str(bad), "rmot-small")


def test_weights_for_other_architecture_rejected():
    cfg = load_yaml_config(DEFAULT_CONFIG)["model"]
    cfg = dict(cfg, onetrack=dict(cfg["onetrack"], layers=cfg["onetrack"]["layers"] + 1))
    with pytest.raises(WeightsError, match="different architecture"):
        load_weights(RmotModels(model_config_from_dict(cfg)), WEIGHTS, "rmot-small")


def test_optional_thermal_tokens_keep_older_config_hashes():
    """A config without the (later, default-off) FlexHook thermal_tokens key hashes
    as before, so weights trained before the option existed still verify; turning
    it on is a different architecture."""
    cfg = load_yaml_config(DEFAULT_CONFIG)["model"]
    off = dict(cfg, flexhook={k: v for k, v in cfg["flexhook"].items() if k != "thermal_tokens"})
    off_explicit = dict(cfg, flexhook=dict(cfg["flexhook"], thermal_tokens=False))
    on = dict(cfg, flexhook=dict(cfg["flexhook"], thermal_tokens=True))
    h_off, h_off2, h_on = (model_config_from_dict(c).config_hash() for c in (off, off_explicit, on))
    assert h_off == h_off2 != h_on
    assert "thermal_tokens" not in model_config_from_dict(off).to_dict()["flexhook"]


def test_history_gap_fill_matches_training_samples(tracker):
    """A gap in a track's box history (and frames before its birth) is filled
    the way training samples fill it (rmot_train._held_boxes: the nearest
    later known box), so FlexHook sees at run time what it was trained on."""
    from types import SimpleNamespace

    from vl_tracking_ros.train.rmot_train import _held_boxes

    box = {f: np.array([0.1 * f, 0.2, 0.1 * f + 0.05, 0.3], np.float32) for f in (2, 3, 6, 8)}
    frame_ids = [0, 2, 4, 5, 6, 7, 8]
    clip = SimpleNamespace(norm_boxes=[{5: box[f]} if f in box else {} for f in range(9)])
    saved = tracker._history
    try:
        tracker._history = {5: dict(box)}
        got = tracker._held_history([5], frame_ids)
    finally:
        tracker._history = saved
    want = _held_boxes(clip, [5], 8, frame_ids)
    np.testing.assert_array_equal(got, want)
    # frame 0 (before birth) -> first box; 4, 5 (gap) -> box at 6; 7 -> box at 8
    np.testing.assert_array_equal(got[0, [0, 2, 3, 5]], np.stack([box[2], box[6], box[6], box[8]]))
    # strided window (FlexHook's T frames): only the window's frames count, as
    # in training, so frame 2 holds the box at 4, not the off-window box at 3
    strided = {f: box[f] for f in (3, 8)}
    strided[4] = box[6]
    clip = SimpleNamespace(norm_boxes=[{5: strided[f]} if f in strided else {} for f in range(9)])
    try:
        tracker._history = {5: dict(strided)}
        got = tracker._held_history([5], [0, 2, 4])
    finally:
        tracker._history = saved
    np.testing.assert_array_equal(got, _held_boxes(clip, [5], 4, [0, 2, 4]))
    np.testing.assert_array_equal(got[0, 1], strided[4])


def test_history_of_a_coasting_track_holds_its_last_box(tracker):
    """A track with no box at or after a frame (lost, coasting) holds its
    latest earlier box."""
    saved = tracker._history
    b = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
    try:
        tracker._history = {1: {3: b}}
        got = tracker._held_history([1], [3, 5, 7])
    finally:
        tracker._history = saved
    np.testing.assert_array_equal(got[0], np.stack([b, b, b]))


def test_low_score_second_pass_on_the_real_model(tracker, clip, monkeypatch):
    """``low_detection_threshold`` on the shipped weights (detection threshold
    raised to 0.7, low one 0.3, so the pass has work on this clean clip): weak
    peaks extend existing tracks (reported tracks carry a sub-threshold score
    on several frames) and the clip still scores above the floor; a threshold above the detection
    threshold is refused with the key named."""
    from vl_tracking_ros.eval.runner import run_clip
    from vl_tracking_ros.trackers.association import Associator
    from vl_tracking_ros.trackers.referring_tracker import tracker_config_from_dict

    tcfg = dict(load_yaml_config(DEFAULT_CONFIG)["tracker"])
    tcfg.pop("threads", None)
    # a strict detection threshold leaves many true peaks between it and the low one, so the pass has work
    tcfg["detection_threshold"] = thr = 0.7
    tcfg["association"] = dict(tcfg.get("association") or {}, birth_score=0.7)
    weak_frames = []
    original = Associator.update

    def counting_update(self, dets, low_dets=None):   # observes, changes nothing
        out = original(self, dets, low_dets)
        weak_frames.append(any(t.score < thr for t in out))
        return out

    monkeypatch.setattr(Associator, "update", counting_update)
    low = ReferringTracker(tracker.models, config=tracker_config_from_dict(dict(tcfg, low_detection_threshold=0.3)),
                           device="cpu", name="rmot-small-low")
    res = run_clip(low, clip)
    print("CI clip metrics, low-score pass", {k: res.metrics[k] for k in ("HOTA", "DetA", "AssA", "IDF1")},
          "frames with a weak-peak match", sum(weak_frames))
    assert sum(weak_frames) >= 5
    assert res.metrics["HOTA"] >= MIN_HOTA, res.metrics
    with pytest.raises(ValueError, match="low_detection_threshold"):
        tracker_config_from_dict(dict(tcfg, low_detection_threshold=thr + 0.1))
