"""Several FlexHook heads (``model.flexhook_members``): the ensemble averages
the heads' logits, extra heads leave OneTrack-M and the first head exactly as
with one head (initialisation and training), each extra head depends on its
own seed only, and heads added later to saved weights equal heads trained in
one run from nothing."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vl_tracking_ros.models.errors import ModelConfigError
from vl_tracking_ros.models.flexhook_ensemble import FlexHookEnsemble
from vl_tracking_ros.models.flexhook_model import FlexHook
from vl_tracking_ros.train import rmot_train
from vl_tracking_ros.trackers.referring_tracker import RmotModels, model_config_from_dict

SMALL = {"input_hw": [128, 160],
         "onetrack": {"window": 3, "dim": 48, "layers": 1, "heads": 2},
         "flexhook": {"dim": 32, "frames": 3, "time_stride": 1}}


def _cfg(members=None):
    d = dict(SMALL)
    if members is not None:
        d["flexhook_members"] = members
    return model_config_from_dict(d)


def _inputs(cfg, n_tracks=4, n_expr=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    fh = cfg.flexhook
    maps = [torch.randn(fh.frames, c, h, w, generator=g) for c, (h, w) in zip(fh.channels, ((8, 10), (16, 20)))]
    lo = torch.rand(n_tracks, fh.frames, 2, generator=g) * 0.5
    boxes = torch.cat([lo, lo + 0.2 + 0.2 * torch.rand(n_tracks, fh.frames, 2, generator=g)], -1)
    lang = torch.randn(n_expr, 5, fh.text_dim, generator=g)
    valid = torch.ones(n_expr, 5, dtype=torch.bool)
    valid[1, 3:] = False
    return maps, boxes, lang, valid


def test_ensemble_is_the_mean_of_its_heads_logits():
    cfg = _cfg()
    torch.manual_seed(0)
    heads = [FlexHook(cfg.flexhook).eval() for _ in range(3)]
    ens = FlexHookEnsemble(heads)
    maps, boxes, lang, valid = _inputs(cfg)
    with torch.no_grad():
        states = ens.encode_language(lang, valid)
        got = ens(maps, boxes, states)
        each = [h(maps, boxes, h.encode_language(lang, valid)) for h in heads]
    assert got.shape == (2, 4)
    torch.testing.assert_close(got, torch.stack(each).mean(0))
    assert not torch.allclose(each[0], each[1])           # the heads differ; the mean is not one of them
    with pytest.raises(ValueError, match="language states"):
        ens(maps, boxes, states[:2])
    other = FlexHook(model_config_from_dict(dict(SMALL, flexhook=dict(SMALL["flexhook"], dim=16))).flexhook)
    with pytest.raises(ValueError, match="FlexHookConfig"):
        FlexHookEnsemble([heads[0], other])
    with pytest.raises(ValueError, match="at least one"):
        FlexHookEnsemble([])


def test_members_config_hash_and_errors():
    assert _cfg().config_hash() == _cfg(1).config_hash()   # weights saved before the field keep their hash
    assert _cfg(3).config_hash() != _cfg(1).config_hash()
    for bad in (0, 17, "2", True, 1.5):
        with pytest.raises(ModelConfigError, match="flexhook_members"):
            _cfg(bad)


def test_extra_heads_do_not_move_the_other_parts_or_the_rng():
    torch.manual_seed(0)
    one = RmotModels(_cfg(1))
    after_one = torch.rand(3)
    torch.manual_seed(0)
    three = RmotModels(_cfg(3))
    after_three = torch.rand(3)
    assert torch.equal(after_one, after_three)
    s1, s3 = one.state_dict(), three.state_dict()
    assert all(torch.equal(v, s3[k]) for k, v in s1.items())
    assert sum(k.startswith("flexhook_extra.1.") for k in s3) == sum(k.startswith("flexhook.") for k in s1)
    assert len(three.flexhook_heads()) == 3 and isinstance(three.referrer(), FlexHookEnsemble)
    assert one.referrer() is one.flexhook


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("rmot_ens") / "cache.pt"
    cfg = {"clips": 2, "seed_base": 99_300_000, "num_frames": 8, "extra_expressions": 2, "foreign_expressions": 1,
           "cache": str(path)}
    clips, bank = rmot_train.prepare_data(cfg, _cfg(), progress=False)
    return cfg, clips, bank


def test_extra_head_depends_on_its_seed_only(tiny_cache):
    _, clips, bank = tiny_cache
    fh_cfg = {"steps": 3, "batch": 2, "lr": 1e-3}
    states = []
    for global_seed in (0, 123):
        torch.manual_seed(global_seed)
        head = FlexHook(_cfg().flexhook)
        log = []
        rmot_train.train_flexhook_head(head, clips, bank, fh_cfg, 2001, log, progress=False)
        after = torch.rand(2)
        torch.manual_seed(global_seed)
        FlexHook(_cfg().flexhook)
        assert torch.equal(after, torch.rand(2))            # the global RNG is left where it was
        assert len(log) == 3 and all(r["head_seed"] == 2001 for r in log)
        states.append(head.state_dict())
    assert all(torch.equal(v, states[1][k]) for k, v in states[0].items())
    assert rmot_train.extra_head_seed(1, 2) == 2002
    with pytest.raises(ValueError):
        rmot_train.extra_head_seed(1, 0)


def _run(tiny_cache, tmp_path, name, members, **train):
    cfg, _, _ = tiny_cache
    model = dict(SMALL, flexhook_members=members)
    tcfg = dict(cfg, seed=3, out=str(tmp_path / f"{name}.safetensors"), threads=1,
                onetrack={"schedule": "joint", "steps": {"joint": 2}, "batch": 1, "head_frames": 1},
                flexhook={"steps": 3, "batch": 2, "lr": 1e-3})
    tcfg.update(train)
    summary = rmot_train.run({"kind": "rmot", "preset": "rmot-ens-test", "model": model, "train": tcfg},
                             progress=False)
    return load_file(summary["weights"]), summary


def test_heads_added_to_saved_weights_equal_heads_trained_from_nothing(tiny_cache, tmp_path):
    one, _ = _run(tiny_cache, tmp_path, "one", 1)
    assert not any(k.startswith("flexhook_extra.") for k in one)
    full, _ = _run(tiny_cache, tmp_path, "full", 3)
    # OneTrack-M and the first head are those of the one-head run
    assert all(torch.equal(v, full[k]) for k, v in one.items())
    resumed, _ = _run(tiny_cache, tmp_path, "resumed", 3, resume_from=str(tmp_path / "one.safetensors"))
    assert set(resumed) == set(full)
    assert all(torch.equal(v, resumed[k]) for k, v in full.items())
    e0, e1 = ({k.split(".", 2)[2]: v for k, v in full.items() if k.startswith(f"flexhook_extra.{i}.")} for i in (0, 1))
    assert e0.keys() == e1.keys() and any(not torch.equal(v, e1[k]) for k, v in e0.items())   # own seeds


def test_tracker_runs_an_ensemble(tiny_cache, tmp_path):
    from vl_tracking_ros.core.types import TargetQuery
    from vl_tracking_ros.data.world import render_clip
    from vl_tracking_ros.train.rmot_data import training_clip_configs
    from vl_tracking_ros.trackers.referring_tracker import (ReferringTracker, load_weights,
                                                            tracker_config_from_dict)

    _, summary = _run(tiny_cache, tmp_path, "ens", 2)
    models = RmotModels(_cfg(2))
    load_weights(models, summary["weights"], "rmot-ens-test")
    tcfg = tracker_config_from_dict({"detection_threshold": 0.01, "score_on": 0.0, "score_off": 0.0,
                                     "association": {"birth_score": 0.01}})
    tracker = ReferringTracker(models, config=tcfg, device="cpu", name="rmot-ens-test")
    assert isinstance(tracker._referrer, FlexHookEnsemble)
    cfg, seed = training_clip_configs(1, 99_100_000, num_frames=6)[0]
    clip = render_clip(cfg.with_(width=160, height=128, num_objects=4), seed)
    tracker.set_commands([TargetQuery("cars moving left", multi=True)])
    assert isinstance(tracker._lang, list) and len(tracker._lang) == 2
    scores = [t.expression_score for f in clip.frames for t in tracker.step(f).tracks]
    assert scores and all(0.0 <= s <= 1.0 for s in scores)
    assert np.isfinite(scores).all()


ROUNDS = [{"steps": 2, "seed": 12, "lr": 5e-4}, {"steps": 2, "seed": 13, "lr": 2.5e-4}]


def test_onetrack_rounds_give_the_same_weights_at_the_end_of_a_run_or_on_saved_weights(tiny_cache, tmp_path):
    """``finetune.onetrack_rounds`` change OneTrack-M only (the heads are those
    of the run without rounds), and rounds applied to saved weights
    (``resume_from`` with ``onetrack_steps: 0``) give the same tensors as the
    rounds at the end of one run from nothing."""
    base, _ = _run(tiny_cache, tmp_path, "base", 2)
    full, _ = _run(tiny_cache, tmp_path, "rounds", 2, finetune={"onetrack_rounds": ROUNDS})
    assert set(full) == set(base)
    assert all(torch.equal(v, full[k]) for k, v in base.items() if not k.startswith("onetrack."))
    assert any(not torch.equal(v, full[k]) for k, v in base.items() if k.startswith("onetrack."))
    resumed, _ = _run(tiny_cache, tmp_path, "resumed_rounds", 2, resume_from=str(tmp_path / "base.safetensors"),
                      finetune={"onetrack_steps": 0, "onetrack_rounds": ROUNDS})
    assert all(torch.equal(v, resumed[k]) for k, v in full.items())
    one_round, _ = _run(tiny_cache, tmp_path, "one_round", 2, resume_from=str(tmp_path / "base.safetensors"),
                        finetune={"onetrack_steps": 0, "onetrack_rounds": ROUNDS[:1]})
    assert any(not torch.equal(v, one_round[k]) for k, v in full.items() if k.startswith("onetrack."))
    # how the shipped r10 file was made: one resumed run per round, its seed as train.seed and its
    # steps / lr as the fine-tuning stage's
    prev = tmp_path / "base.safetensors"
    for i, r in enumerate(ROUNDS):
        chained, _ = _run(tiny_cache, tmp_path, f"chained{i}", 2, resume_from=str(prev), seed=r["seed"],
                          finetune={"onetrack_steps": r["steps"], "lr": r["lr"]})
        prev = tmp_path / f"chained{i}.safetensors"
    assert all(torch.equal(v, chained[k]) for k, v in full.items())


@pytest.mark.parametrize("rounds, match", [
    ({"steps": 2}, "must be a list"),
    ([{"steps": 2, "seed": 1}], "lacks"),
    ([{"steps": 0, "seed": 1, "lr": 1e-3}], "positive integer"),
    ([{"steps": 2, "seed": "a", "lr": 1e-3}], "seed must be an integer"),
    ([{"steps": 2, "seed": 1, "lr": -1}], "lr must be a positive"),
    ([{"steps": 2, "seed": 1, "lr": 1e-3, "batch": 3}], "unknown|not allowed|batch"),
])
def test_onetrack_rounds_config_errors(rounds, match):
    with pytest.raises(rmot_train.TrainConfigError, match=match):
        rmot_train.check_rounds(rounds)
