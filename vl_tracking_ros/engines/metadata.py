"""Engine metadata: what an engine file was built from and for (our format).

Every engine file ``X.engine`` (and every exported ``X.onnx``) has a sidecar
``X.engine.json`` written next to it::

    {"metadata_version": 1, "format": "tensorrt", "model": "mvlm-small",
     "model_hash": "<sha256 of weights + I/O spec>", "precision": "fp16",
     "inputs": [{"name": "image", "shape": [-1, 3, 128, 128], "dtype": "float32"}, ...],
     "outputs": ["score_map", ...], "min_batch": 1, "opt_batch": 1, "max_batch": 8,
     "tensorrt_version": "10.x", "gpu_name": "NVIDIA H100 ...", "compute_capability": "9.0",
     "file_sha256": "<sha256 of the engine bytes>", "created_utc": "..."}

At load the runtime calls :func:`verify_metadata` with what it expects (the
model's hash and I/O, the requested precision, the installed TensorRT and
the GPU it runs on). Any difference is a :class:`EngineMetadataMismatch`
listing every field that differs; the caller then rebuilds (when allowed) or
refuses with that message -- an engine built for another GPU, TensorRT
version or weights is never run silently.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .base import EngineMetadataError, TensorSpec

METADATA_VERSION = 1
#: fields compared by verify_metadata (in this order in the mismatch message)
CHECKED_FIELDS = ("format", "model_hash", "precision", "inputs", "outputs", "tensorrt_version",
                  "gpu_name", "compute_capability", "file_sha256")


class EngineMetadataMismatch(EngineMetadataError):
    """The engine on disk was built from other weights / shapes / precision /
    TensorRT / GPU than the ones asked for. ``mismatches`` lists
    ``(field, on_disk, expected)``."""

    def __init__(self, path: Path, mismatches: Sequence[tuple], hint: str = "") -> None:
        self.path = Path(path)
        self.mismatches = list(mismatches)
        lines = "; ".join(f"{f}: engine has {_short(a)}, expected {_short(b)}" for f, a, b in self.mismatches)
        super().__init__(f"engine {self.path} does not match: {lines}" + (f". {hint}" if hint else ""))


def _short(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, str) else repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


@dataclass
class EngineMetadata:
    """Sidecar metadata of one engine / ONNX file (see module docstring)."""

    format: str
    model: str
    model_hash: str
    precision: str
    inputs: List[TensorSpec]
    outputs: List[str]
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 1  # -1: no upper bound (a dynamic-batch ONNX)
    tensorrt_version: Optional[str] = None
    gpu_name: Optional[str] = None
    compute_capability: Optional[str] = None
    file_sha256: Optional[str] = None
    created_utc: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    metadata_version: int = METADATA_VERSION
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["inputs"] = [s.to_dict() for s in self.inputs]
        return d

    @staticmethod
    def from_json_dict(d: Mapping[str, Any]) -> "EngineMetadata":
        version = d.get("metadata_version")
        if version != METADATA_VERSION:
            raise EngineMetadataError(f"engine metadata version {version!r} is not supported (expected {METADATA_VERSION})")
        required = ("format", "model", "model_hash", "precision", "inputs", "outputs")
        missing = [k for k in required if k not in d]
        if missing:
            raise EngineMetadataError(f"engine metadata lacks {missing}")
        known = {f for f in EngineMetadata.__dataclass_fields__}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["inputs"] = [TensorSpec.from_dict(s) for s in d["inputs"]]
        kwargs["outputs"] = [str(s) for s in d["outputs"]]
        return EngineMetadata(**kwargs)


def sidecar_path(engine_path: os.PathLike) -> Path:
    """``X.engine`` -> ``X.engine.json``."""
    p = Path(engine_path)
    return p.with_name(p.name + ".json")


def file_sha256(path: os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def write_metadata(engine_path: os.PathLike, meta: EngineMetadata, hash_file: bool = True) -> Path:
    """Write ``meta`` as the sidecar of ``engine_path`` (atomically); with
    ``hash_file`` the engine bytes' sha256 is recorded first."""
    engine_path = Path(engine_path)
    if hash_file:
        if not engine_path.is_file():
            raise FileNotFoundError(f"engine file {engine_path} does not exist; write it before its metadata")
        meta.file_sha256 = file_sha256(engine_path)
    out = sidecar_path(engine_path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(meta.to_json_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out)
    return out


def read_metadata(engine_path: os.PathLike) -> EngineMetadata:
    """Read the sidecar of ``engine_path``; EngineMetadataError if it is
    missing, not JSON, of another version or lacks required fields."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise EngineMetadataError(f"engine {engine_path} has no metadata file {path}; an engine without metadata "
                                  "cannot be verified -- rebuild it with `vl-tracking export`")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EngineMetadataError(f"engine metadata {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise EngineMetadataError(f"engine metadata {path} is not a JSON object")
    return EngineMetadata.from_json_dict(data)


def compare_metadata(on_disk: EngineMetadata, expected: Mapping[str, Any]) -> List[tuple]:
    """``(field, on_disk, expected)`` for each field in ``expected`` that differs.

    expected: any subset of CHECKED_FIELDS (and min/max_batch, where the
        engine must *cover* the expected range). ``inputs`` may be TensorSpecs
        or dicts; ``file_sha256`` may be ``True`` meaning "hash the file now"
        (then pass the path through ``verify_metadata``).
    """
    out: List[tuple] = []
    for key in CHECKED_FIELDS:
        if key not in expected or expected[key] is None:
            continue
        want = expected[key]
        have = getattr(on_disk, key)
        if key == "inputs":
            want = [s.to_dict() if isinstance(s, TensorSpec) else dict(s) for s in want]
            have = [s.to_dict() for s in have]
        elif key == "outputs":
            want, have = list(want), list(have)
        if have != want:
            out.append((key, have, want))
    unlimited = on_disk.max_batch == -1  # dynamic batch without an upper bound (ONNX)
    if expected.get("max_batch") is not None and not unlimited and on_disk.max_batch < int(expected["max_batch"]):
        out.append(("max_batch", on_disk.max_batch, int(expected["max_batch"])))
    if expected.get("min_batch") is not None and on_disk.min_batch > int(expected["min_batch"]):
        out.append(("min_batch", on_disk.min_batch, int(expected["min_batch"])))
    return out


def verify_metadata(engine_path: os.PathLike, expected: Mapping[str, Any], check_file_hash: bool = True,
                    hint: str = "") -> EngineMetadata:
    """Read and check the metadata of ``engine_path`` against ``expected``.

    Returns the metadata when everything matches; raises EngineMetadataError
    (no / bad metadata) or EngineMetadataMismatch (fields differ, listed).
    With ``check_file_hash`` the engine bytes are re-hashed, so a truncated
    or swapped engine file is caught too.
    """
    meta = read_metadata(engine_path)
    exp = dict(expected)
    if check_file_hash and meta.file_sha256:
        exp["file_sha256"] = file_sha256(engine_path)
    mismatches = compare_metadata(meta, exp)
    if mismatches:
        raise EngineMetadataMismatch(Path(engine_path), mismatches, hint)
    return meta
