"""SOT training: losses behave, the WORLD data pipeline caches real clips,
and a few optimiser steps reduce the loss (both stages)."""
import dataclasses

import numpy as np
import pytest
import torch

from vl_tracking_ros.models.config import ModelConfig
from vl_tracking_ros.models.network import LanguageTrackingNetwork
from vl_tracking_ros.models.text_encoder import TextEncoder
from vl_tracking_ros.train.config import PresetConfig, TrainConfig, load_preset_config
from vl_tracking_ros.models.gating import GateConfig
from vl_tracking_ros.models.errors import ModelConfigError
from vl_tracking_ros.train.data import build_cache
from vl_tracking_ros.train.losses import (contrastive_loss, correlation_margin_loss, focal_heatmap_loss,
                                          gaussian_heatmap, giou, tracking_loss)
from vl_tracking_ros.train.trainer import _set_stage_trainable, compute_losses, make_batch, train_stage


def test_giou_and_heatmap_targets():
    a = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    b = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    g = giou(a, b)
    assert g[0] == pytest.approx(1.0) and g[1] < 0
    hm = gaussian_heatmap(torch.tensor([[40.0, 40, 72, 72]]), torch.tensor([True]), (6, 6), 16)
    assert hm.shape == (1, 1, 6, 6) and hm[0, 0, 3, 3] == pytest.approx(1.0) and hm.max() == 1.0
    assert focal_heatmap_loss(torch.where(hm > 0.99, 8.0, -8.0), hm) < focal_heatmap_loss(torch.zeros_like(hm), hm)


def test_correlation_margin_loss_prefers_separated_target():
    box = torch.tensor([[16.0, 16, 48, 48]])
    vis = torch.tensor([True])
    good = torch.full((1, 4, 4), -0.5); good[0, 1:3, 1:3] = 0.8
    bad = torch.full((1, 4, 4), 0.5); bad[0, 1:3, 1:3] = 0.1
    assert correlation_margin_loss(good, box, vis, 16) < 0.01
    assert correlation_margin_loss(bad, box, vis, 16) > 1.0


def test_contrastive_loss_rewards_matching_pairs():
    torch.manual_seed(0)
    t = torch.randn(4, 8)
    vis_tokens = t[:, None, :].expand(4, 16, 8).clone()
    boxes = torch.tensor([[0.0, 0, 64, 64]]).expand(4, 4)
    vis, ids = torch.ones(4, dtype=torch.bool), torch.arange(4)
    aligned = contrastive_loss(vis_tokens, t, boxes, vis, ids, (4, 4), 16)
    shuffled = contrastive_loss(vis_tokens, t[[1, 2, 3, 0]], boxes, vis, ids, (4, 4), 16)
    assert aligned < shuffled


def test_preset_yaml_is_valid_and_strict(tmp_path):
    cfg = load_preset_config("config/models/mvlm-small.yaml")
    assert cfg.preset == "mvlm-small" and cfg.model.x_modalities == ["depth", "thermal", "event"]
    assert len(cfg.recipe_hash) == 16
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: x\ntrain:\n  stage1_step: 3\n")
    with pytest.raises(ModelConfigError, match="stage1_step"):
        load_preset_config(str(bad))


def test_cache_from_world_clips(tiny_setup):
    cfg, net, cache = tiny_setup
    assert cache.num_samples >= 4
    assert cache.g_feats.shape[1:] == (112, 6, 8) and cache.l_feats.shape[1:] == (112, 4, 4)
    assert cache.g_x.shape[1:] == (4, 24, 32) and cache.l_x.shape[1:] == (4, 16, 16)
    assert cache.t_tokens.shape[0] == len(cache.texts) and cache.s_text.max() < len(cache.texts)
    assert cache.s_gvis.any()  # real targets inside the crops
    vis = cache.s_gbox[cache.s_gvis]
    assert (vis[:, 2] > vis[:, 0]).all()


