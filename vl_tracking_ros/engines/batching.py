"""Multi-stream batching: N camera streams, one forward pass per round.

One process serving several cameras keeps one tracker per stream (state is
per stream) but one engine. Each stream's per-frame inputs (batch 1, its own
crop and its own command's text tokens) are stacked along dim 0, run in one
``Backend.forward`` and split back, so the GPU sees batch N instead of N
launches of batch 1.

Two ways to use it:

* synchronous -- :func:`forward_batched` ``(backend, [inputs_0, ..., inputs_N-1])``
  when one loop holds every stream's frame;
* threaded -- :class:`BatchingServer`: each stream (e.g. one ROS callback
  per camera) calls ``server.view()`` once and uses that view as its
  tracker's backend; ``view.forward`` blocks until the server has batched it
  with the other streams' requests (or ``max_wait_ms`` passed).

Batched results equal separate runs (up to the engine's float reordering);
``test/unit/engines/test_batching.py`` checks it.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .base import Backend, EngineError, InputSpecError, validate_inputs


def _split_sizes(requests: Sequence[Mapping[str, np.ndarray]], backend: Backend) -> List[int]:
    return [validate_inputs(r, backend.input_spec) for r in requests]


def forward_batched(backend: Backend, requests: Sequence[Mapping[str, np.ndarray]]) -> List[Dict[str, np.ndarray]]:
    """Run several streams' inputs as one batch; return one output dict per request.

    requests: per-stream ``name -> array`` dicts (usually batch 1 each; any
        batch works). Chunked by ``backend.max_batch_size`` when set.
    Returns outputs in request order, each with that request's batch size.
    """
    if not requests:
        return []
    sizes = _split_sizes(requests, backend)
    limit = backend.max_batch_size or sum(sizes)
    if max(sizes) > limit:
        raise InputSpecError(f"a request of batch {max(sizes)} exceeds the engine's max batch {limit}")
    results: List[Dict[str, np.ndarray]] = []
    start = 0
    while start < len(requests):  # greedy chunks of whole requests up to the engine's max batch
        end, total = start, 0
        while end < len(requests) and total + sizes[end] <= limit:
            total += sizes[end]
            end += 1
        chunk = requests[start:end]
        stacked = {n: np.concatenate([np.asarray(r[n]) for r in chunk], axis=0) for n in backend.input_spec}
        out = backend.forward(stacked)
        offset = 0
        for size in sizes[start:end]:
            results.append({k: v[offset:offset + size] for k, v in out.items()})
            offset += size
        start = end
    return results


class BatchingServer:
    """Collects ``forward`` requests from several threads into batched runs.

    backend: the shared engine (its ``forward`` is only ever called from the
        server's worker thread).
    num_streams: the batch the server waits for before running (the number
        of cameras). Requests from fewer streams run after ``max_wait_ms``.
    max_wait_ms: how long the first queued request may wait for the others.
        Larger fills batches better when cameras are out of phase, at the
        cost of up to that much extra latency per frame.
    """

    def __init__(self, backend: Backend, num_streams: int, max_wait_ms: float = 5.0) -> None:
        if num_streams < 1:
            raise ValueError(f"num_streams must be >= 1, got {num_streams}")
        self.backend = backend
        self.num_streams = int(num_streams)
        self.max_wait_s = float(max_wait_ms) / 1e3
        self._cv = threading.Condition()
        self._queue: List[Tuple[Mapping[str, np.ndarray], Future]] = []
        self._stopped = False
        self.batches_run = 0
        self.requests_served = 0
        self._worker = threading.Thread(target=self._loop, name="vlt-batching", daemon=True)
        self._worker.start()

    def submit(self, inputs: Mapping[str, np.ndarray]) -> "Future[Dict[str, np.ndarray]]":
        """Queue one request; the future resolves to its outputs (or its error)."""
        validate_inputs(inputs, self.backend.input_spec)  # bad input fails in the caller, not the worker
        fut: Future = Future()
        with self._cv:
            if self._stopped:
                raise EngineError("batching server is closed")
            self._queue.append((inputs, fut))
            self._cv.notify_all()
        return fut

    def forward(self, inputs: Mapping[str, np.ndarray], timeout_s: Optional[float] = 30.0) -> Dict[str, np.ndarray]:
        """Blocking ``submit(...).result()``."""
        return self.submit(inputs).result(timeout=timeout_s)

    def view(self) -> "BatchedBackendView":
        """A Backend for one stream whose ``forward`` goes through this server."""
        return BatchedBackendView(self)

    def _take_batch(self) -> List[Tuple[Mapping[str, np.ndarray], Future]]:
        with self._cv:
            while not self._queue and not self._stopped:
                self._cv.wait()
            if self._stopped and not self._queue:
                return []
            deadline = time.monotonic() + self.max_wait_s
            while len(self._queue) < self.num_streams and not self._stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            batch, self._queue = self._queue[:self.num_streams], self._queue[self.num_streams:]
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            try:
                outs = forward_batched(self.backend, [b[0] for b in batch])
            except Exception as exc:  # deliver the error to every waiting stream
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            self.batches_run += 1
            self.requests_served += len(batch)
            for (_, fut), out in zip(batch, outs):
                fut.set_result(out)

    def close(self) -> None:
        """Serve what is queued, stop the worker (the backend stays open)."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._worker.join(timeout=10.0)

    def __enter__(self) -> "BatchingServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class BatchedBackendView(Backend):
    """Per-stream Backend routed through a :class:`BatchingServer` (same
    name / device / precision / input_spec as the shared engine)."""

    def __init__(self, server: BatchingServer) -> None:
        shared = server.backend
        super().__init__(getattr(shared, "_text_encoder", None))
        self._server = server
        self.name = shared.name
        self.device = shared.device
        self.precision = shared.precision
        self.input_spec = shared.input_spec
        self.output_names = shared.output_names
        self.max_batch_size = shared.max_batch_size

    def _forward(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self._server.forward(inputs)

    def close(self) -> None:  # the shared engine is closed by its owner, not by one stream
        super().close()
