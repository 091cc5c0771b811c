"""onnxruntime text encoder == the model's torch text encoder (real MiniLM)."""
from __future__ import annotations

import numpy as np
import pytest

from vl_tracking_ros.engines.text_ort import OrtTextEncoder
from vl_tracking_ros.models.text_encoder import EmptyCommandError, build_text_encoder


@pytest.fixture(scope="module")
def encoders():
    torch_enc = build_text_encoder("minilm", 16)
    ort_enc = OrtTextEncoder(torch_enc, threads=1)
    yield torch_enc, ort_enc
    ort_enc.close()


def test_same_tokens_and_mask_as_the_torch_encoder(encoders):
    torch_enc, ort_enc = encoders
    texts = ["the red car", "  The PERSON   on the left  ", "the small hot drone moving right near the blue box "
             "behind the tree on the far side"]  # the last one is truncated to 16 tokens
    got = ort_enc(texts)
    items = torch_enc.encode_batch(texts)
    ref_tokens = np.stack([i.tokens for i in items])
    ref_mask = np.stack([i.mask for i in items])
    assert got["text_tokens"].shape == ref_tokens.shape == (3, 16, torch_enc.dim)
    np.testing.assert_array_equal(got["text_mask"], ref_mask)
    np.testing.assert_allclose(got["text_tokens"], ref_tokens, atol=1e-4)


def test_cache_and_errors(encoders):
    _, ort_enc = encoders
    a = ort_enc(["the red car"])
    b = ort_enc(["THE red   car"])  # same command after normalisation: served from the cache
    np.testing.assert_array_equal(a["text_tokens"], b["text_tokens"])
    with pytest.raises(EmptyCommandError):
        ort_enc(["   "])