def test_cache_is_the_same_for_any_number_of_workers(tiny_setup, tiny_bert_dir):
    """Clips cached in 2 spawned worker processes (chunks of CHUNK_CLIPS,
    per-clip rngs) give exactly the cache of one process, in clip order."""
    from vl_tracking_ros.train import data as train_data

    cfg, net, _ = tiny_setup
    text = TextEncoder(tiny_bert_dir, max_tokens=8)
    n = train_data.CHUNK_CLIPS + 2  # two chunks, the second one short
    one = build_cache(cfg, net.image_encoder, text, progress=False, num_clips=n, workers=1)
    two = build_cache(cfg, net.image_encoder, text, progress=False, num_clips=n, workers=2)
    for name in one.__dataclass_fields__:
        a, b = getattr(one, name), getattr(two, name)
        if torch.is_tensor(a):
            assert torch.equal(a, b), name
        else:
            assert a == b, name
    # both chunks contribute frames, and the held-out clips are the last ones
    assert one.s_frame.max() > one.s_frame[0] and one.frame_val[-1] and not one.frame_val[0]
    with pytest.raises(ValueError, match="workers"):
        build_cache(cfg, net.image_encoder, text, progress=False, num_clips=1, workers=0)


@pytest.mark.parametrize("stage", [1, 2])
def test_few_steps_reduce_the_loss(tiny_setup, stage):
    cfg, _, cache = tiny_setup
    torch.manual_seed(0)
    net = LanguageTrackingNetwork(cfg.model, text_dim=16, pretrained=False)
    params = _set_stage_trainable(net, stage)
    opt = torch.optim.Adam(params, lr=3e-3)
    rng = np.random.default_rng(0)
    idx = np.arange(min(8, cache.num_samples))
    batch = make_batch(cache, idx, idx % 2 == 1, rng, stage == 2, net.x_modalities)
    net.train()
    losses = []
    for _ in range(12):
        parts = compute_losses(net, batch, cfg, stage)
        opt.zero_grad(); parts["loss"].backward(); opt.step()
        losses.append((float(parts["loss"].detach()), float(parts.get("moe_cls", torch.zeros(())).detach())))
    if stage == 1:
        assert losses[-1][0] < 0.8 * losses[0][0], losses
    else:  # MeME starts as identity (zero W8): the routing loss drops first
        assert losses[-1][0] < losses[0][0] and losses[-1][1] < 0.9 * losses[0][1], losses
        base = [p for p in net.base_parameters_all() if p.grad is not None]
        assert not base  # the RGB base stays frozen while MeME trains


def _kill_at_step_3_then_resume(net, cache, cfg, ckpt_dir, monkeypatch):
    """Run 4 steps of stage 1, killed during step 3 (checkpoint every 2),
    then resume to the end; returns (checkpoint at the kill, train_stage output)."""
    import vl_tracking_ros.train.trainer as trainer

    real, calls = trainer.compute_losses, []

    def interrupted(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(trainer, "compute_losses", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_stage(net, cache, cfg, 1, 4, str(ckpt_dir), progress=False)
    killed = torch.load(ckpt_dir / "stage1.pt", weights_only=False)
    monkeypatch.setattr(trainer, "compute_losses", real)
    return killed, train_stage(net, cache, cfg, 1, 4, str(ckpt_dir), progress=False)


def test_train_stage_checkpoints_and_resumes(tiny_setup, tmp_path, monkeypatch):
    cfg, net, cache = tiny_setup
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, ckpt_every=2))
    killed, out = _kill_at_step_3_then_resume(net, cache, cfg, tmp_path, monkeypatch)
    assert killed["step"] == 2
    assert torch.load(tmp_path / "stage1.pt", weights_only=False)["step"] == 4  # resumed at step 2
    assert np.isfinite(out["loss"])


