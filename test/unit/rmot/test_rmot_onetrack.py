"""OneTrack-M: shapes/gradients, channel-wise temporal encoding, targets, decoding."""
import numpy as np
import pytest
import torch

from vl_tracking_ros.models.onetrack_encoder import OneTrackConfig, OneTrackInputError, OneTrackM
from vl_tracking_ros.models.onetrack_heads import STRIDE, decode_frame
from vl_tracking_ros.models.onetrack_losses import (build_window_targets, centernet_focal_loss, collate_targets,
                                                    onetrack_losses)


def _small(**kw):
    torch.manual_seed(0)
    cfg = OneTrackConfig(window=3, dim=32, layers=1, heads=2, in_channels_16=8, in_channels_8=4, token_hw=(3, 4),
                         embed_dim=8, **kw)
    return OneTrackM(cfg), cfg


def _feats(b=2, w=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, w, 8, 3, 4, generator=g), torch.randn(b, w, 4, 6, 8, generator=g)


def test_output_shapes_and_gradients():
    m, _ = _small()
    f16, f8 = _feats()
    out = m.forward_features(f16, f8)
    assert out["heatmap"].shape == (2, 3, 1, 6, 8)
    assert out["dims"].shape == (2, 3, 4, 6, 8)
    assert out["disp"].shape == (2, 3, 2, 6, 8)
    assert out["embed"].shape == (2, 3, 8, 6, 8)
    assert (out["disp"].abs() <= m.cfg.max_disp_px).all()
    boxes = [{1: np.array([4, 4, 20, 20.0]), 2: np.array([30, 10, 44, 30.0])}] * 3
    tg = collate_targets([build_window_targets(boxes, None, (6, 8))] * 2)
    losses = onetrack_losses(out, tg)
    sum(losses.values()).backward()
    assert m.temporal_embed.grad is not None and m.temporal_embed.grad.abs().sum() > 0
    assert m.patch_embed.weight.grad.abs().sum() > 0
    last = m.forward_features(f16, f8, last_only=True)
    assert last["heatmap"].shape == (2, 1, 1, 6, 8)
    assert torch.allclose(last["heatmap"][:, 0], out["heatmap"][:, -1], atol=1e-5)
    sub = m.forward_features(f16, f8, slots=[0, 2])
    assert torch.allclose(sub["dims"][:, 1], out["dims"][:, 2], atol=1e-5)


def test_channel_wise_temporal_encoding_tells_frames_apart():
    """With the per-frame embedding, identical frames at different window slots
    get different tokens; without it (ablation) they are identical."""
    m, _ = _small()
    m_none, _ = _small(temporal_encoding="none")
    f16 = torch.randn(1, 1, 8, 3, 4).repeat(1, 3, 1, 1, 1)
    with torch.no_grad():
        tok = m.encode(f16)
        tok_none = m_none.encode(f16)
    assert not torch.allclose(tok[0, 0], tok[0, 1], atol=1e-4)
    assert torch.allclose(tok_none[0, 0], tok_none[0, 1], atol=1e-5)


def test_targets_and_focal_loss():
    boxes = [{7: np.array([8, 8, 24, 40.0])}, {7: np.array([12, 8, 28, 40.0])}]
    tg = build_window_targets(boxes, None, (8, 8))
    assert tg.heatmap.shape == (2, 1, 8, 8)
    assert tg.heatmap[0, 0, 3, 2] == 1.0 and tg.heatmap[1, 0, 3, 2] == 1.0   # centre (16, 24) and (20, 24)
    assert np.allclose(tg.dims[0], [np.log(2), np.log(4), 0.0, 0.0])
    assert np.allclose(tg.dims[1, 2:], [0.5, 0.0])
    assert list(tg.disp_valid) == [False, True] and np.allclose(tg.disp[1], [4, 0])
    perfect = torch.where(torch.from_numpy(tg.heatmap) == 1, torch.tensor(20.0), torch.tensor(-20.0))
    assert centernet_focal_loss(perfect, torch.from_numpy(tg.heatmap)) < 1e-3
    assert centernet_focal_loss(torch.zeros_like(perfect), torch.from_numpy(tg.heatmap)) > 0.5


def test_decode_crafted_maps():
    h8, w8 = 6, 8
    heat = torch.full((1, h8, w8), -10.0)
    heat[0, 2, 3] = 5.0
    heat[0, 2, 4] = 4.0        # neighbour of a stronger peak: suppressed by the 3x3 NMS
    heat[0, 5, 6] = 2.0
    dims = torch.zeros(4, h8, w8)
    dims[:2, 2, 3] = np.log(2.0)
    dims[2:, 2, 3] = 0.5
    disp = torch.zeros(2, h8, w8)
    disp[:, 2, 3] = torch.tensor([3.0, -1.0])
    emb = torch.randn(8, h8, w8)
    d = decode_frame({"heatmap": heat, "dims": dims, "disp": disp, "embed": emb}, score_threshold=0.5)
    assert len(d.scores) == 2
    cx, cy = (3 + 0.5) * STRIDE, (2 + 0.5) * STRIDE
    assert np.allclose(d.boxes_xyxy[0], [cx - 8, cy - 8, cx + 8, cy + 8])
    assert np.allclose(d.prev_centers_xy[0], [cx - 3, cy + 1])
    assert np.allclose(np.linalg.norm(d.embeddings, axis=1), 1.0, atol=1e-5)


def test_bad_window_raises():
    m, _ = _small()
    f16, f8 = _feats(w=2)
    with pytest.raises(OneTrackInputError, match="W=3"):
        m.forward_features(f16, f8)
    f16, f8 = _feats()
    with pytest.raises(OneTrackInputError, match="f8"):
        m.forward_features(f16, f8[:, :, :2])
    with pytest.raises(ValueError):
        OneTrackConfig(temporal_encoding="sinus")
