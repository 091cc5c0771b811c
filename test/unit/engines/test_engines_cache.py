"""Engine cache: naming, reuse of a matching cached ONNX, refusal of stale ones."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from standin_engines_net import StandInNetwork, example_numpy
from vl_tracking_ros.engines.base import BackendUnavailableError, available_backends
from vl_tracking_ros.engines.cache import build_cached_backend, default_engine_dir, engine_path, onnx_path
from vl_tracking_ros.engines.onnx_export import export_onnx


def test_default_dir_and_names(tmp_path):
    assert default_engine_dir({"VL_TRACKING_ENGINE_DIR": str(tmp_path)}) == tmp_path
    assert default_engine_dir({"XDG_CACHE_HOME": "/c"}).as_posix() == "/c/vl_tracking_ros/engines"
    assert engine_path(tmp_path, "mvlm-small", "local", "fp16", 8).name == "mvlm-small-local-fp16-b8.engine"
    assert onnx_path(tmp_path, "mvlm-small", "global").name == "mvlm-small-global.onnx"


def test_matching_cached_onnx_is_reused(tmp_path, caplog):
    net = StandInNetwork()
    cached = onnx_path(tmp_path, "standin", "local")
    export_onnx(net, cached, model_name="standin-local")
    with caplog.at_level(logging.INFO, logger="vl_tracking_ros.engines.cache"):
        b = build_cached_backend("onnxruntime", net, preset="standin", variant="local", engine_dir=tmp_path)
    try:
        assert b.onnx_path == cached and "using cached ONNX" in caplog.text
        ref = build_cached_backend("torch", net, preset="standin", variant="local", engine_dir=tmp_path)
        ex = example_numpy(net, 2)
        np.testing.assert_allclose(b.forward(ex)["score_map"], ref.forward(ex)["score_map"], atol=1e-5)
    finally:
        b.close()


def test_stale_cached_onnx_is_not_used(tmp_path, caplog):
    cached = onnx_path(tmp_path, "standin", "local")
    export_onnx(StandInNetwork(seed=1), cached, model_name="standin-local")
    net = StandInNetwork(seed=2)
    with caplog.at_level(logging.WARNING, logger="vl_tracking_ros.engines.cache"):
        b = build_cached_backend("onnxruntime", net, preset="standin", variant="local", engine_dir=tmp_path)
    try:
        assert b.onnx_path != cached and "exported from other weights" in caplog.text
        ex = example_numpy(net)
        ref = build_cached_backend("torch", net, preset="standin", variant="local").forward(ex)
        np.testing.assert_allclose(b.forward(ex)["box_cxcywh"], ref["box_cxcywh"], atol=1e-5)
    finally:
        b.close()


@pytest.mark.skipif("tensorrt" in available_backends(), reason="tensorrt is installed here")
def test_cached_tensorrt_without_tensorrt_is_a_clear_error(tmp_path):
    with pytest.raises(BackendUnavailableError, match="not installed"):
        build_cached_backend("tensorrt", StandInNetwork(), preset="standin", variant="local", device="cuda",
                             precision="fp16", engine_dir=tmp_path)
