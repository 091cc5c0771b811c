"""Backend interface: input validation, selection, fallbacks, text encoding."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from standin_engines_net import StandInNetwork, example_numpy
from vl_tracking_ros.engines.base import (BackendUnavailableError, InputSpecError, PrecisionUnsupportedError,
                                          available_backends, build_backend, normalize_device,
                                          normalize_precision)


@pytest.fixture(scope="module")
def net():
    return StandInNetwork()


@pytest.fixture(scope="module")
def torch_backend(net):
    return build_backend("torch", net)


def _bad(ex, **changes):
    out = dict(ex)
    for k, v in changes.items():
        if v is None:
            out.pop(k)
        else:
            out[k] = v
    return out


@pytest.mark.parametrize("mutate, message", [
    (lambda ex: _bad(ex, image=None), "missing \\['image'\\]"),
    (lambda ex: dict(ex, extra=np.zeros((1,), np.float32)), "unknown \\['extra'\\]"),
    (lambda ex: _bad(ex, image=ex["image"][:, :, :32]), "input 'image' dim 2 must be 64"),
    (lambda ex: _bad(ex, image=ex["image"][0]), "input 'image' must have rank 4"),
    (lambda ex: _bad(ex, text_mask=ex["text_mask"].astype(np.float32)), "input 'text_mask' must be bool"),
    (lambda ex: _bad(ex, image=ex["image"].tolist()), "must be a numpy array"),
    (lambda ex: _bad(ex, image=np.concatenate([ex["image"]] * 2)), "input .text_tokens. has batch 1 but other inputs have batch 2"),
])
def test_forward_rejects_bad_inputs_with_the_name(torch_backend, net, mutate, message):
    with pytest.raises(InputSpecError, match=message):
        torch_backend.forward(mutate(example_numpy(net)))


def test_torch_backend_matches_the_module(net, torch_backend):
    ex = example_numpy(net, batch_size=2)
    out = torch_backend.forward(ex)
    with torch.no_grad():
        ref = net(**{k: torch.from_numpy(v) for k, v in ex.items()})
    assert list(out) == ["score_map", "box_cxcywh"]
    for k in out:
        assert out[k].dtype == np.float32
        np.testing.assert_allclose(out[k], ref[k].numpy(), rtol=1e-5, atol=1e-6)


def test_spec_and_describe(torch_backend):
    spec = torch_backend.input_spec
    assert list(spec) == ["image", "text_tokens", "text_mask", "x_images", "x_present"]
    assert spec["image"].shape == (-1, 3, 64, 64) and spec["text_mask"].dtype == "bool"
    d = torch_backend.describe()
    assert d["backend"] == "torch" and d["device"] == "cpu" and d["precision"] == "fp32"


@pytest.mark.parametrize("kind, kwargs, exc, message", [
    ("torch", {"device": "cuda"}, BackendUnavailableError, "torch.cuda.is_available\\(\\) is False"),
    ("torch", {"precision": "fp16"}, PrecisionUnsupportedError, "fp16 runs on CUDA only"),
    ("torch", {"precision": "int8"}, PrecisionUnsupportedError, "int8 needs TensorRT"),
    ("torch", {"cuda_graphs": True}, PrecisionUnsupportedError, "cuda_graphs=True needs a CUDA device"),
    ("onnxruntime", {"device": "cuda"}, BackendUnavailableError, "lacks \\['CUDAExecutionProvider'\\]"),
    ("onnxruntime", {"precision": "fp16"}, PrecisionUnsupportedError, "TensorRT execution provider"),
    ("torch", {"device": "tpu"}, ValueError, "device must be"),
    ("torch", {"precision": "fp8"}, ValueError, "precision must be one of"),
    ("jax", {}, ValueError, "unknown backend 'jax'"),
])
def test_unavailable_combinations_give_clear_errors(net, kind, kwargs, exc, message):
    if kwargs.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(exc, match=message):
        build_backend(kind, net, **kwargs)


def test_tensorrt_absent_is_a_clear_error_not_a_silent_fallback(net):
    if "tensorrt" in available_backends():
        pytest.skip("tensorrt is installed here")
    with pytest.raises(BackendUnavailableError, match="`tensorrt` Python package is not installed"):
        build_backend("tensorrt", net, device="cuda", precision="fp16", engine_path="/nonexistent.engine")


def test_fallback_chain_is_logged_and_used(net, caplog):
    if "tensorrt" in available_backends():
        pytest.skip("tensorrt is installed here")
    with caplog.at_level(logging.WARNING, logger="vl_tracking_ros.engines.base"):
        b = build_backend("tensorrt", net, device="cpu", fallback=("onnxruntime", "torch"),
                          engine_path="/nonexistent.engine")
    try:
        assert b.name == "onnxruntime"
        assert "falling back to onnxruntime" in caplog.text and "tensorrt" in caplog.text
        ex = example_numpy(net)
        assert b.forward(ex)["box_cxcywh"].shape == (1, 4)
    finally:
        b.close()


def test_all_fallbacks_unavailable_lists_every_reason(net):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendUnavailableError) as info:
        build_backend("tensorrt", net, device="cuda", fallback=("onnxruntime", "torch"), engine_path="/x.engine")
    text = str(info.value)
    assert "tensorrt:" in text and "onnxruntime:" in text and "torch:" in text


class _CountingNet(StandInNetwork):
    calls = 0

    def forward(self, *args, **kwargs):
        type(self).calls += 1
        return super().forward(*args, **kwargs)


def test_encode_text_delegates_and_never_touches_the_engine():
    net = _CountingNet()
    seen = []

    def encoder(texts):
        seen.append(list(texts))
        n = len(texts)
        return {"text_tokens": torch.ones(n, 8, 32), "text_mask": torch.ones(n, 8, dtype=torch.bool)}

    b = build_backend("torch", net, text_encoder=encoder)
    before = _CountingNet.calls
    text = b.encode_text(["the red car", "the person on the left"])
    assert _CountingNet.calls == before, "encode_text ran the per-frame network"
    assert seen == [["the red car", "the person on the left"]]
    assert text["text_tokens"].shape == (2, 8, 32) and text["text_tokens"].dtype == np.float32
    assert text["text_mask"].dtype == np.bool_
    with pytest.raises(TypeError):
        b.encode_text("not a list")


def test_encode_text_without_encoder_is_a_clear_error(torch_backend):
    with pytest.raises(RuntimeError, match="without a text_encoder"):
        torch_backend.encode_text(["x"])


def test_closed_backend_refuses(net):
    b = build_backend("torch", net)
    b.close()
    with pytest.raises(RuntimeError, match="closed"):
        b.forward(example_numpy(net))


def test_normalizers():
    assert normalize_device("CUDA:1") == "cuda:1" and normalize_device("gpu") == "cuda"
    assert normalize_precision("half") == "fp16" and normalize_precision("float32") == "fp32"


def test_torch_backend_does_not_mutate_callers_network_device_or_dtype(net):
    p = next(net.parameters())
    build_backend("torch", net).close()
    assert p.dtype == torch.float32 and p.device.type == "cpu"


@pytest.mark.slow
def test_torch_compile_matches_eager(net):
    """torch.compile (inductor, CPU here) gives the eager outputs; ~30 s of compilation."""
    compiled = build_backend("torch", net, compile=True)
    assert compiled.compiled
    ex = example_numpy(net, batch_size=2)
    out, ref = compiled.forward(ex), build_backend("torch", net).forward(ex)
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k], rtol=1e-4, atol=1e-5)
