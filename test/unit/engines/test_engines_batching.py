"""Multi-stream batching: N streams batched == N separate runs."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from standin_engines_net import StandInNetwork, example_numpy
from vl_tracking_ros.engines.base import InputSpecError, build_backend
from vl_tracking_ros.engines.batching import BatchingServer, forward_batched

N_STREAMS = 4


@pytest.fixture(scope="module")
def net():
    return StandInNetwork()


@pytest.fixture(scope="module", params=["torch", "onnxruntime"])
def backend(request, net):
    b = build_backend(request.param, net, threads=1) if request.param == "onnxruntime" else build_backend("torch", net)
    yield b
    b.close()


def _streams(net, n=N_STREAMS):
    # each stream: its own crop, its own command's text tokens, its own modality presence
    reqs = []
    for i in range(n):
        ex = example_numpy(net, batch_size=1, seed=i)
        ex["x_present"][:, :] = [i % 2 == 0, i % 3 == 0]
        ex["text_mask"][:, 3 + i % 4:] = False
        reqs.append(ex)
    return reqs


def _assert_same(batched, separate):
    assert len(batched) == len(separate)
    for b, s in zip(batched, separate):
        assert list(b) == list(s)
        for k in b:
            assert b[k].shape == s[k].shape
            np.testing.assert_allclose(b[k], s[k], rtol=1e-4, atol=1e-5)


def test_batched_equals_separate_runs(backend, net):
    reqs = _streams(net)
    separate = [backend.forward(r) for r in reqs]
    batched = forward_batched(backend, reqs)
    _assert_same(batched, separate)
    # the streams really differ (a batching bug that mixed them up would show)
    assert not np.allclose(separate[0]["score_map"], separate[1]["score_map"])


def test_chunks_by_max_batch(net, backend):
    reqs = _streams(net, 5)
    separate = [backend.forward(r) for r in reqs]
    old = backend.max_batch_size
    backend.max_batch_size = 2
    try:
        _assert_same(forward_batched(backend, reqs), separate)
    finally:
        backend.max_batch_size = old


def test_bad_stream_input_is_rejected_before_running(net, backend):
    reqs = _streams(net, 2)
    reqs[1] = dict(reqs[1], image=reqs[1]["image"][:, :, :10])
    with pytest.raises(InputSpecError, match="image"):
        forward_batched(backend, reqs)


def test_server_batches_concurrent_streams(net, backend):
    reqs = _streams(net)
    separate = [backend.forward(r) for r in reqs]
    results = [None] * N_STREAMS
    with BatchingServer(backend, num_streams=N_STREAMS, max_wait_ms=2000) as server:
        views = [server.view() for _ in range(N_STREAMS)]
        start = threading.Barrier(N_STREAMS)

        def stream(i):
            start.wait()
            results[i] = views[i].forward(reqs[i])

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(N_STREAMS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert server.requests_served == N_STREAMS
        assert server.batches_run < N_STREAMS  # at least some requests shared a forward pass
    _assert_same(results, separate)


def test_server_runs_a_lone_stream_after_the_wait(net, backend):
    req = _streams(net, 1)[0]
    with BatchingServer(backend, num_streams=8, max_wait_ms=5) as server:
        out = server.forward(req, timeout_s=10)
    _assert_same([out], [backend.forward(req)])


def test_server_rejects_bad_input_in_the_caller(net, backend):
    req = dict(_streams(net, 1)[0])
    req.pop("image")
    with BatchingServer(backend, num_streams=2) as server:
        with pytest.raises(InputSpecError, match="missing \\['image'\\]"):
            server.submit(req)
