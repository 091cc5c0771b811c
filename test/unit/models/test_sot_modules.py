"""Shapes and gradients of every SOT model block; MeME router/EdgeMix facts."""
import numpy as np
import pytest
import torch

from vl_tracking_ros.models.config import ModelConfig, config_from_dict, config_hash
from vl_tracking_ros.models.errors import ModelConfigError
from vl_tracking_ros.models.fusion import FusionLayer, OneStageFusion, sine_position_encoding_2d
from vl_tracking_ros.models.heads import CenterHead, CorrelationHead
from vl_tracking_ros.models.meme import (LAPLACIAN_3X3, EdgeMix, MeME, SoftTopKRouter, modality_group_probs,
                                         router_losses)
from vl_tracking_ros.models.network import INFERENCE_OUTPUTS, LanguageTrackingNetwork

torch.manual_seed(0)


def tiny_cfg(**kw):
    base = dict(d_model=32, num_heads=2, num_layers=2, ffn_dim=64, global_size_hw=[64, 96], local_size=64,
                max_text_tokens=6, meme_rank=8, contrastive_dim=16, head_hidden=16)
    base.update(kw)
    return ModelConfig(**base).validate()


@pytest.fixture(scope="module")
def tiny_net():
    return LanguageTrackingNetwork(tiny_cfg(), text_dim=24, pretrained=False)


def test_fusion_shapes_and_padding_mask():
    fusion = OneStageFusion(32, 2, 2, 64)
    img = torch.randn(2, 12, 32, requires_grad=True)
    txt = torch.randn(2, 5, 32)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    seq, bias, n0 = fusion.build_sequence(img, txt, mask)
    assert seq.shape == (2, 1 + 5 + 12, 32) and n0 == 6
    assert bias.shape == (2, 1, 1, 18) and bias[0, 0, 0, 4] < -1e3 and bias[1, 0, 0, 4] == 0
    out = seq
    for layer in fusion.layers:
        out = layer(out, bias)
    out.sum().backward()
    assert img.grad is not None and torch.isfinite(img.grad).all()
    # padded text tokens do not influence the image tokens
    txt2 = txt.clone(); txt2[0, 3:] += 100.0
    seq2, _, _ = fusion.build_sequence(img.detach(), txt2, mask)
    a, b = seq.detach(), seq2
    for layer in fusion.layers:
        a, b = layer(a, bias), layer(b, bias)
    assert torch.allclose(a[0, n0:], b[0, n0:], atol=1e-4)


def test_position_encoding_shape():
    pe = sine_position_encoding_2d(3, 4, 16)
    assert pe.shape == (12, 16) and torch.isfinite(pe).all()


def test_router_sums_to_one_and_keeps_top_k():
    router = SoftTopKRouter(16, num_experts=6, top_k=2)
    gates, probs, mask = router(torch.randn(3, 10, 16))
    assert torch.allclose(probs.sum(-1), torch.ones(3, 10), atol=1e-5)
    assert torch.allclose(gates.sum(-1), torch.ones(3, 10), atol=1e-5)
    assert (mask.sum(-1) == 2).all() and ((gates > 0).sum(-1) == 2).all()
    group = modality_group_probs(probs, 3)
    assert group.shape == (3, 10, 3) and torch.allclose(group.sum(-1), torch.ones(3, 10), atol=1e-5)


def test_edgemix_is_initialised_as_laplacian():
    em = EdgeMix(4)
    lap = torch.tensor(LAPLACIAN_3X3)
    for c in range(4):
        assert torch.equal(em.edge.weight[c, 0], lap)
    x = torch.ones(1, 4, 5, 5)  # constant field: Laplacian response is 0 away from the border
    assert torch.allclose(em(x)[0, :, 1:-1, 1:-1], torch.zeros(4, 3, 3), atol=1e-6)


def test_meme_starts_as_identity_and_has_gradients():
    meme = MeME(32, 8, num_modalities=3, experts_per_modality=2, top_k=2)
    rgb, x = torch.randn(2, 12, 32), torch.randn(2, 12, 32, requires_grad=True)
    out, aux = meme(rgb, x, (3, 4))
    assert out.shape == (2, 12, 32) and torch.count_nonzero(out) == 0  # W8 zero-init
    assert aux["probs"].shape == (2, 12, 6)
    (out.sum() + aux["probs"][..., 0].sum()).backward()
    assert meme.prompt.w8.weight.grad is not None and meme.prompt.w8.weight.grad.abs().sum() > 0
    assert x.grad is not None


