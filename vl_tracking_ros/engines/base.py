"""The one backend interface every inference engine implements.

A tracker splits its model in two parts and only the second is accelerated:

* the **text encoder** runs once per command (``Backend.encode_text``). It
  delegates to the model's own text encoder (a callable given at build time)
  and never touches the image engine, so a new command never rebuilds or
  re-binds anything;
* the **per-frame network** (an ``nn.Module`` with fixed-shape tensor inputs
  and tensor outputs) runs once per frame (``Backend.forward``) on numpy
  arrays with *named* inputs and outputs, on torch, onnxruntime or TensorRT.

How a tracker uses it::

    from vl_tracking_ros.engines.base import build_backend

    backend = build_backend("torch", network, device="cpu", precision="fp32",
                            text_encoder=model.encode_text_numpy)
    text = backend.encode_text(["the red car"])      # once per command, cached
    ...
    out = backend.forward({"image": crop_nchw, **text, ...})   # every frame
    scores = out["scores"]                                     # numpy
    backend.close()

Conventions for the per-frame network (what ``build_backend`` expects when it
is given an ``nn.Module``):

* ``network.example_inputs(batch_size=1)`` returns an *ordered* dict
  ``name -> torch.Tensor`` (e.g. ``image`` (B,3,H,W) float32, ``text_tokens``
  (B,L,D) float32, ``text_mask`` (B,L) bool, ``x_image`` (B,X,3,H,W) float32,
  ``modality_mask`` (B,X) bool). Dim 0 is always the batch.
* ``network(**inputs)`` (keyword call with those names) returns a dict
  ``name -> Tensor`` or a tuple; for a tuple, ``network.output_names`` names
  the entries. Outputs have the batch in dim 0.
* No data-dependent Python control flow on tensor values inside ``forward``
  (ONNX / TensorRT export traces it once).

Inputs given to ``forward`` are validated against ``input_spec`` (names, rank,
fixed dims, dtype kind) and raise :class:`InputSpecError` with the offending
name. Outputs are always float32 (or the network's integer/bool dtype) numpy
arrays whatever the engine precision, so callers never see fp16.
"""
from __future__ import annotations

import abc
import importlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

LOG = logging.getLogger(__name__)

#: backend kinds, fastest first (the fallback chain walks it left to right)
BACKEND_KINDS: Tuple[str, ...] = ("tensorrt", "onnxruntime", "torch")
PRECISIONS: Tuple[str, ...] = ("fp32", "fp16", "int8")
#: a dim of -1 in a TensorSpec shape is dynamic (only the batch dim may be)
DYNAMIC = -1

#: callable the model provides: texts -> named arrays (e.g. text_tokens (B,L,D), text_mask (B,L))
TextEncoder = Callable[[Sequence[str]], Mapping[str, Any]]


class EngineError(RuntimeError):
    """Base class of every engine-layer error."""


class BackendUnavailableError(EngineError):
    """The requested backend (or its device / execution provider) is not installed here."""


class PrecisionUnsupportedError(EngineError):
    """The backend cannot run the requested precision on the requested device."""


class InputSpecError(ValueError):
    """``forward`` got inputs that do not match the backend's ``input_spec``."""


