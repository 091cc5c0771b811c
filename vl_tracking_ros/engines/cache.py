"""Where exported ONNX files and TensorRT engines live, and how they are named.

Default directory: ``$VL_TRACKING_ENGINE_DIR`` if set, else
``$XDG_CACHE_HOME/vl_tracking_ros/engines`` (``~/.cache/...``). ``vl-tracking
export`` writes there by default and the tracker node looks there, so an
engine is built once offline and found at start-up (never built silently).

Names: ``<preset>-<variant>.onnx`` and
``<preset>-<variant>-<precision>-b<max_batch>.engine``, each with a
``.json`` metadata sidecar (``engines.metadata``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional


def default_engine_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    if env.get("VL_TRACKING_ENGINE_DIR"):
        return Path(env["VL_TRACKING_ENGINE_DIR"]).expanduser()
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vl_tracking_ros" / "engines"


def onnx_path(engine_dir: os.PathLike, preset: str, variant: str) -> Path:
    return Path(engine_dir) / f"{preset}-{variant}.onnx"


def engine_path(engine_dir: os.PathLike, preset: str, variant: str, precision: str, max_batch: int) -> Path:
    return Path(engine_dir) / f"{preset}-{variant}-{precision}-b{int(max_batch)}.engine"


def calibration_cache_path(engine_dir: os.PathLike, preset: str, variant: str) -> Path:
    return Path(engine_dir) / f"{preset}-{variant}-int8.calib"


def build_cached_backend(kind: str, network, *, preset: str, variant: str, device: str = "cpu",
                         precision: str = "fp32", example_inputs=None, text_encoder=None,
                         engine_dir: Optional[os.PathLike] = None, build_engine_if_missing: bool = False,
                         max_batch_size: int = 1, **options):
    """One call for a tracker: the backend ``kind`` for one per-frame network
    variant, using the engine cache.

    torch: the module itself. onnxruntime: ``<preset>-<variant>.onnx`` from
    the cache when its metadata's model hash matches the network, else a
    fresh export to a temporary file (seconds; logged). tensorrt: the cached
    ``<preset>-<variant>-<precision>-b<max_batch_size>.engine``, verified
    against the network, GPU and TensorRT version; built here only when
    ``build_engine_if_missing`` is True (minutes, logged with progress),
    otherwise EngineNotBuiltError says which ``vl-tracking export`` to run.
    Other ``options`` go to ``base.build_backend``.
    """
    import logging

    from .base import EngineMetadataError, build_backend
    from .metadata import read_metadata

    log = logging.getLogger(__name__)
    engine_dir = Path(engine_dir) if engine_dir else default_engine_dir()
    common = dict(text_encoder=text_encoder, example_inputs=example_inputs, **options)
    if kind == "torch":
        return build_backend("torch", network, device, precision, **common)
    if kind == "onnxruntime":
        from .netio import inspect_network, model_hash

        cached = onnx_path(engine_dir, preset, variant)
        if cached.is_file():
            io = inspect_network(network, 1, example_inputs)
            try:
                meta = read_metadata(cached)
                if meta.model_hash == model_hash(network, io.input_spec, io.output_names):
                    log.info("using cached ONNX %s", cached)
                    return build_backend("onnxruntime", str(cached), device, precision, text_encoder=text_encoder,
                                         **{k: v for k, v in options.items() if k in ("providers", "threads")})
                log.warning("cached ONNX %s was exported from other weights; exporting afresh", cached)
            except EngineMetadataError as exc:
                log.warning("cached ONNX %s unusable (%s); exporting afresh", cached, exc)
        log.info("exporting %s-%s to ONNX for onnxruntime (not cached: run `vl-tracking export --model %s "
                 "--format onnx` once to skip this)", preset, variant, preset)
        return build_backend("onnxruntime", network, device, precision, **common)
    if kind == "tensorrt":
        return build_backend("tensorrt", network, device, precision,
                             engine_path=str(engine_path(engine_dir, preset, variant, precision, max_batch_size)),
                             build_engine_if_missing=build_engine_if_missing, max_batch_size=max_batch_size,
                             calibration_cache=str(calibration_cache_path(engine_dir, preset, variant)), **common)
    return build_backend(kind, network, device, precision, **common)  # raises the unknown-kind error