def test_router_classification_loss_pulls_toward_true_modality():
    torch.manual_seed(1)
    meme = MeME(16, 4, num_modalities=3, experts_per_modality=2, top_k=2)
    centers = torch.randn(3, 16) * 2.0  # each modality has its own token statistics
    labels = torch.arange(3).repeat(8)
    x = centers[labels][:, None, :] + 0.3 * torch.randn(24, 6, 16)
    opt = torch.optim.Adam(meme.router.parameters(), lr=0.05)

    def true_mass():
        _, probs, _ = meme.router(x)
        return modality_group_probs(probs, 3).gather(-1, labels[:, None, None].expand(-1, 6, 1)).mean().item()

    before = true_mass()
    for _ in range(40):
        _, probs, mask = meme.router(x)
        loss = router_losses(probs, mask, labels, 3)
        total = loss["cls"] + 0.01 * (loss["importance"] + loss["load"])
        opt.zero_grad(); total.backward(); opt.step()
    after = true_mass()
    assert before < 0.5 and after > 0.8, (before, after)


def test_heads_shapes_and_range():
    head, corr_head = CenterHead(32, hidden=16), CorrelationHead(32)
    tokens = torch.randn(2, 12, 32, requires_grad=True)
    out = head(tokens, (3, 4), obj=torch.randn(2, 32))
    assert out["heatmap_logits"].shape == (2, 1, 3, 4)
    assert out["offset"].shape == (2, 2, 3, 4) and out["size"].shape == (2, 2, 3, 4)
    assert (out["size"] >= 0).all() and (out["size"] <= 1).all()
    corr, v, u = corr_head(tokens, torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.bool), (3, 4))
    assert corr.shape == (2, 3, 4) and corr.abs().max() <= 1.0 + 1e-5
    (out["heatmap_logits"].sum() + corr.sum()).backward()
    assert tokens.grad is not None


def test_network_outputs_gradients_and_rgb_only_equivalence(tiny_net):
    net = tiny_net.train()
    inp = net.example_inputs(batch_size=2, local=False)
    inp["text_tokens"].normal_()
    inp["image"].normal_()
    out = net(**inp)
    assert out["heatmap_logits"].shape == (2, 1, 4, 6) and out["corr"].shape == (2, 4, 6)
    assert out["router_probs_tokens"].shape == (2, 4, 24, 6)  # 2 layers x (attn, ffn)
    loss = sum(out[k].sum() for k in ("heatmap_logits", "offset", "size", "corr", "con_text", "con_vis_tokens"))
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and not n.startswith(("meme_", "x_embed"))
               and p.grad is None]
    assert not missing
    # x_present all zero == no X input at all (RGB-only base)
    net.eval()
    with torch.no_grad():
        a = net(**inp)
        b = net(inp["image"], inp["text_tokens"], inp["text_mask"])
    assert set(a) == set(INFERENCE_OUTPUTS)
    assert torch.allclose(a["heatmap_logits"], b["heatmap_logits"], atol=1e-5)


def test_meme_changes_output_once_trained(tiny_net):
    net = tiny_net.eval()
    inp = net.example_inputs(batch_size=1, local=True)
    inp["text_tokens"].normal_(); inp["x_images"].normal_(); inp["x_present"][:, 1] = 1.0
    with torch.no_grad():
        for m in list(net.meme_attn) + list(net.meme_ffn):
            m.prompt.w8.weight.normal_(std=0.1)
        with_x = net(**inp)
        inp2 = dict(inp); inp2["x_present"] = torch.zeros_like(inp["x_present"])
        without = net(**inp2)
    assert not torch.allclose(with_x["heatmap_logits"], without["heatmap_logits"])
    assert with_x["x_share"].item() > 0 and without["x_share"].item() == 0
    assert with_x["router_probs"].shape == (1, 3)


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ModelConfigError, match="unknown key"):
        config_from_dict(ModelConfig, {"d_modle": 3})
    with pytest.raises(ModelConfigError, match="divisible"):
        config_from_dict(ModelConfig, {"d_model": 30, "num_heads": 4})
    with pytest.raises(ModelConfigError, match="expected"):
        config_from_dict(ModelConfig, {"d_model": "big"})
    assert config_hash(ModelConfig()) == config_hash(ModelConfig())
    assert config_hash(ModelConfig()) != config_hash(ModelConfig(d_model=64))
