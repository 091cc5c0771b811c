"""TensorRT engines: build from ONNX (fp32 / fp16 / int8), verify, run.

Written against TensorRT's documented Python API (8.6 / 10.x naming):
``trt.Builder`` -> ``create_network`` -> ``trt.OnnxParser.parse`` ->
``create_builder_config`` (``BuilderFlag.FP16`` / ``BuilderFlag.INT8`` with an
``IInt8EntropyCalibrator2``, workspace via ``set_memory_pool_limit``) -> one
optimization profile (min / opt / max batch for every input) ->
``build_serialized_network``; at run time ``trt.Runtime.deserialize_cuda_engine``
and named I/O tensors (``get_tensor_name`` / ``get_tensor_mode`` /
``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3``). Device
buffers are torch CUDA tensors on the requested device, so no pycuda is needed.

``tensorrt`` is imported lazily: without it every entry point raises
BackendUnavailableError saying so (it cannot be installed on this CPU-only
dev machine; the tests that need it skip). Engines are built offline with
``vl-tracking export --format tensorrt``; at load the sidecar metadata (see
``engines.metadata``) is checked against the model hash, I/O shapes,
precision, installed TensorRT and GPU -- a mismatch rebuilds only when the
caller allows it (``allow_rebuild`` / ``build_engine_if_missing``), else it
refuses with the list of differences.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from .base import (DYNAMIC, Backend, BackendUnavailableError, EngineError, EngineMetadataError,
                   PrecisionUnsupportedError, TensorSpec, TextEncoder, normalize_device, normalize_precision)
from .metadata import EngineMetadata, EngineMetadataMismatch, read_metadata, verify_metadata, write_metadata

LOG = logging.getLogger(__name__)

#: calibration input: an iterable of batches, each ``name -> np.ndarray`` (float32 inputs, batch = calib batch)
CalibrationBatches = Iterable[Mapping[str, np.ndarray]]


class EngineNotBuiltError(EngineError):
    """No engine file where one was expected and building on first use is off."""


class EngineBuildError(EngineError):
    """The ONNX parser or the TensorRT builder failed (message lists its errors)."""


def import_tensorrt() -> Any:
    """``import tensorrt`` or BackendUnavailableError with what to do instead."""
    try:
        import tensorrt as trt  # noqa: F401  (lazy: only on machines that have it)
    except ImportError as exc:
        raise BackendUnavailableError(
            "TensorRT requested but the `tensorrt` Python package is not installed here "
            "(it needs an NVIDIA GPU + driver: `pip install tensorrt` there); use backend "
            "'onnxruntime' or 'torch', or pass fallback=('onnxruntime', 'torch')") from exc
    return trt


def _torch_cuda_device(device: str) -> Any:
    from .torch_backend import resolve_torch_device

    dev = resolve_torch_device(device)
    if dev.type != "cuda":
        raise BackendUnavailableError(f"TensorRT runs on a CUDA device, got device {device!r}")
    return dev


def runtime_identity(trt: Any, device: Any) -> Dict[str, str]:
    """TensorRT version, GPU name and compute capability of ``device`` (what an engine is tied to)."""
    import torch

    props = torch.cuda.get_device_properties(device)
    return {"tensorrt_version": str(trt.__version__), "gpu_name": str(props.name),
            "compute_capability": f"{props.major}.{props.minor}"}


def make_entropy_calibrator(trt: Any, batches: CalibrationBatches, batch_size: int, cache_path: Optional[os.PathLike], device: Any) -> Any:
    """An ``IInt8EntropyCalibrator2`` fed from ``batches`` (numpy, copied to
    ``device``), reading / writing ``cache_path`` so later builds skip
    calibration. Built inside a function because the base class comes from
    the lazily imported ``tensorrt``."""
    import torch

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._iter: Iterator[Mapping[str, np.ndarray]] = iter(batches)
            self._live: Dict[str, Any] = {}  # keep device tensors alive while TensorRT reads them
            self.batches_seen = 0

        def get_batch_size(self) -> int:
            return int(batch_size)

        def get_batch(self, names: Sequence[str]) -> Optional[List[int]]:
            try:
                batch = next(self._iter)
            except StopIteration:
                return None
            missing = [n for n in names if n not in batch]
            if missing:  # an exception would be swallowed inside TensorRT's callback: log and stop
                LOG.error("calibration batch lacks inputs %s (has %s); stopping calibration", missing, list(batch))
                return None
            self._live = {n: torch.from_numpy(np.ascontiguousarray(batch[n])).to(device) for n in names}
            self.batches_seen += 1
            if self.batches_seen % 10 == 0:
                LOG.info("int8 calibration: %d batches", self.batches_seen)
            return [int(self._live[n].data_ptr()) for n in names]

        def read_calibration_cache(self) -> Optional[bytes]:
            if cache_path and Path(cache_path).is_file():
                LOG.info("int8 calibration cache %s reused", cache_path)
                return Path(cache_path).read_bytes()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_path:
                Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
                Path(cache_path).write_bytes(bytes(cache))

    return _EntropyCalibrator()


def _progress_monitor(trt: Any) -> Optional[Any]:
    """A TensorRT >= 10 IProgressMonitor that logs build phases (None on older TensorRT)."""
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class _LogProgress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._t0: Dict[str, float] = {}

        def phase_start(self, phase_name: str, parent_phase: Optional[str], num_steps: int) -> None:
            self._t0[phase_name] = time.monotonic()
            LOG.info("TensorRT build: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            LOG.info("TensorRT build: %s done in %.1f s", phase_name,
                     time.monotonic() - self._t0.pop(phase_name, time.monotonic()))

    return _LogProgress()


def build_engine(onnx_path: os.PathLike, engine_path: os.PathLike, *, device: str = "cuda",
                 precision: str = "fp16", min_batch: int = 1, opt_batch: int = 1, max_batch: int = 1,
                 workspace_mb: int = 2048, calibration_batches: Optional[CalibrationBatches] = None,
                 calibration_cache: Optional[os.PathLike] = None, model_name: Optional[str] = None,
                 model_hash: Optional[str] = None) -> EngineMetadata:
    """Build a TensorRT engine from ``onnx_path`` and write it with its metadata.

    precision: "fp32", "fp16" (needs fast fp16 on the GPU) or "int8" (needs
        ``calibration_batches`` of ``opt_batch`` frames each, or an existing
        ``calibration_cache``; fp16 is enabled too so layers TensorRT will not
        quantize still run fast).
    min/opt/max_batch: the optimization profile of the batch dim of every
        input (opt is what TensorRT tunes kernels for; a wider range costs
        some speed at the extremes).
    workspace_mb: builder scratch memory. More lets TensorRT try more tactics.
    model_name / model_hash: recorded in the metadata (default: read from
        the ONNX file's own sidecar).
    Returns the metadata written next to the engine.
    """
    trt = import_tensorrt()
    dev = _torch_cuda_device(device)
    precision = normalize_precision(precision)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX file {onnx_path} does not exist; export it first")
    if not (1 <= min_batch <= opt_batch <= max_batch):
        raise ValueError(f"need 1 <= min_batch <= opt_batch <= max_batch, got {min_batch}, {opt_batch}, {max_batch}")
    if precision == "int8" and calibration_batches is None and not (calibration_cache and Path(calibration_cache).is_file()):
        raise ValueError("int8 needs calibration_batches (generated frames) or an existing calibration_cache")
    from .onnx_export import onnx_io_spec

    spec, output_names = onnx_io_spec(onnx_path)
    try:
        onnx_meta = read_metadata(onnx_path)
    except EngineMetadataError:
        onnx_meta = None
    model_name = model_name or (onnx_meta.model if onnx_meta else onnx_path.stem)
    model_hash = model_hash or (onnx_meta.model_hash if onnx_meta else "")
    for s in spec.values():
        if DYNAMIC in s.shape[1:]:
            raise EngineBuildError(f"input {s.name!r} has a dynamic non-batch dim {s.shape}; export with fixed shapes")
        if s.shape[0] != DYNAMIC and not (min_batch == max_batch == s.shape[0]):
            raise EngineBuildError(f"{onnx_path} has a fixed batch {s.shape[0]}; re-export with a dynamic batch "
                                   f"for the profile {min_batch}..{max_batch}")

    import torch

    with torch.cuda.device(dev):
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH") and int(trt.__version__.split(".")[0]) < 10:
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EngineBuildError(f"TensorRT could not parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
        if precision in ("fp16", "int8"):
            if not getattr(builder, "platform_has_fast_fp16", True):  # deprecated in TensorRT 10
                raise PrecisionUnsupportedError("this GPU has no fast fp16; build precision='fp32'")
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            rest = tuple(spec[tensor.name].shape[1:])
            profile.set_shape(tensor.name, (min_batch,) + rest, (opt_batch,) + rest, (max_batch,) + rest)
        config.add_optimization_profile(profile)
        if precision == "int8":
            if not getattr(builder, "platform_has_fast_int8", True):
                raise PrecisionUnsupportedError("this GPU has no fast int8; build precision='fp16'")
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = make_entropy_calibrator(
                trt, calibration_batches or [], opt_batch, calibration_cache, dev)
            config.set_calibration_profile(profile)
        monitor = _progress_monitor(trt)
        if monitor is not None:
            config.progress_monitor = monitor
        LOG.info("building TensorRT %s engine from %s (batch %d..%d, opt %d) -- this takes minutes",
                 precision, onnx_path, min_batch, max_batch, opt_batch)
        t0 = time.monotonic()
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineBuildError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)")
        engine_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = engine_path.with_name(engine_path.name + ".tmp")
        tmp.write_bytes(bytes(serialized))
        os.replace(tmp, engine_path)
        LOG.info("engine %s built in %.1f s", engine_path, time.monotonic() - t0)
    meta = EngineMetadata(format="tensorrt", model=model_name, model_hash=model_hash, precision=precision,
                          inputs=[s if s.shape[0] == DYNAMIC else TensorSpec(s.name, (DYNAMIC,) + s.shape[1:], s.dtype)
                                  for s in spec.values()],
                          outputs=list(output_names), min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch,
                          **runtime_identity(trt, dev),
                          extra={"onnx": onnx_path.name, "workspace_mb": int(workspace_mb)})
    write_metadata(engine_path, meta)
    return meta


def expected_engine_fields(trt: Any, device: Any, precision: str, model_hash: Optional[str] = None,
                           inputs: Optional[Sequence[TensorSpec]] = None,
                           outputs: Optional[Sequence[str]] = None, max_batch: Optional[int] = None) -> Dict[str, Any]:
    """What a loaded engine's metadata must say on this machine for this model."""
    exp: Dict[str, Any] = {"format": "tensorrt", "precision": precision, **runtime_identity(trt, device)}
    if model_hash:
        exp["model_hash"] = model_hash
    if inputs is not None:
        exp["inputs"] = [TensorSpec(s.name, (DYNAMIC,) + tuple(s.shape[1:]), s.dtype) for s in inputs]
    if outputs is not None:
        exp["outputs"] = list(outputs)
    if max_batch is not None:
        exp["max_batch"] = int(max_batch)
    return exp


class TensorRTBackend(Backend):
    """Runs a verified TensorRT engine on a CUDA device.

    engine_path: ``.engine`` file with its ``.engine.json`` sidecar.
    expected: fields the metadata must match besides precision / TensorRT
        version / GPU (e.g. ``model_hash``, ``inputs``, ``max_batch``).
    """

    name = "tensorrt"

    def __init__(self, engine_path: os.PathLike, device: str = "cuda", precision: str = "fp16", *,
                 text_encoder: Optional[TextEncoder] = None, expected: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(text_encoder)
        trt = import_tensorrt()
        import torch

        from .netio import numpy_to_torch_dtype

        self.torch_device = _torch_cuda_device(device)
        self.device = str(self.torch_device)
        self.precision = normalize_precision(precision)
        self.engine_path = Path(engine_path)
        if not self.engine_path.is_file():
            raise EngineNotBuiltError(f"no TensorRT engine at {self.engine_path}")
        exp = expected_engine_fields(trt, self.torch_device, self.precision)
        exp.update(expected or {})
        self.metadata = verify_metadata(self.engine_path, exp,
                                        hint="rebuild it with `vl-tracking export --format tensorrt` on this machine")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self.torch_device):
            self._engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
            if self._engine is None:
                raise EngineError(f"TensorRT could not deserialize {self.engine_path} (built by another version?)")
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(device=self.torch_device)
        self._torch_dtypes: Dict[str, Any] = {}
        self.input_spec = {}
        outputs: List[str] = []
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            np_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
            self._torch_dtypes[name] = numpy_to_torch_dtype(np_dtype.name)
            if self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                shape = tuple(int(d) for d in self._engine.get_tensor_shape(name))
                self.input_spec[name] = TensorSpec(name, (DYNAMIC,) + shape[1:], np_dtype.name)
            else:
                outputs.append(name)
        self.output_names = tuple(o for o in self.metadata.outputs if o in outputs) or tuple(outputs)
        self.max_batch_size = self.metadata.max_batch

    @classmethod
    def from_network_or_path(cls, network_or_path: Any, device: str = "cuda", precision: str = "fp16", *,
                             text_encoder: Optional[TextEncoder] = None, engine_path: Optional[str] = None,
                             onnx_path: Optional[str] = None, build_engine_if_missing: bool = False,
                             allow_rebuild: bool = False, max_batch_size: int = 1, opt_batch_size: int = 1,
                             workspace_mb: int = 2048, calibration_frames: Optional[CalibrationBatches] = None,
                             calibration_cache: Optional[str] = None, model_hash: Optional[str] = None,
                             example_inputs: Optional[Mapping[str, Any]] = None,
                             input_names: Optional[Sequence[str]] = None,
                             output_names: Optional[Sequence[str]] = None,
                             progress: Optional[Callable[[str], None]] = None) -> "TensorRTBackend":
        """Load (and, only when allowed, build) the engine for a network / ONNX / engine path.

        network_or_path: ``.engine`` path (load + verify), ``.onnx`` path or
            ``nn.Module`` (then ``engine_path`` names the cached engine).
        build_engine_if_missing: build on first use when no engine exists
            (logs progress; takes minutes). Off by default: engines are built
            offline with ``vl-tracking export``.
        allow_rebuild: rebuild when the engine's metadata does not match
            (else EngineMetadataMismatch is raised, listing the fields).
        """
        trt = import_tensorrt()  # clear error first when TensorRT is absent
        dev = _torch_cuda_device(device)
        precision = normalize_precision(precision)
        say = progress or LOG.info
        network = None
        if isinstance(network_or_path, (str, os.PathLike)):
            p = Path(network_or_path)
            if p.suffix == ".onnx":
                onnx_path = str(p)
                engine_path = engine_path or str(p.with_name(f"{p.stem}-{precision}-b{max_batch_size}.engine"))
            else:
                engine_path = str(p)
        else:
            network = network_or_path
            if engine_path is None:
                raise EngineNotBuiltError(
                    "tensorrt from an nn.Module needs engine_path= (the cached engine); trackers should use "
                    "engines.cache.build_cached_backend(..., preset=, variant=), which finds the engine that "
                    "`vl-tracking export --model PRESET --format tensorrt` built")
        expected: Dict[str, Any] = {"max_batch": max_batch_size}
        if network is not None:
            from .netio import inspect_network, model_hash as _hash

            io = inspect_network(network, 1, example_inputs, input_names, output_names)
            model_hash = model_hash or _hash(network, io.input_spec, io.output_names)
            expected.update(inputs=list(io.input_spec.values()), outputs=list(io.output_names))
        if model_hash:
            expected["model_hash"] = model_hash

        def _build() -> None:
            nonlocal onnx_path
            if network is not None and onnx_path is None:
                from .onnx_export import export_onnx

                onnx_path = str(Path(engine_path).with_suffix(".onnx"))
                say(f"exporting ONNX to {onnx_path}")
                export_onnx(network, onnx_path, model_name=type(network).__name__, dynamic_batch=True,
                            example_inputs=example_inputs, input_names=input_names, output_names=output_names)
            if onnx_path is None:
                raise EngineNotBuiltError(f"cannot build {engine_path}: no ONNX file or network given")
            say(f"building TensorRT {precision} engine {engine_path} (minutes)")
            build_engine(onnx_path, engine_path, device=str(dev), precision=precision, max_batch=max_batch_size,
                         opt_batch=min(opt_batch_size, max_batch_size), workspace_mb=workspace_mb,
                         calibration_batches=calibration_frames, calibration_cache=calibration_cache,
                         model_hash=model_hash)

        if not Path(engine_path).is_file():
            if not build_engine_if_missing:
                raise EngineNotBuiltError(
                    f"no TensorRT engine at {engine_path}; build it offline with `vl-tracking export --model PRESET "
                    f"--format tensorrt{' --' + precision if precision != 'fp32' else ''}` or set build_engine_if_missing")
            _build()
        try:
            return cls(engine_path, str(dev), precision, text_encoder=text_encoder, expected=expected)
        except EngineMetadataMismatch as exc:
            if not allow_rebuild:
                raise
            say(f"engine out of date ({exc}); rebuilding")
            _build()
            return cls(engine_path, str(dev), precision, text_encoder=text_encoder, expected=expected)

    def _forward(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        import torch

        from .base import to_numpy

        ctx = self._context
        live = []
        with torch.cuda.device(self.torch_device), torch.cuda.stream(self._stream):
            for name in self.input_spec:
                t = torch.from_numpy(np.ascontiguousarray(inputs[name])).to(
                    self.torch_device, dtype=self._torch_dtypes[name], non_blocking=True)
                live.append(t)
                ctx.set_input_shape(name, tuple(t.shape))
                ctx.set_tensor_address(name, int(t.data_ptr()))
            outs = {}
            for name in self.output_names:
                shape = tuple(int(d) for d in ctx.get_tensor_shape(name))
                buf = torch.empty(shape, dtype=self._torch_dtypes[name], device=self.torch_device)
                ctx.set_tensor_address(name, int(buf.data_ptr()))
                outs[name] = buf
            if not ctx.execute_async_v3(self._stream.cuda_stream):
                raise EngineError(f"TensorRT execution failed for {self.engine_path}")
        self._stream.synchronize()
        return {n: to_numpy(t) for n, t in outs.items()}

    def close(self) -> None:
        self._context = None
        self._engine = None
        self._runtime = None
        super().close()
