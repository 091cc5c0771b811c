"""PyTorch backend: eager, CUDA graphs or ``torch.compile``, CPU or CUDA.

The device is an argument (``"cpu"``, ``"cuda"``, ``"cuda:1"``); nothing is
moved with ``.cuda()``. fp16 runs the whole network in half precision on a
CUDA device (outputs come back as float32). CUDA graphs capture one graph
per batch size on first use and replay it afterwards: this removes the
per-kernel launch overhead that dominates a small network at batch 1.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .base import (Backend, BackendUnavailableError, PrecisionUnsupportedError, TextEncoder,
                   normalize_device, normalize_precision, to_numpy)
from .netio import inspect_network

LOG = logging.getLogger(__name__)


def resolve_torch_device(device: str) -> torch.device:
    """'cpu' / 'cuda[:N]' -> torch.device; BackendUnavailableError if CUDA is absent."""
    device = normalize_device(device)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise BackendUnavailableError(
                f"device {device!r} requested but torch.cuda.is_available() is False "
                f"(torch {torch.__version__} is {built}); use device='cpu'")
        index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise BackendUnavailableError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    return torch.device("cpu")


class _GraphRunner:
    """One captured CUDA graph for one batch size with static I/O buffers."""

    def __init__(self, module: nn.Module, static_inputs: Sequence[torch.Tensor], warmup: int = 3) -> None:
        self.static_inputs = list(static_inputs)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(warmup):  # warm-up on a side stream (allocator + cudnn autotune)
                module(*self.static_inputs)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_outputs = module(*self.static_inputs)

    def __call__(self, tensors: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        for dst, src in zip(self.static_inputs, tensors):
            dst.copy_(src, non_blocking=True)
        self.graph.replay()
        return self.static_outputs


class TorchBackend(Backend):
    """Runs the per-frame network with PyTorch.

    network: the per-frame ``nn.Module`` (see ``engines.base`` conventions).
    device: "cpu" or "cuda[:N]".
    precision: "fp32", or "fp16" (CUDA only: halves memory traffic, ~1e-3
        relative error on the outputs).
    cuda_graphs: capture and replay CUDA graphs per batch size (CUDA only).
        Trades a one-off capture per batch size and fixed input buffers for
        much lower per-frame launch overhead.
    compile: wrap the network in ``torch.compile`` (``mode="reduce-overhead"``
        on CUDA, which uses CUDA graphs itself; default mode on CPU). Trades a
        slow first call (seconds to minutes) for faster steady-state frames.
    example_inputs / input_names / output_names: override what the network
        exposes (see ``netio.inspect_network``).
    max_batch_size: reject larger batches (None: any batch).
    """

    name = "torch"

    def __init__(self, network: nn.Module, device: str = "cpu", precision: str = "fp32", *,
                 text_encoder: Optional[TextEncoder] = None, cuda_graphs: bool = False, compile: bool = False,
                 example_inputs: Optional[Mapping[str, Any]] = None, input_names: Optional[Sequence[str]] = None,
                 output_names: Optional[Sequence[str]] = None, max_batch_size: Optional[int] = None) -> None:
        super().__init__(text_encoder)
        if not isinstance(network, nn.Module):
            raise TypeError(f"the torch backend needs an nn.Module, got {type(network).__name__} "
                            "(exported .onnx / .engine files run on onnxruntime / tensorrt)")
        self.precision = normalize_precision(precision)
        self.torch_device = resolve_torch_device(device)
        self.device = str(self.torch_device)
        on_cuda = self.torch_device.type == "cuda"
        if self.precision == "int8":
            raise PrecisionUnsupportedError("int8 needs TensorRT (a calibrated engine); torch runs fp32 or fp16")
        if self.precision == "fp16" and not on_cuda:
            raise PrecisionUnsupportedError("fp16 runs on CUDA only; on CPU use precision='fp32'")
        if cuda_graphs and not on_cuda:
            raise PrecisionUnsupportedError("cuda_graphs=True needs a CUDA device; on CPU leave it off")
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        io = inspect_network(network, 1, example_inputs, input_names, output_names)
        self.input_spec = io.input_spec
        self.output_names = io.output_names
        self.max_batch_size = max_batch_size
        module: nn.Module = io.wrapped
        if self.precision == "fp16" or self.torch_device.type != _module_device(network).type:
            module = copy.deepcopy(module)  # never mutate the caller's network
        module = module.to(device=self.torch_device, dtype=self.dtype).eval()
        for p in module.parameters():
            p.requires_grad_(False)
        self._module = module
        self._use_graphs = bool(cuda_graphs) and not compile
        self._graphs: Dict[int, _GraphRunner] = {}
        self._callable = module
        if compile:
            mode = "reduce-overhead" if on_cuda else "default"
            self._callable = torch.compile(module, mode=mode, dynamic=False)
        self.compiled = bool(compile)

    def _to_device(self, inputs: Mapping[str, np.ndarray]) -> Tuple[torch.Tensor, ...]:
        out = []
        for name in self.input_spec:
            t = torch.from_numpy(np.ascontiguousarray(inputs[name]))
            if t.is_floating_point():
                t = t.to(self.dtype)
            out.append(t.to(self.torch_device, non_blocking=True))
        return tuple(out)

    def _forward(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        tensors = self._to_device(inputs)
        with torch.inference_mode():
            if self._use_graphs:
                batch = int(tensors[0].shape[0])
                runner = self._graphs.get(batch)
                if runner is None:
                    LOG.info("capturing CUDA graph for batch %d", batch)
                    runner = self._graphs[batch] = _GraphRunner(self._module, [t.clone() for t in tensors])
                outs = runner(tensors)
            else:
                outs = self._callable(*tensors)
        return {n: to_numpy(t) for n, t in zip(self.output_names, outs)}

    def forward_torch(self, tensors: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Device-resident fast path for benchmarks: positional tensors already
        on ``self.torch_device`` in ``input_spec`` order, outputs stay on device."""
        with torch.inference_mode():
            if self._use_graphs:
                batch = int(tensors[0].shape[0])
                if batch not in self._graphs:
                    self._graphs[batch] = _GraphRunner(self._module, [t.clone() for t in tensors])
                return self._graphs[batch](tensors)
            return self._callable(*tensors)

    def synchronize(self) -> None:
        if self.torch_device.type == "cuda":
            torch.cuda.synchronize(self.torch_device)

    def close(self) -> None:
        self._graphs.clear()
        self._callable = None
        self._module = None
        super().close()


def _module_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")