def test_motion_and_position_cache_and_training(tiny_bert_dir):
    """With model.motion_input / abs_position the cache holds same-region gray
    pairs and region extents, batches feed them, and a few steps lower the loss."""
    text = TextEncoder(tiny_bert_dir, max_tokens=8)
    model = ModelConfig(d_model=32, num_heads=2, num_layers=1, ffn_dim=64, global_size_hw=[96, 128], local_size=64,
                        max_text_tokens=8, meme_rank=8, contrastive_dim=16, head_hidden=16, x_through_base=False,
                        motion_input=True, abs_position=True)
    train = TrainConfig(num_clips=1, frames_per_clip=8, frame_stride=2, extra_expressions=1, batch_size=8,
                        lr=3e-3, val_frac=0.01, ckpt_every=1000, num_threads=1)
    cfg = PresetConfig("tiny", model, GateConfig(), train)
    torch.manual_seed(0)
    net = LanguageTrackingNetwork(model, text_dim=text.dim, pretrained=False)
    cache = build_cache(cfg, net.image_encoder, text, progress=False)
    nf, ns = cache.g_feats.shape[0], cache.num_samples
    assert cache.g_gray.shape == (nf, 2, 48, 64) and cache.g_gray.dtype == torch.uint8
    assert cache.l_gray.shape == (ns, 2, 32, 32) and cache.l_region.shape == (ns, 4)
    assert torch.allclose(cache.g_region, torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(nf, 4))
    assert cache.g_gray_valid.any() and not cache.g_gray_valid.all()  # the first frames have no previous one
    idx = np.arange(min(8, ns))
    batch = make_batch(cache, idx, idx % 2 == 1, np.random.default_rng(0), False, net.x_modalities, True, True)
    for sub in batch.values():
        assert sub["motion_images"].shape[1] == 3 and sub["region_box"].shape[1] == 4
    params = _set_stage_trainable(net, 1)
    opt = torch.optim.Adam(params, lr=3e-3)
    net.train()
    losses = []
    for _ in range(12):
        parts = compute_losses(net, batch, cfg, 1)
        opt.zero_grad(); parts["loss"].backward(); opt.step()
        losses.append(float(parts["loss"].detach()))
    assert losses[-1] < 0.8 * losses[0], losses
    assert net.motion_embed.net[0].weight.grad is not None
    with pytest.raises(ValueError, match="motion crops"):
        make_batch(dataclasses.replace(cache, g_gray=None), idx, idx % 2 == 1, np.random.default_rng(0), False,
                   net.x_modalities, True, False)


def test_weight_ema_averages_and_restores():
    from vl_tracking_ros.train.ema import WeightEMA

    p = torch.nn.Parameter(torch.zeros(3))
    ema = WeightEMA([("w", p)], decay=0.5)
    expect = torch.zeros(3)
    for n, v in enumerate([1.0, 2.0, 4.0]):
        p.data.fill_(v)
        ema.update()
        d = min(0.5, (1.0 + n) / (10.0 + n))  # warm-up: 0.1, 0.18..., then capped at 0.5
        expect = d * expect + (1 - d) * v
    assert torch.allclose(ema.shadow["w"], expect)
    state = ema.state_dict()
    other = WeightEMA([("w", torch.nn.Parameter(torch.zeros(3)))], decay=0.5)
    other.load_state_dict(state)
    assert other.updates == 3 and torch.allclose(other.shadow["w"], expect)
    ema.copy_to_params()
    assert torch.allclose(p.data, expect)
    with pytest.raises(ValueError, match="decay"):
        WeightEMA([("w", p)], decay=1.0)
    with pytest.raises(ValueError, match="other parameters"):
        WeightEMA([("v", p)], decay=0.5).load_state_dict(state)


def test_train_stage_with_ema_ships_the_average_and_resumes(tiny_setup, tmp_path, monkeypatch):
    cfg, _, cache = tiny_setup
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, ckpt_every=2, ema_decay=0.9))
    torch.manual_seed(0)
    net = LanguageTrackingNetwork(cfg.model, text_dim=16, pretrained=False)
    killed, _ = _kill_at_step_3_then_resume(net, cache, cfg, tmp_path, monkeypatch)
    assert killed["ema"]["updates"] == 2
    ck = torch.load(tmp_path / "stage1.pt", weights_only=False)  # the average resumed at step 2
    assert ck["step"] == 4 and ck["ema"]["updates"] == 4
    trained = dict(net.named_parameters())
    for k, v in ck["ema"]["shadow"].items():  # the net now holds the average, not the last step
        assert torch.equal(trained[k].detach(), v)
    assert any(not torch.equal(ck["model"][k], v) for k, v in ck["ema"]["shadow"].items())


def test_ema_decay_in_the_recipe(tmp_path):
    base = load_preset_config("config/models/mvlm-small.yaml")
    text = open("config/models/mvlm-small.yaml").read()
    zero = tmp_path / "zero.yaml"
    zero.write_text(text.replace("  seed: 0\n", "  seed: 0\n  ema_decay: 0.0\n", 1))
    assert load_preset_config(str(zero)).recipe_hash == base.recipe_hash  # off hashes as before
    on = tmp_path / "on.yaml"
    on.write_text(text.replace("  seed: 0\n", "  seed: 0\n  ema_decay: 0.999\n", 1))
    assert load_preset_config(str(on)).recipe_hash != base.recipe_hash
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  seed: 0\n", "  seed: 0\n  ema_decay: 1.5\n", 1))
    with pytest.raises(ModelConfigError, match="ema_decay"):
        load_preset_config(str(bad))
