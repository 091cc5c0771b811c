"""onnxruntime backend: runs an exported ONNX on CPU (or CUDA / TensorRT EPs).

Execution providers are chosen from the device and what the installed
onnxruntime offers (``onnxruntime.get_available_providers()``): ``cpu`` ->
CPUExecutionProvider; ``cuda`` -> CUDAExecutionProvider (needs the
onnxruntime-gpu wheel); ``providers=["tensorrt"]`` -> TensorrtExecutionProvider
with its own engine cache (fp16 via ``trt_fp16_enable``). A provider that is
not installed is a BackendUnavailableError naming the ones that are.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .base import (DYNAMIC, Backend, BackendUnavailableError, EngineError, PrecisionUnsupportedError, TensorSpec,
                   TextEncoder, normalize_device, normalize_precision)

LOG = logging.getLogger(__name__)

_PROVIDER_ALIASES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                     "tensorrt": "TensorrtExecutionProvider"}


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError("onnxruntime is not installed (pip install onnxruntime)") from exc
    return onnxruntime


def choose_providers(device: str, precision: str, providers: Optional[Sequence[str]] = None,
                     trt_cache_dir: Optional[str] = None) -> List[Any]:
    """Execution-provider list for ``InferenceSession`` (most preferred first).

    Raises BackendUnavailableError when a needed provider is not in this
    onnxruntime build, PrecisionUnsupportedError for a precision the
    providers cannot run.
    """
    ort = _import_ort()
    available = ort.get_available_providers()
    device = normalize_device(device)
    precision = normalize_precision(precision)
    device_id = int(device.split(":")[1]) if ":" in device else 0
    if providers:
        wanted = [_PROVIDER_ALIASES.get(p.lower(), p) if isinstance(p, str) else p for p in providers]
    elif device.startswith("cuda"):
        wanted = ["CUDAExecutionProvider"]
    else:
        wanted = ["CPUExecutionProvider"]
    names = [w if isinstance(w, str) else w[0] for w in wanted]
    missing = [n for n in names if n not in available]
    if missing:
        hint = " (install the onnxruntime-gpu wheel on a CUDA machine)" if any(
            n in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for n in missing) else ""
        raise BackendUnavailableError(f"onnxruntime {ort.__version__} here lacks {missing}; available: {available}{hint}")
    if device.startswith("cuda") and not any(n in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for n in names):
        raise BackendUnavailableError(f"device {device!r} needs the CUDA or TensorRT execution provider, got {names}")
    if precision == "int8":
        raise PrecisionUnsupportedError("int8 needs a calibrated TensorRT engine (backend 'tensorrt')")
    if precision == "fp16" and "TensorrtExecutionProvider" not in names:
        raise PrecisionUnsupportedError("fp16 on onnxruntime needs the TensorRT execution provider "
                                        "(providers=['tensorrt']); CPU / CUDA EPs run the fp32 graph")
    out: List[Any] = []
    for n in names:
        if n == "CUDAExecutionProvider":
            out.append((n, {"device_id": device_id}))
        elif n == "TensorrtExecutionProvider":
            opts: Dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": precision == "fp16"}
            if trt_cache_dir:
                opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(trt_cache_dir))
            out.append((n, opts))
        else:
            out.append(n)
    if "CPUExecutionProvider" not in names:
        out.append("CPUExecutionProvider")  # for ops the accelerator EP does not take
    return out


def _env_threads() -> Optional[int]:
    value = os.environ.get("VL_TRACKING_ORT_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"VL_TRACKING_ORT_THREADS must be a positive integer, got {value!r}")
    return int(value)


_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
              "tensor(bool)": "bool", "tensor(int64)": "int64", "tensor(int32)": "int32",
              "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


class OrtBackend(Backend):
    """Runs an ONNX file with onnxruntime.

    onnx_path: the exported per-frame network.
    device / precision: see :func:`choose_providers`.
    threads: intra-op threads (None: ``$VL_TRACKING_ORT_THREADS`` if set, else
        onnxruntime's default, one per core). More threads lower latency
        until they fight other processes for cores; on a shared or busy
        machine 1 thread wastes far less CPU time spinning.
    providers: explicit EP list ("cpu", "cuda", "tensorrt" or full names).
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: Union[str, os.PathLike], device: str = "cpu", precision: str = "fp32", *,
                 text_encoder: Optional[TextEncoder] = None, providers: Optional[Sequence[str]] = None,
                 threads: Optional[int] = None, max_batch_size: Optional[int] = None,
                 trt_cache_dir: Optional[str] = None) -> None:
        super().__init__(text_encoder)
        ort = _import_ort()
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise FileNotFoundError(f"ONNX file {self.onnx_path} does not exist; export it with "
                                    "`vl-tracking export --model PRESET --format onnx`")
        self.device = normalize_device(device)
        self.precision = normalize_precision(precision)
        plist = choose_providers(self.device, self.precision, providers, trt_cache_dir)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = threads or _env_threads()
        if threads:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        self.threads = threads
        so.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.onnx_path), sess_options=so, providers=plist)
        except Exception as exc:  # ort raises its own exception types
            raise EngineError(f"onnxruntime could not load {self.onnx_path}: {exc}") from exc
        self.providers = self._session.get_providers()
        self.input_spec = {}
        for i in self._session.get_inputs():
            dims = tuple(d if isinstance(d, int) and d > 0 else DYNAMIC for d in i.shape)
            if i.type not in _ORT_TYPES:
                raise EngineError(f"ONNX input {i.name!r} has unsupported type {i.type}")
            self.input_spec[i.name] = TensorSpec(i.name, dims, _ORT_TYPES[i.type])
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        first = next(iter(self.input_spec.values()), None)
        fixed = first is not None and first.shape and first.shape[0] != DYNAMIC
        self.max_batch_size = max_batch_size if max_batch_size is not None else (first.shape[0] if fixed else None)
        self._tmpdir: Optional[str] = None

    @classmethod
    def from_network_or_path(cls, network_or_path: Any, device: str = "cpu", precision: str = "fp32", *,
                             text_encoder: Optional[TextEncoder] = None, onnx_dir: Optional[str] = None,
                             onnx_path: Optional[str] = None, dynamic_batch: bool = True, opset: int = 17,
                             example_inputs: Optional[Mapping[str, Any]] = None,
                             input_names: Optional[Sequence[str]] = None,
                             output_names: Optional[Sequence[str]] = None, **kwargs: Any) -> "OrtBackend":
        """From an ``.onnx`` path, or export an ``nn.Module`` first (to
        ``onnx_path`` / ``onnx_dir``, or a temporary directory removed on close)."""
        if isinstance(network_or_path, (str, os.PathLike)):
            return cls(network_or_path, device, precision, text_encoder=text_encoder, **kwargs)
        choose_providers(device, precision, kwargs.get("providers"))  # fail fast before exporting
        from .onnx_export import export_onnx

        tmpdir = None
        if onnx_path is None:
            if onnx_dir is None:
                tmpdir = onnx_dir = tempfile.mkdtemp(prefix="vlt_onnx_")
            onnx_path = str(Path(onnx_dir) / f"{type(network_or_path).__name__.lower()}.onnx")
        try:
            export_onnx(network_or_path, onnx_path, model_name=type(network_or_path).__name__,
                        dynamic_batch=dynamic_batch, opset=opset, example_inputs=example_inputs,
                        input_names=input_names, output_names=output_names)
            backend = cls(onnx_path, device, precision, text_encoder=text_encoder, **kwargs)
        except BaseException:
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        backend._tmpdir = tmpdir
        return backend

    def _forward(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        feed = {}
        for name, spec in self.input_spec.items():
            arr = inputs[name]
            if arr.dtype != np.dtype(spec.dtype):
                arr = arr.astype(spec.dtype)
            feed[name] = np.ascontiguousarray(arr)
        outs = self._session.run(list(self.output_names), feed)
        return {n: (o.astype(np.float32) if o.dtype == np.float16 else o) for n, o in zip(self.output_names, outs)}

    def close(self) -> None:
        self._session = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        super().close()
