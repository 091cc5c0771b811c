"""A short real training run (rendered clips, real frozen backbone and text
encoder) lowers the OneTrack-M and FlexHook losses; config errors are clear."""
import numpy as np
import pytest
import torch

from vl_tracking_ros.models.onetrack_backbone import MultiScaleBackbone
from vl_tracking_ros.models.text_encoder import build_text_encoder
from vl_tracking_ros.train import rmot_train
from vl_tracking_ros.train.rmot_data import TextBank, build_cache, training_clip_configs
from vl_tracking_ros.trackers.referring_tracker import RmotModels, model_config_from_dict

SMALL = {"input_hw": [128, 160],
         "onetrack": {"window": 3, "dim": 48, "layers": 1, "heads": 2},
         "flexhook": {"dim": 32, "frames": 3, "time_stride": 1}}


def _small_clip_configs():
    """Two short, small training clips (the ``data`` fixture's)."""
    return [(c.with_(width=160, height=128, num_objects=5, occlusion="none"), s)
            for c, s in training_clip_configs(2, 99_000_000, num_frames=10)]


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    mc = model_config_from_dict(SMALL)
    confs = _small_clip_configs()
    clips = build_cache(confs, mc.input_hw, MultiScaleBackbone(), extra_expressions=3, foreign_expressions=1,
                        progress=False)
    bank = TextBank(build_text_encoder("minilm", 16), [t for c in clips for t, _ in c.expressions])
    return mc, clips, bank


def _mean(log, model, key, sl):
    vals = [r[key] for r in log if r["model"] == model]
    return float(np.mean(vals[sl]))


def test_short_training_lowers_losses(data):
    mc, clips, bank = data
    assert all(c.f8.shape[1:] == (40, 16, 20) and c.f16.shape[1:] == (112, 8, 10) for c in clips)
    assert all(c.expressions for c in clips)
    torch.manual_seed(0)
    models = RmotModels(mc)
    rng = np.random.default_rng(0)
    log = []
    rmot_train.train_onetrack(models.onetrack, clips, {"schedule": "joint", "steps": {"joint": 40}, "batch": 2,
                                                       "lr": 2e-3}, rng, log, progress=False)
    assert _mean(log, "onetrack", "heatmap", slice(-8, None)) < 0.8 * _mean(log, "onetrack", "heatmap", slice(0, 8))
    rmot_train.train_flexhook(models.flexhook, clips, bank, {"steps": 30, "batch": 4, "lr": 2e-3}, rng, log,
                              progress=False)
    assert _mean(log, "flexhook", "focal", slice(-8, None)) < _mean(log, "flexhook", "focal", slice(0, 8))


def test_part_based_schedule_freezes_other_heads(data):
    mc, clips, _ = data
    models = RmotModels(mc)
    before = {k: v.clone() for k, v in models.onetrack.state_dict().items()}
    log = []
    rmot_train.train_onetrack(models.onetrack, clips, {"schedule": "tmp", "batch": 1, "head_frames": 1,
                                                       "steps": {"heatmap": 0, "dims": 2, "disp": 0, "joint": 0}},
                              np.random.default_rng(0), log, progress=False)
    after = models.onetrack.state_dict()
    changed = {k.split(".")[1] for k in after if k.startswith("heads.") and not torch.equal(after[k], before[k])}
    assert changed == {"dims"}
    assert [r["phase"] for r in log] == ["dims", "dims"]


@pytest.mark.parametrize("cfg, match", [
    ({"kind": "sot"}, "kind: rmot"),
    ({"kind": "rmot", "train": {"clipz": 3}}, "unknown keys"),
    ({"kind": "rmot", "model": {"onetrack": {"depth": 3}}}, "model.onetrack"),
    ({"kind": "rmot", "train": {"onetrack": {"schedule": "random"}}}, "tmp"),
])
def test_config_errors(cfg, match, tmp_path, monkeypatch):
    # every one of these must be rejected before any training data is touched
    monkeypatch.setattr(rmot_train, "prepare_data", lambda *a, **k: ([], None))
    with pytest.raises(ValueError, match=match):
        rmot_train.run(dict(cfg, **({"train": dict(cfg.get("train", {}), out=str(tmp_path / "w.safetensors"))}
                                    if cfg.get("kind") == "rmot" else {})), progress=False)


