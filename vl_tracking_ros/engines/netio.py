"""Named, positional I/O for a per-frame ``nn.Module`` (what export needs).

ONNX / TensorRT export and CUDA graphs work on positional tensors and tuple
outputs; the models speak in named dicts. :class:`NamedIONetwork` bridges
the two once, so every backend sees the same names in the same order.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .base import DYNAMIC, EngineError, TensorSpec


class NamedIONetwork(nn.Module):
    """``forward(*tensors) -> tuple`` view of a keyword-in / dict-out network.

    network: the per-frame module, called as ``network(**{name: tensor})``.
    input_names: the order of the positional tensors.
    output_names: the order of the returned tuple (dict keys, or the names
        of the network's tuple outputs).
    """

    def __init__(self, network: nn.Module, input_names: Sequence[str], output_names: Sequence[str]) -> None:
        super().__init__()
        self.network = network
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)

    def forward(self, *tensors: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.network(**dict(zip(self.input_names, tensors)))
        return outputs_as_tuple(out, self.output_names)


def outputs_as_tuple(out: Any, output_names: Sequence[str]) -> Tuple[torch.Tensor, ...]:
    """Network output (dict / tuple / tensor) -> tuple ordered like ``output_names``."""
    if isinstance(out, Mapping):
        missing = [n for n in output_names if n not in out]
        if missing:
            raise EngineError(f"network output lacks {missing}; it returned {list(out)}")
        return tuple(out[n] for n in output_names)
    if isinstance(out, torch.Tensor):
        out = (out,)
    out = tuple(out)
    if len(out) != len(output_names):
        raise EngineError(f"network returned {len(out)} outputs but {len(output_names)} names {list(output_names)}")
    return out


@dataclass
class NetworkIO:
    """What the backends need to know about a per-frame network.

    wrapped: the positional-I/O module.
    example: ordered ``name -> tensor`` example inputs (batch ``batch_size``).
    input_spec: ``name -> TensorSpec`` with dim 0 marked DYNAMIC.
    output_names: ordered output names.
    """

    wrapped: NamedIONetwork
    example: Dict[str, torch.Tensor]
    input_spec: Dict[str, TensorSpec]
    output_names: Tuple[str, ...]


def torch_dtype_name(dtype: torch.dtype) -> str:
    """torch dtype -> numpy dtype name ("float32", "bool", "int64", ...)."""
    return torch.empty(0, dtype=dtype).numpy().dtype.name


def numpy_to_torch_dtype(name: str) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=np.dtype(name))).dtype


def example_inputs_of(network: nn.Module, batch_size: int = 1,
                      example_inputs: Optional[Mapping[str, Any]] = None,
                      input_names: Optional[Sequence[str]] = None) -> Dict[str, torch.Tensor]:
    """The network's example inputs as an ordered ``name -> tensor`` dict.

    Uses ``example_inputs`` if given, else ``network.example_inputs(batch_size=...)``
    (or without the argument, then tiled along dim 0). A tuple of tensors is
    named by ``input_names`` / ``network.input_names``.
    """
    ex: Any = example_inputs
    if ex is None:
        fn = getattr(network, "example_inputs", None)
        if fn is None:
            raise EngineError(f"{type(network).__name__} has no example_inputs(); pass example_inputs= "
                              "(name -> tensor) so the engine knows the input shapes")
        params = inspect.signature(fn).parameters
        ex = fn(batch_size=batch_size) if "batch_size" in params else fn()
    if not isinstance(ex, Mapping):
        tensors = (ex,) if isinstance(ex, torch.Tensor) else tuple(ex)
        names = tuple(input_names or getattr(network, "input_names", ()) or
                      [f"input_{i}" for i in range(len(tensors))])
        if len(names) != len(tensors):
            raise EngineError(f"{len(tensors)} example inputs but {len(names)} input names {list(names)}")
        ex = dict(zip(names, tensors))
    out: Dict[str, torch.Tensor] = {}
    for name, t in ex.items():
        t = torch.as_tensor(t)
        if t.ndim == 0:
            raise EngineError(f"example input {name!r} is a scalar; every input needs a batch dim 0")
        if t.shape[0] != batch_size:
            if t.shape[0] != 1:
                raise EngineError(f"example input {name!r} has batch {t.shape[0]}, cannot make batch {batch_size}")
            t = t.expand(batch_size, *t.shape[1:]).contiguous()
        out[str(name)] = t
    return out


def inspect_network(network: nn.Module, batch_size: int = 1,
                    example_inputs: Optional[Mapping[str, Any]] = None,
                    input_names: Optional[Sequence[str]] = None,
                    output_names: Optional[Sequence[str]] = None) -> NetworkIO:
    """Run the network once on its example inputs to learn its named I/O."""
    example = example_inputs_of(network, batch_size, example_inputs, input_names)
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            out = network(**example)
    finally:
        network.train(was_training)
    if isinstance(out, Mapping):
        names = tuple(str(k) for k in out.keys())
        if output_names and tuple(output_names) != names:
            names = tuple(output_names)
    else:
        n = 1 if isinstance(out, torch.Tensor) else len(tuple(out))
        names = tuple(output_names or getattr(network, "output_names", ()) or
                      (["output"] if n == 1 else [f"output_{i}" for i in range(n)]))
    outputs_as_tuple(out, names)  # validates the count / keys
    spec = {n: TensorSpec(n, (DYNAMIC,) + tuple(int(d) for d in t.shape[1:]), torch_dtype_name(t.dtype))
            for n, t in example.items()}
    return NetworkIO(NamedIONetwork(network, list(example), names), example, spec, names)


def example_numpy(io: NetworkIO) -> Dict[str, np.ndarray]:
    """The example inputs as numpy arrays (for parity checks)."""
    return {k: v.detach().cpu().numpy() for k, v in io.example.items()}


def model_hash(network: nn.Module, input_spec: Mapping[str, TensorSpec], output_names: Sequence[str]) -> str:
    """sha256 over the network's class, weights (names, dtypes, shapes, bytes)
    and named I/O: any change to weights or shapes changes the hash, so a
    stale engine is detected at load."""
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(f"{type(network).__module__}.{type(network).__qualname__}".encode())
    h.update(json.dumps([s.to_dict() for s in input_spec.values()] + list(output_names)).encode())
    for name, t in sorted(network.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
