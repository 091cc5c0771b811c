"""FlexHook parts: grid sampling, reference points, PCD masking, shapes/gradients."""
import numpy as np
import pytest
import torch

from vl_tracking_ros.models.flexhook_chook import (neighbour_grid, reference_barrier_loss, sample_points,
                                                   grid_unit_points, expand_boxes)
from vl_tracking_ros.models.flexhook_losses import pair_focal_loss
from vl_tracking_ros.models.flexhook_model import FlexHook, FlexHookConfig, FlexHookInputError
from vl_tracking_ros.models.flexhook_pcd import build_pcd_mask
from vl_tracking_ros.train.rmot_noise import NoiseConfig, gaussian_box_noise, intra_batch_id_swap, perturb, segment_masking


def test_grid_sample_matches_hand_computed_bilinear():
    fmap = torch.arange(12, dtype=torch.float32).reshape(1, 1, 3, 4)   # value = 4*row + col
    # point at pixel coordinates (x=1.25, y=0.75) in "centre = i + 0.5" convention:
    # between columns 0.75 -> cols 0/1 (w 0.25/0.75), rows 0.25 -> rows 0/1 (w 0.75/0.25)
    x_px, y_px = 1.25, 0.75
    pts = torch.tensor([[[x_px / 4.0, y_px / 3.0]]])
    got = sample_points(fmap, pts)[0, 0, 0].item()
    v00, v01, v10, v11 = 0.0, 1.0, 4.0, 5.0
    expected = 0.75 * (0.25 * v00 + 0.75 * v01) + 0.25 * (0.25 * v10 + 0.75 * v11)
    assert got == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1.75)


def test_neighbour_grid_covers_enlarged_box():
    box = torch.tensor([[0.2, 0.4, 0.4, 0.8]])
    pts = neighbour_grid(box, 4, margin=0.25)
    eb = expand_boxes(box, 0.25)[0]
    assert pts.shape == (1, 16, 2)
    assert torch.allclose(eb, torch.tensor([0.15, 0.3, 0.45, 0.9]))
    assert pts[0, :, 0].min() > eb[0] and pts[0, :, 0].max() < eb[2]
    assert torch.allclose(pts[0, 0], torch.tensor([0.15 + 0.3 / 8, 0.3 + 0.6 / 8]))
    assert torch.allclose(grid_unit_points(2), torch.tensor([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]))


def test_barrier_loss_penalises_border_points():
    inside = torch.full((1, 10, 2), 0.5)
    border = torch.zeros((1, 10, 2))
    assert reference_barrier_loss(inside) < 1e-4
    assert reference_barrier_loss(border) > 0.04
    p = torch.full((1, 1, 2), 0.01, requires_grad=True)
    reference_barrier_loss(p).backward()
    assert (p.grad < 0).all()           # gradient pushes the point inwards


def _model(**kw):
    torch.manual_seed(0)
    cfg = FlexHookConfig(channels=(16, 8), dim=32, frames=3, **kw)
    return FlexHook(cfg).eval(), cfg


def _inputs(n=3, e=3, l=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    maps = [torch.randn(3, 16, 6, 8, generator=g), torch.randn(3, 8, 12, 16, generator=g)]
    c = torch.rand(n, 1, 2, generator=g) * 0.6 + 0.2
    c = c + torch.arange(3).view(1, 3, 1) * 0.01
    boxes = torch.cat([c - 0.1, c + 0.1], -1)
    lang = torch.randn(e, l, 384, generator=g)
    valid = torch.ones(e, l, dtype=torch.bool)
    valid[1, 4:] = False
    return maps, boxes, lang, valid


def test_shapes_and_gradients():
    m, _ = _model()
    m.train()
    maps, boxes, lang, valid = _inputs()
    state = m.encode_language(lang, valid)
    assert state.ref_points.shape == (3, 10, 2)
    logits = m(maps, boxes, state)
    assert logits.shape == (3, 3)
    loss = pair_focal_loss(logits, torch.eye(3)) + reference_barrier_loss(state.ref_points)
    loss.backward()
    for name in ("lang_proj.0.weight", "cond.queries", "temporal.0.mlp.0.weight", "temporal.1.reduce.weight",
                 "pcd.queries", "ref_proj.1.weight", "pcd.score.1.weight"):
        g = dict(m.named_parameters())[name].grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name


def test_pcd_query_cannot_see_other_expressions():
    m, _ = _model()
    maps, boxes, lang, valid = _inputs()
    with torch.no_grad():
        base = m(maps, boxes, m.encode_language(lang, valid))
        lang2 = lang.clone()
        lang2[1] = torch.randn_like(lang2[1]) * 5          # perturb expression 1's tokens only
        pert = m(maps, boxes, m.encode_language(lang2, valid))
        changed_pad = lang.clone()
        changed_pad[1, 4:] = 99.0                            # expression 1's padding tokens
        pad = m(maps, boxes, m.encode_language(changed_pad, valid))
    assert torch.allclose(base[0], pert[0], atol=1e-5) and torch.allclose(base[2], pert[2], atol=1e-5)
    assert not torch.allclose(base[1], pert[1], atol=1e-3)   # its own score does change
    assert torch.allclose(base, pad, atol=1e-5)              # padding is masked


def test_pcd_mask_layout():
    valid = torch.tensor([[True, True, False], [True, False, False]])
    mask = build_pcd_mask(num_traj=2, lang_valid=valid, num_ref=1, queries_per_expr=1)
    # keys: traj0 traj1 | e0 l0 l1 l2 | e1 l0 l1 l2 | ref e0 | ref e1   (False = visible)
    expect = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 0, 1],
                           [0, 0, 1, 1, 1, 0, 1, 1, 1, 0]], dtype=torch.bool)
    assert torch.equal(mask, expect)