def test_motion_history_head_trains_and_runs_in_the_tracker(data):
    """FlexHook with the long-history motion token: a short training run lowers
    its loss, and the ReferringTracker feeds it each track's last H boxes."""
    from vl_tracking_ros.core.types import TargetQuery
    from vl_tracking_ros.data.world import render_clip
    from vl_tracking_ros.trackers.referring_tracker import ReferringTracker

    _, clips, bank = data
    mc = model_config_from_dict(dict(SMALL, flexhook=dict(SMALL["flexhook"], motion_history=6)))
    torch.manual_seed(0)
    models = RmotModels(mc)
    log = []
    rmot_train.train_flexhook(models.flexhook, clips, bank, {"steps": 30, "batch": 4, "lr": 2e-3},
                              np.random.default_rng(0), log, progress=False)
    assert _mean(log, "flexhook", "focal", slice(-8, None)) < _mean(log, "flexhook", "focal", slice(0, 8))
    from vl_tracking_ros.trackers.referring_tracker import tracker_config_from_dict

    # OneTrack-M is untrained here: a near-zero threshold makes its heatmap peaks tracks
    tcfg = tracker_config_from_dict({"detection_threshold": 0.01, "score_on": 0.0, "score_off": 0.0,
                                     "association": {"birth_score": 0.01}})
    tracker = ReferringTracker(models, config=tcfg, device="cpu", name="rmot-test")
    assert tracker._box_memory == 6
    cfg, seed = training_clip_configs(1, 99_100_000, num_frames=10)[0]
    clip = render_clip(cfg.with_(width=160, height=128, num_objects=4), seed)
    tracker.set_commands([TargetQuery("cars moving left", multi=True)])
    seen = []
    for f in clip.frames:
        out = tracker.step(f)
        assert out.mode == "multi"
        seen.append(max((len(h) for h in tracker._history.values()), default=0))
    assert max(seen) <= 6 and max(seen) >= 2


def test_min_visibility_selects_detection_targets():
    """Lowering ``min_visibility`` only adds targets (partly hidden objects);
    every target is in ``norm_boxes``; an out-of-range value is refused."""
    torch.set_num_threads(1)
    mc = model_config_from_dict(SMALL)
    confs = [(c.with_(width=160, height=128, num_objects=6, occlusion="partial"), s)
             for c, s in training_clip_configs(1, 99_100_000, num_frames=6)]
    backbone = MultiScaleBackbone()
    loose = build_cache(confs, mc.input_hw, backbone, extra_expressions=1, foreign_expressions=0,
                        progress=False, min_visibility=0.0)[0]
    strict = build_cache(confs, mc.input_hw, backbone, extra_expressions=1, foreign_expressions=0,
                         progress=False, min_visibility=0.99)[0]
    for lb, sb, nb in zip(loose.boxes, strict.boxes, loose.norm_boxes):
        assert set(sb) <= set(lb) <= set(nb)
    assert sum(map(len, loose.boxes)) > sum(map(len, strict.boxes))
    with pytest.raises(ValueError, match="min_visibility"):
        build_cache(confs, mc.input_hw, backbone, progress=False, min_visibility=1.5)


def test_cache_build_and_cache_load_leave_the_same_rng(tmp_path):
    """A run from nothing and a run on an existing cache start training from
    the same RNG state: building the cache must not move torch's RNG (it
    constructs a backbone)."""
    mc = model_config_from_dict(SMALL)
    cfg = {"clips": 1, "seed_base": 99_200_000, "num_frames": 6, "extra_expressions": 2, "foreign_expressions": 1,
           "cache": str(tmp_path / "cache.pt")}
    torch.manual_seed(0)
    built, _ = rmot_train.prepare_data(cfg, mc, progress=False)
    after_build = torch.rand(4)
    assert (tmp_path / "cache.pt").is_file()
    torch.manual_seed(0)
    loaded, _ = rmot_train.prepare_data(cfg, mc, progress=False)
    after_load = torch.rand(4)
    assert torch.equal(after_build, after_load)
    assert len(built) == len(loaded) == 1 and torch.equal(built[0].f16, loaded[0].f16)


def test_cache_is_the_same_for_any_number_of_workers(data):
    """Two spawned workers render + encode the clips; the expressions are
    drawn here in clip order, so the cache equals the one-process cache."""
    mc, clips, _ = data
    confs = _small_clip_configs()
    two = build_cache(confs, mc.input_hw, MultiScaleBackbone(), extra_expressions=3, foreign_expressions=1,
                      progress=False, workers=2)
    assert [c.name for c in two] == [c.name for c in clips]
    for a, b in zip(clips, two):
        assert torch.equal(a.f8, b.f8) and torch.equal(a.f16, b.f16) and torch.equal(a.th8, b.th8)
        assert a.expressions == b.expressions and len(a.expressions) >= 2
        assert [sorted(f) for f in a.boxes] == [sorted(f) for f in b.boxes]
        assert all(np.array_equal(x[k], y[k]) for x, y in zip(a.boxes, b.boxes) for k in x)
    with pytest.raises(ValueError, match="workers"):
        build_cache(confs, mc.input_hw, MultiScaleBackbone(), progress=False, workers=0)
