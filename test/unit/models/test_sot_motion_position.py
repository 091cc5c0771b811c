"""The motion input (two same-region grayscale frames) and the absolute
position code of the search region: geometry, shapes, gradients, that they
change the output, that weights trained before them keep their config hash,
and the tracker's frame history."""
import numpy as np
import pytest
import torch

from vl_tracking_ros.models.config import ModelConfig, config_hash
from vl_tracking_ros.models.fusion import sine_encoding_points, sine_position_encoding_2d
from vl_tracking_ros.models.network import LanguageTrackingNetwork, absolute_token_centres
from vl_tracking_ros.models.search_region import (MOTION_DOWNSAMPLE, crop_gray_u8, global_region, gray_u8,
                                                  local_region, motion_images, region_box_norm, search_inputs)


def tiny_cfg(**kw):
    base = dict(d_model=32, num_heads=2, num_layers=1, ffn_dim=64, global_size_hw=[64, 96], local_size=64,
                max_text_tokens=6, meme_rank=8, contrastive_dim=16, head_hidden=16, x_through_base=False,
                motion_input=True, abs_position=True)
    base.update(kw)
    return ModelConfig(**base).validate()


def test_region_box_norm_of_global_and_local_regions():
    g = global_region((240, 320), (192, 256))
    assert np.allclose(region_box_norm(g, (240, 320)), [0, 0, 1, 1])
    loc = local_region(np.array([100, 60, 140, 100]), 160, roi_scale=2.0, min_side_px=10.0)  # side 80 around (120, 80)
    assert np.allclose(region_box_norm(loc, (240, 320)), [80 / 320, 40 / 240, 160 / 320, 120 / 240], atol=1e-6)
    # token centres of a 2 x 2 grid over that ROI, in image-normalised (y, x)
    c = absolute_token_centres(torch.from_numpy(region_box_norm(loc, (240, 320)))[None], 2, 2)[0]
    assert torch.allclose(c[0], torch.tensor([60 / 240, 100 / 320])) and torch.allclose(c[3], torch.tensor([100 / 240, 140 / 320]))


def test_point_encoding_equals_the_grid_encoding():
    h, w = 5, 7
    ys, xs = (torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w
    yx = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)
    assert torch.allclose(sine_encoding_points(yx, 32), sine_position_encoding_2d(h, w, 32))


def test_motion_images_from_a_moving_square():
    a = np.full((120, 160, 3), 90, np.uint8); a[40:60, 50:70] = 250
    b = np.full((120, 160, 3), 90, np.uint8); b[40:60, 56:76] = 250      # moved 6 px right
    region = global_region((120, 160), (64, 96))
    now, prev = crop_gray_u8(gray_u8(b), region), crop_gray_u8(gray_u8(a), region)
    assert now.shape == (64 // MOTION_DOWNSAMPLE, 96 // MOTION_DOWNSAMPLE) and now.dtype == np.uint8
    m = motion_images(now, prev)
    assert m.shape == (3, 32, 48) and m.dtype == np.float32 and (m[2] == 1).all()
    diff = m[0] - m[1]
    cols = np.nonzero(np.abs(diff).max(0) > 0.3)[0]
    # brightening at the leading (right) edge, darkening at the trailing (left) one
    assert diff[:, cols.max()].max() > 0.3 and diff[:, cols.min()].min() < -0.3
    none = motion_images(now, None)
    assert (none[2] == 0).all() and np.array_equal(none[0], none[1])


def test_network_with_motion_and_position_shapes_gradients_and_effect():
    torch.manual_seed(0)
    net = LanguageTrackingNetwork(tiny_cfg(), text_dim=24, pretrained=False).train()
    inp = net.example_inputs(batch_size=2, local=True)
    assert inp["motion_images"].shape == (2, 3, 32, 32) and inp["region_box"].shape == (2, 4)
    for k in ("image", "text_tokens", "motion_images"):
        inp[k].normal_()
    out = net(**inp)
    (out["heatmap_logits"].sum() + out["corr"].sum()).backward()
    for name in ("motion_embed.net.0.weight", "motion_embed.net.4.weight", "abs_pos_proj.weight"):
        assert dict(net.named_parameters())[name].grad is not None, name
    base_ids = {id(p) for p in net.base_parameters_all()}  # stage 1 trains them
    assert all(id(p) in base_ids for p in list(net.motion_embed.parameters()) + list(net.abs_pos_proj.parameters()))
    net.eval()
    with torch.no_grad():
        ref = net(**inp)["heatmap_logits"]
        moved = dict(inp, motion_images=inp["motion_images"].flip(-1))
        assert not torch.allclose(net(**moved)["heatmap_logits"], ref)
        elsewhere = dict(inp, region_box=torch.tensor([[0.5, 0.5, 1.0, 1.0]] * 2))
        assert not torch.allclose(net(**elsewhere)["heatmap_logits"], ref)
        # omitted inputs mean "no previous frame" and "the whole image"
        no_motion = dict(inp, motion_images=torch.zeros_like(inp["motion_images"]),
                         region_box=torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2))
        default = net(inp["image"], inp["text_tokens"], inp["text_mask"], inp["x_images"], inp["x_present"])
        assert torch.allclose(net(**no_motion)["heatmap_logits"], default["heatmap_logits"], atol=1e-6)


def test_new_fields_at_their_defaults_keep_the_config_hash():
    old = ModelConfig()
    assert config_hash(old) == config_hash(ModelConfig(motion_input=False, motion_gap=3, abs_position=False))
    assert config_hash(ModelConfig(motion_input=True)) != config_hash(old)
    assert config_hash(ModelConfig(abs_position=True)) != config_hash(old)
    with pytest.raises(Exception, match="motion_gap"):
        ModelConfig(motion_gap=0).validate()


def test_search_inputs_keys_follow_the_config():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    region = global_region((120, 160), (64, 96))
    plain = search_inputs(region, img, 4)
    assert set(plain) == {"image", "x_images", "x_present"}
    full = search_inputs(region, img, 4, motion=True, gray_prev=gray_u8(img[::-1].copy()), abs_position=True)
    assert full["motion_images"].shape == (1, 3, 32, 48) and full["motion_images"][0, 2].min() == 1
    assert full["region_box"].shape == (1, 4)
    # a previous frame of another resolution is no evidence (valid 0)
    other = search_inputs(region, img, 4, motion=True, gray_prev=np.zeros((10, 10), np.uint8))
    assert other["motion_images"][0, 2].max() == 0


def test_motion_and_position_inputs_export_to_onnx_with_parity(tmp_path):
    from vl_tracking_ros.engines.base import build_backend
    from vl_tracking_ros.engines.onnx_export import export_onnx
    from vl_tracking_ros.engines.ort_backend import OrtBackend

    torch.manual_seed(1)
    net = LanguageTrackingNetwork(tiny_cfg(), text_dim=24, pretrained=False).eval()
    for local in (True, False):
        ex = net.example_inputs(1, local=local)
        res = export_onnx(net, tmp_path / f"m{int(local)}.onnx", example_inputs=ex, model_name="tiny-motion")
        assert list(res.input_spec)[-2:] == ["motion_images", "region_box"]
        rng = np.random.default_rng(0)
        feed = {k: (rng.standard_normal(v.shape).astype(np.float32) if v.dtype == torch.float32 else v.numpy())
                for k, v in ex.items()}
        feed["region_box"] = np.array([[0.1, 0.2, 0.6, 0.7]], np.float32)
        with build_backend("torch", net, example_inputs=ex) as t, OrtBackend(res.path, threads=1) as o:
            a, b = t.forward(feed), o.forward(feed)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-4)