def test_motion_changes_score():
    """Temporal integration sees grid displacements: same last box, different past -> different logits."""
    m, _ = _model()
    maps, boxes, lang, valid = _inputs()
    maps = [torch.zeros_like(x) + 1.0 for x in maps]            # appearance-free maps
    still = boxes[:, -1:].repeat(1, 3, 1)
    moving = still.clone()
    moving[:, 0, [0, 2]] -= 0.1
    moving[:, 1, [0, 2]] -= 0.05
    with torch.no_grad():
        st = m.encode_language(lang, valid)
        assert not torch.allclose(m(maps, still, st), m(maps, moving, st), atol=1e-4)


@pytest.mark.parametrize("scorer, cond", [("cosine", True), ("pcd", False)])
def test_ablation_variants_run(scorer, cond):
    m, _ = _model(scorer=scorer, use_conditioning=cond)
    maps, boxes, lang, valid = _inputs()
    st = m.encode_language(lang, valid)
    assert st.ref_points.shape[1] == 0
    assert m(maps, boxes, st).shape == (3, 3)


def test_bad_inputs_raise_clear_errors():
    m, _ = _model()
    maps, boxes, lang, valid = _inputs()
    st = m.encode_language(lang, valid)
    with pytest.raises(FlexHookInputError, match="boxes_norm"):
        m(maps, boxes[:, :2], st)
    with pytest.raises(FlexHookInputError, match="scales"):
        m(maps[:1], boxes, st)
    with pytest.raises(FlexHookInputError, match="lang_feats"):
        m.encode_language(lang[..., :10], valid)
    bad = valid.clone()
    bad[0] = False
    with pytest.raises(FlexHookInputError, match="valid token"):
        m.encode_language(lang, bad)
    assert m(maps, boxes[:0], st).shape == (3, 0)


def test_noise_perturbations():
    rng = np.random.default_rng(0)
    b = np.tile(np.array([0.1, 0.1, 0.2, 0.3], np.float32), (2, 4, 1))
    b[1] += 0.5
    b[:, :, [0, 2]] += np.arange(4, dtype=np.float32)[None, :, None] * 0.01
    m = segment_masking(b, 1.0, rng)
    assert np.array_equal(m[:, -1], b[:, -1])                       # current frame never masked
    assert any(np.array_equal(m[i, k], m[i, k - 1]) for i in range(2) for k in range(1, 4))
    s = intra_batch_id_swap(b, 1.0, rng)
    assert np.array_equal(s[:, 0], b[::-1, 0]) and np.array_equal(s[:, -1], b[:, -1])
    g = gaussian_box_noise(b, 0.05, rng)
    assert g.shape == b.shape and (g[..., 2:] >= g[..., :2]).all() and not np.allclose(g, b)
    assert np.array_equal(perturb(b, NoiseConfig.off(), rng), b)


def test_thermal_tokens_scale_sees_only_the_thermal_channel():
    """thermal_tokens: the finest map's last channel is decoded as its own scale
    (one more temporal module and PCD block); changing it changes the scores."""
    m, cfg = _model(thermal_tokens=True)
    assert cfg.scale_channels == (16, 7, 1)
    assert len(m.temporal) == 3 and len(m.pcd.blocks) == 3 and m.temporal[2].reduce.in_features == 1
    maps, boxes, lang, valid = _inputs()
    with torch.no_grad():
        st = m.encode_language(lang, valid)
        base = m(maps, boxes, st)
        hot = [maps[0], maps[1].clone()]
        hot[1][:, -1] += 2.0                                   # warmer thermal channel only
        assert base.shape == (3, 3)
        assert not torch.allclose(base, m(hot, boxes, st), atol=1e-4)
    m.train()
    logits = m(maps, boxes, m.encode_language(lang, valid))
    pair_focal_loss(logits, torch.eye(3)).backward()
    g = m.temporal[2].reduce.weight.grad
    assert g is not None and g.abs().sum() > 0
    with pytest.raises(ValueError, match="thermal_tokens"):
        FlexHookConfig(channels=(16, 1), thermal_tokens=True)