class EngineMetadataError(EngineError):
    """An engine file's metadata is missing, unreadable or does not match the model / machine."""


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of one engine input or output.

    shape: dims as ints; ``DYNAMIC`` (-1) marks a dynamic batch dim.
    dtype: numpy dtype name, e.g. "float32", "bool", "int64".
    """

    name: str
    shape: Tuple[int, ...]
    dtype: str

    def with_batch(self, batch_size: int) -> "TensorSpec":
        return TensorSpec(self.name, (int(batch_size),) + tuple(self.shape[1:]), self.dtype)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "TensorSpec":
        return TensorSpec(str(d["name"]), tuple(int(v) for v in d["shape"]), str(d["dtype"]))


def _dtype_kind(dtype: Any) -> str:
    """'f' float, 'b' bool, 'i' integer (signed/unsigned) -- what must agree."""
    kind = np.dtype(dtype).kind
    return "i" if kind == "u" else kind


def validate_inputs(inputs: Mapping[str, Any], input_spec: Mapping[str, TensorSpec]) -> int:
    """Check ``inputs`` against ``input_spec``; return the batch size.

    Raises InputSpecError naming the offending input: a missing or unknown
    name, a wrong rank, a wrong fixed dim, a dtype of the wrong kind
    (float / bool / integer), or inputs with different batch sizes.
    """
    missing = [n for n in input_spec if n not in inputs]
    unknown = [n for n in inputs if n not in input_spec]
    if missing or unknown:
        raise InputSpecError(
            f"inputs do not match the engine: missing {missing}, unknown {unknown}; "
            f"expected exactly {list(input_spec)}")
    batch: Optional[int] = None
    for name, spec in input_spec.items():
        arr = inputs[name]
        if not isinstance(arr, np.ndarray):
            raise InputSpecError(f"input {name!r} must be a numpy array, got {type(arr).__name__}")
        if arr.ndim != len(spec.shape):
            raise InputSpecError(f"input {name!r} must have rank {len(spec.shape)} {spec.shape}, got shape {arr.shape}")
        for axis, (want, got) in enumerate(zip(spec.shape, arr.shape)):
            if want != DYNAMIC and want != got:
                raise InputSpecError(f"input {name!r} dim {axis} must be {want} (spec {spec.shape}), got shape {arr.shape}")
        if _dtype_kind(arr.dtype) != _dtype_kind(spec.dtype):
            raise InputSpecError(f"input {name!r} must be {spec.dtype}, got {arr.dtype}")
        if batch is None:
            batch = int(arr.shape[0]) if arr.ndim else 1
        elif arr.ndim and arr.shape[0] != batch:
            raise InputSpecError(f"input {name!r} has batch {arr.shape[0]} but other inputs have batch {batch}")
    return int(batch or 1)


class Backend(abc.ABC):
    """One inference engine for one per-frame network.

    Attributes:
        name: backend kind, one of ``BACKEND_KINDS``.
        device: "cpu" or "cuda[:N]".
        precision: "fp32", "fp16" or "int8" (what the engine computes in).
        input_spec: ordered ``name -> TensorSpec`` of the inputs ``forward`` needs.
        output_names: names of the arrays ``forward`` returns, in order.
        max_batch_size: largest batch one ``forward`` accepts (None: unlimited).
    """

    name: str = "backend"
    device: str = "cpu"
    precision: str = "fp32"
    input_spec: Dict[str, TensorSpec]
    output_names: Tuple[str, ...] = ()
    max_batch_size: Optional[int] = None

    def __init__(self, text_encoder: Optional[TextEncoder] = None) -> None:
        self._text_encoder = text_encoder
        self._closed = False

    # -- text: once per command, never the image engine ---------------------------------------
    def encode_text(self, texts: Sequence[str]) -> Dict[str, np.ndarray]:
        """Encode commands with the model's text encoder (not the engine).

        texts: B referring expressions. Returns named numpy arrays with batch
        B in dim 0 (e.g. ``text_tokens`` (B,L,D) float32, ``text_mask`` (B,L)
        bool) ready to be passed to ``forward``. Call it once per command and
        cache the result; it costs one text-encoder pass and never touches the
        per-frame engine.
        """
        if self._text_encoder is None:
            raise EngineError(f"{self.name} backend was built without a text_encoder; "
                              "pass text_encoder=model.<encode fn> to build_backend")
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode_text takes a sequence of strings")
        return {k: to_numpy(v) for k, v in dict(self._text_encoder(list(texts))).items()}

    # -- per-frame network --------------------------------------------------------------------
    def forward(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the per-frame network once on a batch.

        inputs: ``name -> np.ndarray`` matching ``input_spec`` (all names,
        same batch size in dim 0). Returns ``name -> np.ndarray`` for every
        name in ``output_names`` (float outputs as float32).
        """
        if self._closed:
            raise EngineError(f"{self.name} backend is closed")
        batch = validate_inputs(inputs, self.input_spec)
        if self.max_batch_size is not None and batch > self.max_batch_size:
            raise InputSpecError(f"batch {batch} exceeds this engine's max batch {self.max_batch_size}")
        return self._forward(inputs)

    @abc.abstractmethod
    def _forward(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Backend-specific forward on validated inputs."""

    def close(self) -> None:
        """Free the engine (device memory, sessions). Idempotent."""
        self._closed = True

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def describe(self) -> Dict[str, Any]:
        """JSON-able summary (for logs and benchmark records)."""
        return {"backend": self.name, "device": self.device, "precision": self.precision,
                "inputs": [s.to_dict() for s in self.input_spec.values()],
                "outputs": list(self.output_names), "max_batch_size": self.max_batch_size}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.device} {self.precision}>"


def to_numpy(value: Any) -> np.ndarray:
    """Tensor / array-like -> numpy (detached, on CPU; fp16/bf16 -> float32)."""
    if hasattr(value, "detach"):  # torch.Tensor without importing torch here
        value = value.detach()
        if getattr(value, "is_floating_point", lambda: False)() and value.dtype != _torch_float32():
            value = value.float()
        value = value.cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and arr.dtype != np.float32 and arr.dtype != np.float64:
        arr = arr.astype(np.float32)
    return arr


def _torch_float32() -> Any:
    import torch  # only reached for torch tensors, so torch is importable

    return torch.float32


def normalize_device(device: str) -> str:
    """'cpu', 'cuda' or 'cuda:N' (case-insensitive); raises ValueError otherwise."""
    d = str(device).strip().lower()
    if d == "gpu":
        d = "cuda"
    if d == "cpu" or d == "cuda" or (d.startswith("cuda:") and d[5:].isdigit()):
        return d
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def normalize_precision(precision: str) -> str:
    p = str(precision).strip().lower()
    aliases = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16"}
    p = aliases.get(p, p)
    if p not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return p


def _module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def available_backends() -> List[str]:
    """Backend kinds whose Python package is importable here (fastest first)."""
    mods = {"tensorrt": "tensorrt", "onnxruntime": "onnxruntime", "torch": "torch"}
    return [k for k in BACKEND_KINDS if _module_available(mods[k])]


def _build_one(kind: str, network_or_path: Any, device: str, precision: str,
               text_encoder: Optional[TextEncoder], options: Dict[str, Any]) -> Backend:
    if kind == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend(network_or_path, device=device, precision=precision,
                            text_encoder=text_encoder, **options)
    if kind == "onnxruntime":
        from .ort_backend import OrtBackend

        return OrtBackend.from_network_or_path(network_or_path, device=device, precision=precision,
                                               text_encoder=text_encoder, **options)
    if kind == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend.from_network_or_path(network_or_path, device=device, precision=precision,
                                                    text_encoder=text_encoder, **options)
    raise ValueError(f"unknown backend {kind!r}; valid: {', '.join(BACKEND_KINDS)}")


def build_backend(kind: str, network_or_path: Any, device: str = "cpu", precision: str = "fp32", *,
                  text_encoder: Optional[TextEncoder] = None,
                  fallback: Optional[Iterable[str]] = None,
                  **options: Any) -> Backend:
    """Build the backend ``kind`` for a per-frame network.

    kind: "torch", "onnxruntime" or "tensorrt".
    network_or_path: the per-frame ``nn.Module`` (see the module docstring
        for its conventions), or a path to an exported ``.onnx`` (onnxruntime,
        tensorrt) or ``.engine`` file (tensorrt; its sidecar metadata is
        verified at load).
    device: "cpu" or "cuda[:N]"; no code below hard-codes a device.
    precision: "fp32", "fp16" (GPU) or "int8" (TensorRT only).
    text_encoder: the model's ``texts -> {name: array}`` encoder used by
        ``encode_text`` (runs outside the engine).
    fallback: kinds to try, in order, when ``kind`` is unavailable here (e.g.
        ``("onnxruntime", "torch")``); each fallback is logged as a warning.
        Default: none -- an unavailable backend raises BackendUnavailableError
        with the reason, so a request for TensorRT never silently becomes torch.
    options: backend-specific (torch: ``cuda_graphs``, ``compile``;
        onnxruntime: ``onnx_dir``, ``providers``, ``threads``; tensorrt:
        ``engine_path``, ``build_engine_if_missing``, ``workspace_mb`` ...).
        Options a fallback backend does not know are dropped for it.
    """
    device = normalize_device(device)
    precision = normalize_precision(precision)
    chain = [kind] + [k for k in (fallback or ()) if k != kind]
    errors: List[str] = []
    first_exc: Optional[EngineError] = None
    for i, k in enumerate(chain):
        if k not in BACKEND_KINDS:
            raise ValueError(f"unknown backend {k!r}; valid: {', '.join(BACKEND_KINDS)}")
        opts = options if i == 0 else _options_for(k, options)
        try:
            backend = _build_one(k, network_or_path, device, precision, text_encoder, opts)
        except (BackendUnavailableError, PrecisionUnsupportedError) as exc:
            errors.append(f"{k}: {exc}")
            first_exc = first_exc or exc
            if i + 1 < len(chain):
                LOG.warning("backend %s unavailable (%s); falling back to %s", k, exc, chain[i + 1])
            continue
        if i > 0:
            LOG.warning("using fallback backend %s instead of %s", k, kind)
        return backend
    if len(chain) == 1 and first_exc is not None:
        raise first_exc
    raise BackendUnavailableError("no requested backend is usable here: " + "; ".join(errors))


#: options each backend accepts (a fallback gets only its own)
_BACKEND_OPTIONS = {
    "torch": {"cuda_graphs", "compile", "input_names", "output_names", "example_inputs", "max_batch_size"},
    "onnxruntime": {"onnx_dir", "onnx_path", "providers", "threads", "input_names", "output_names",
                    "example_inputs", "max_batch_size", "dynamic_batch", "opset", "trt_cache_dir"},
    "tensorrt": {"engine_path", "onnx_path", "build_engine_if_missing", "workspace_mb", "max_batch_size",
                 "opt_batch_size", "calibration_frames", "calibration_cache", "model_hash", "allow_rebuild",
                 "example_inputs", "input_names", "output_names", "progress"},
}


def _options_for(kind: str, options: Dict[str, Any]) -> Dict[str, Any]:
    allowed = _BACKEND_OPTIONS[kind]
    return {k: v for k, v in options.items() if k in allowed}
