"""TensorRT path: clear errors without TensorRT; real build / parity with it.

TensorRT cannot be installed on the CPU dev machine: the tests that need it
skip (``importorskip``); the ones that check what happens without it run.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from standin_engines_net import StandInNetwork, example_numpy
from vl_tracking_ros.engines.base import BackendUnavailableError, build_backend

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None
needs_trt = pytest.mark.skipif(not (HAVE_TRT and torch.cuda.is_available()), reason="needs tensorrt and CUDA")


@pytest.mark.skipif(HAVE_TRT, reason="tensorrt is installed here")
def test_build_engine_without_tensorrt_says_so(tmp_path):
    from vl_tracking_ros.engines.tensorrt_backend import build_engine

    with pytest.raises(BackendUnavailableError, match="not installed"):
        build_engine(tmp_path / "x.onnx", tmp_path / "x.engine")


@pytest.mark.skipif(HAVE_TRT, reason="tensorrt is installed here")
def test_tensorrt_module_imports_without_tensorrt():
    import sys

    import vl_tracking_ros.engines.tensorrt_backend  # noqa: F401  (lazy import: must not need tensorrt)

    assert "tensorrt" not in sys.modules


@needs_trt
@pytest.mark.gpu
@pytest.mark.parametrize("precision, tol", [("fp32", 1e-3), ("fp16", 3e-2)])
def test_engine_build_load_and_parity(tmp_path, precision, tol):
    from vl_tracking_ros.engines.metadata import EngineMetadataMismatch, read_metadata

    net = StandInNetwork()
    engine = tmp_path / f"standin-{precision}.engine"
    b = build_backend("tensorrt", net, device="cuda", precision=precision, engine_path=str(engine),
                      build_engine_if_missing=True, max_batch_size=4, opt_batch_size=2)
    meta = read_metadata(engine)
    assert meta.precision == precision and meta.max_batch == 4 and meta.gpu_name
    ex = example_numpy(net, batch_size=3)
    ref = build_backend("torch", net).forward(ex)
    out = b.forward(ex)
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k], atol=tol, rtol=tol)
    b.close()
    # other weights: the cached engine is refused, not silently run
    with pytest.raises(EngineMetadataMismatch, match="model_hash"):
        build_backend("tensorrt", StandInNetwork(seed=3), device="cuda", precision=precision,
                      engine_path=str(engine), max_batch_size=4)


@needs_trt
@pytest.mark.gpu
def test_int8_engine_with_calibration_cache(tmp_path):
    net = StandInNetwork()
    calib = [example_numpy(net, batch_size=2, seed=i) for i in range(8)]
    cache = tmp_path / "calib.cache"
    b = build_backend("tensorrt", net, device="cuda", precision="int8", engine_path=str(tmp_path / "i8.engine"),
                      build_engine_if_missing=True, max_batch_size=2, opt_batch_size=2,
                      calibration_frames=calib, calibration_cache=str(cache))
    assert cache.is_file() and cache.stat().st_size > 0
    out = b.forward(example_numpy(net, batch_size=2))
    assert np.isfinite(out["box_cxcywh"]).all()