def _moving_history(n=3, h=8, vx=0.01, seed=2):
    """[n, h, 4] boxes moving vx per frame in x (oldest first)."""
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(n, 1, 2, generator=g) * 0.4 + 0.3
    steps = torch.arange(h, dtype=torch.float32).view(1, h, 1) - (h - 1)
    ctr = c + torch.cat([steps * vx, torch.zeros_like(steps)], -1)
    return torch.cat([ctr - 0.05, ctr + 0.05], -1)


def test_motion_token_shapes_gradients_and_input_checks():
    m, cfg = _model(motion_history=8)
    m.train()
    maps, boxes, lang, valid = _inputs()
    state = m.encode_language(lang, valid)
    hist = _moving_history()
    logits = m(maps, boxes, state, hist)
    assert logits.shape == (3, 3)
    pair_focal_loss(logits, torch.eye(3)).backward()
    g = dict(m.named_parameters())["motion.mlp.0.weight"].grad
    assert g is not None and g.abs().sum() > 0
    with pytest.raises(FlexHookInputError, match="motion_history=8"):
        m(maps, boxes, state)                       # the head needs the history
    with pytest.raises(FlexHookInputError, match="motion_boxes must be"):
        m(maps, boxes, state, hist[:, :5])
    with pytest.raises(ValueError, match="motion_history"):
        FlexHookConfig(motion_history=1)


def test_motion_token_sees_direction_and_stays_out_of_old_config_hash():
    from vl_tracking_ros.models.config import config_hash
    from vl_tracking_ros.models.flexhook_motion import MotionToken

    left = MotionToken.features(_moving_history(vx=-0.01), 10.0)
    right = MotionToken.features(_moving_history(vx=0.01), 10.0)
    # centre x offsets relative to the newest frame: positive for a left mover's past, negative for a right mover's
    assert (left[:, 0] > 0).all() and (right[:, 0] < 0).all()
    assert torch.allclose(left[:, 28], torch.zeros(3)) and torch.allclose(left[:, 29], torch.zeros(3))
    m, _ = _model(motion_history=8)
    with torch.no_grad():
        maps, boxes, lang, valid = _inputs()
        state = m.encode_language(lang, valid)
        a = m(maps, boxes, state, _moving_history(vx=-0.01))
        b = m(maps, boxes, state, _moving_history(vx=0.01))
    assert not torch.allclose(a, b)                 # the motion token reaches the scores
    assert config_hash(FlexHookConfig()) == config_hash(FlexHookConfig(motion_history=0))
    assert config_hash(FlexHookConfig()) != config_hash(FlexHookConfig(motion_history=16))


def test_training_sample_motion_history_shares_the_noise():
    from vl_tracking_ros.train.rmot_data import CachedClip
    from vl_tracking_ros.train.rmot_train import flexhook_sample

    f = 20
    nb = [{1: np.array([0.1 + 0.01 * i, 0.4, 0.2 + 0.01 * i, 0.5], np.float32),
           2: np.array([0.6, 0.1 + 0.005 * i, 0.7, 0.2 + 0.005 * i], np.float32)} for i in range(f)]
    clip = CachedClip("toy", torch.zeros(f, 40, 3, 4, dtype=torch.float16), torch.zeros(f, 112, 2, 2, dtype=torch.float16),
                      torch.zeros(f, 1, 3, 4, dtype=torch.float16), [dict(b) for b in nb], nb, [("x", frozenset({1}))])
    rng = np.random.default_rng(0)
    maps, boxes, texts, labels, motion = flexhook_sample(clip, 15, 4, 2, 6, NoiseConfig(), rng, motion_history=10)
    assert boxes.shape == (2, 4, 4) and motion.shape == (2, 10, 4)
    # grid frames t-6, t-4, t-2, t are frames 3, 5, 7, 9 of the 10-frame motion history (same noisy boxes)
    assert torch.equal(boxes, motion[:, [3, 5, 7, 9]])
    _, boxes0, _, _, none = flexhook_sample(clip, 15, 4, 2, 6, NoiseConfig.off(), rng)
    assert none is None
    assert np.allclose(boxes0[0, :, 0].numpy(), [0.1 + 0.01 * k for k in (9, 11, 13, 15)])
