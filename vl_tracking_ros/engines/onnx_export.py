"""Export a per-frame network to ONNX (named I/O, opset >= 17, checked).

The exported graph has the network's input / output names, fixed shapes
except (optionally) a dynamic batch axis ``batch`` on every input and output,
and carries ``model_hash`` / ``model`` in its ``metadata_props``. A sidecar
``X.onnx.json`` (see ``engines.metadata``) records the I/O spec, so the
TensorRT builder and the onnxruntime backend can check what they load.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from .base import DYNAMIC, EngineError, TensorSpec
from .metadata import EngineMetadata, write_metadata
from .netio import inspect_network, model_hash

LOG = logging.getLogger(__name__)

#: lowest opset we emit (LayerNormalization is a native op from 17)
MIN_OPSET = 17
DEFAULT_OPSET = 17


class OnnxExportError(EngineError):
    """torch.onnx.export failed or produced a graph onnx.checker rejects."""


@dataclass
class OnnxExport:
    """Result of :func:`export_onnx`.

    path: the ``.onnx`` file; metadata: its sidecar (also written to disk).
    input_spec: name -> TensorSpec (dim 0 DYNAMIC when the batch is dynamic).
    """

    path: Path
    input_spec: Dict[str, TensorSpec]
    output_names: Tuple[str, ...]
    model_hash: str
    metadata: EngineMetadata


@contextlib.contextmanager
def _mha_fastpath_disabled() -> Iterator[None]:
    """nn.TransformerEncoderLayer / MultiheadAttention take a fused inference
    fast path (``aten::_transformer_encoder_layer_fwd``) that has no ONNX
    symbolic; trace the composite ops instead (same math)."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def export_onnx(network: nn.Module, out_path: os.PathLike, *, model_name: str = "network",
                batch_size: int = 1, dynamic_batch: bool = True, opset: int = DEFAULT_OPSET,
                example_inputs: Optional[Mapping[str, Any]] = None,
                input_names: Optional[Sequence[str]] = None,
                output_names: Optional[Sequence[str]] = None, check: bool = True) -> OnnxExport:
    """Export ``network`` (fp32, eval mode) to ``out_path``.

    batch_size: the batch of the traced example (and of every input when
        ``dynamic_batch`` is False).
    dynamic_batch: mark dim 0 of every input and output as the dynamic axis
        ``batch`` (one ONNX serves 1..N streams); False gives fully fixed
        shapes, which some accelerators compile better.
    opset: ONNX opset, >= 17.
    check: run ``onnx.checker.check_model`` on the result.
    Raises OnnxExportError with the exporter's message on failure.
    """
    if int(opset) < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    io = inspect_network(network, batch_size, example_inputs, input_names, output_names)
    digest = model_hash(network, io.input_spec, io.output_names)
    device = next((p.device for p in network.parameters()), torch.device("cpu"))
    args = tuple(t.to(device) for t in io.example.values())
    in_names, out_names = list(io.example), list(io.output_names)
    dynamic_axes = ({n: {0: "batch"} for n in in_names + out_names} if dynamic_batch else None)
    was_training = network.training
    network.eval()
    try:
        with warnings.catch_warnings():
            # the TorchScript exporter is deprecated in favour of the dynamo one, which needs
            # onnxscript (not installed here); the TorchScript path is still the supported one for it
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=".*will be removed.*")
            # shape asserts inside torch's own modules; parity tests at other batch sizes catch real ones
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
            with torch.no_grad(), _mha_fastpath_disabled():
                torch.onnx.export(io.wrapped, args, str(out_path), dynamo=False, opset_version=int(opset),
                                  input_names=in_names, output_names=out_names, dynamic_axes=dynamic_axes,
                                  do_constant_folding=True)
    except Exception as exc:  # the exporter raises many types; re-raise as one clear error
        raise OnnxExportError(f"ONNX export of {type(network).__name__} failed: {exc}") from exc
    finally:
        network.train(was_training)

    import onnx

    model = onnx.load(str(out_path))
    graph_in = [i.name for i in model.graph.input if i.name in in_names]
    graph_out = [o.name for o in model.graph.output]
    if graph_in != in_names or graph_out != out_names:
        # an input the network ignores is dropped by the tracer: say which
        raise OnnxExportError(f"exported graph I/O {graph_in} -> {graph_out} differs from the network's "
                              f"{in_names} -> {out_names} (an input the network does not use is removed by "
                              "the exporter; use every input or drop it from example_inputs)")
    for key, value in (("model", model_name), ("model_hash", digest), ("exporter", f"torch {torch.__version__}")):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, str(out_path))
    if check:
        try:
            onnx.checker.check_model(str(out_path), full_check=True)
        except Exception as exc:
            raise OnnxExportError(f"onnx.checker rejected {out_path}: {exc}") from exc
    spec = io.input_spec if dynamic_batch else {n: s.with_batch(batch_size) for n, s in io.input_spec.items()}
    meta = EngineMetadata(format="onnx", model=model_name, model_hash=digest, precision="fp32",
                          inputs=list(spec.values()), outputs=out_names,
                          min_batch=1 if dynamic_batch else batch_size, opt_batch=batch_size,
                          max_batch=-1 if dynamic_batch else batch_size,
                          extra={"opset": int(opset), "dynamic_batch": bool(dynamic_batch)})
    write_metadata(out_path, meta)
    LOG.info("exported %s to %s (opset %d, %s batch)", model_name, out_path, opset,
             "dynamic" if dynamic_batch else f"fixed {batch_size}")
    return OnnxExport(out_path, spec, tuple(out_names), digest, meta)


def onnx_io_spec(path: os.PathLike) -> Tuple[Dict[str, TensorSpec], Tuple[str, ...]]:
    """Named input specs and output names of an ONNX file (symbolic dims -> DYNAMIC)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    spec: Dict[str, TensorSpec] = {}
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        t = inp.type.tensor_type
        dims = tuple(int(d.dim_value) if d.HasField("dim_value") else DYNAMIC for d in t.shape.dim)
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name
        spec[inp.name] = TensorSpec(inp.name, dims, dtype)
    return spec, tuple(o.name for o in model.graph.output)
