"""GPU parity of the engine layer (skipped cleanly without CUDA).

fp32 vs fp16, eager vs CUDA graphs, torch CPU vs CUDA, batched streams on
the GPU. The TensorRT build / parity tests live in
test/unit/engines/test_engines_tensorrt.py (they need tensorrt as well).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit", "engines"))
from standin_engines_net import StandInNetwork, example_numpy  # noqa: E402

from vl_tracking_ros.engines.base import build_backend  # noqa: E402
from vl_tracking_ros.engines.batching import forward_batched  # noqa: E402

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (torch.cuda.is_available() is False)")]


@pytest.fixture(scope="module")
def net():
    return StandInNetwork()


def _close(a, b, tol):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=tol)


def test_cuda_fp32_matches_cpu(net):
    ex = example_numpy(net, batch_size=2)
    _close(build_backend("torch", net, device="cuda").forward(ex), build_backend("torch", net).forward(ex), 1e-4)


def test_fp16_matches_fp32(net):
    ex = example_numpy(net, batch_size=2)
    out16 = build_backend("torch", net, device="cuda", precision="fp16").forward(ex)
    assert all(v.dtype == np.float32 for v in out16.values())
    _close(out16, build_backend("torch", net, device="cuda").forward(ex), 2e-2)


def test_cuda_graphs_match_eager_across_batches(net):
    g = build_backend("torch", net, device="cuda", cuda_graphs=True)
    e = build_backend("torch", net, device="cuda")
    for batch in (1, 4, 1):
        ex = example_numpy(net, batch_size=batch, seed=batch)
        _close(g.forward(ex), e.forward(ex), 1e-5)


def test_batched_streams_on_gpu(net):
    b = build_backend("torch", net, device="cuda", cuda_graphs=True)
    reqs = [example_numpy(net, seed=i) for i in range(8)]
    sep = [b.forward(r) for r in reqs]
    for x, y in zip(forward_batched(b, reqs), sep):
        _close(x, y, 1e-4)


def test_onnxruntime_cuda_provider_when_installed(net):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has no CUDAExecutionProvider (onnxruntime-gpu not installed)")
    ex = example_numpy(net, batch_size=2)
    with build_backend("onnxruntime", net, device="cuda") as o:
        _close(o.forward(ex), build_backend("torch", net).forward(ex), 1e-4)


def test_bench_on_cuda_reports_device_resident_network_fps(tmp_path):
    import argparse
    import json

    from vl_tracking_ros.engines import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "gpu.json"
    args = parser.parse_args(["--model", "mvlm-small", "--backend", "torch", "--device", "cuda", "--precision",
                              "fp16", "--cuda-graphs", "--streams", "8", "--frames", "50", "--warmup", "10",
                              "--variants", "local", "--text-commands", "3", "--no-end-to-end", "--json", str(out)])
    assert bench.run(args) == 0
    r = json.loads(out.read_text())
    n = r["results"][0]["network"]["local"]
    assert n["device_resident"]["fps"] > 0 and n["throughput_ratio_vs_1_stream"] > 0
    assert r["results"][0]["cuda_max_allocated_mb"] > 0 and r["machine"]["gpu_name"]
