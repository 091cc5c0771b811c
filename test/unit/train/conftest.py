"""Every test here runs with one torch thread (fixture in test/unit/conftest.py)."""
import pytest

from vl_tracking_ros.models.config import ModelConfig
from vl_tracking_ros.models.gating import GateConfig
from vl_tracking_ros.models.network import LanguageTrackingNetwork
from vl_tracking_ros.models.text_encoder import TextEncoder
from vl_tracking_ros.train.config import PresetConfig, TrainConfig
from vl_tracking_ros.train.data import build_cache


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def tiny_setup(tiny_bert_dir):
    """A tiny network + a real cache from 2 short WORLD training clips
    (random-init backbone and a tiny BERT keep it fast)."""
    text = TextEncoder(tiny_bert_dir, max_tokens=8)
    model = ModelConfig(d_model=32, num_heads=2, num_layers=1, ffn_dim=64, global_size_hw=[96, 128], local_size=64,
                        max_text_tokens=8, meme_rank=8, contrastive_dim=16, head_hidden=16, x_through_base=False)
    train = TrainConfig(num_clips=2, frames_per_clip=6, frame_stride=2, extra_expressions=1, batch_size=8,
                        lr=3e-3, val_frac=0.01, ckpt_every=1000, num_threads=1)
    cfg = PresetConfig("tiny", model, GateConfig(), train)
    net = LanguageTrackingNetwork(model, text_dim=text.dim, pretrained=False)
    cache = build_cache(cfg, net.image_encoder, text, progress=False)
    return cfg, net, cache
