"""onnxruntime copy of a model's frozen text encoder (faster new commands).

A new command costs one text-encoder pass. :class:`OrtTextEncoder` runs the
*same* Hugging Face model and tokenizer as ``models.text_encoder.TextEncoder``
(same weights, same padding / truncation to ``max_tokens``, same text
normalisation, its own LRU cache), exported once to ONNX and run with
onnxruntime. It is a drop-in ``text_encoder`` for ``build_backend`` and
still never touches the per-frame engine. Parity with the torch encoder is
tested (``test_engines_text_ort.py``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn


class _HFTokens(nn.Module):
    """input_ids / attention_mask [/ token_type_ids] (B, L) int64 -> tokens (B, L, D) float32."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.text_model if hasattr(model, "text_model") else model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return {"tokens": self.model(**kwargs).last_hidden_state}


def normalize_command(text: str) -> str:
    """The text encoder's cache key and model input: stripped, lower case, single spaces."""
    return " ".join(text.strip().lower().split())


class OrtTextEncoder:
    """``texts -> {"text_tokens": (B, L, D) float32, "text_mask": (B, L) bool}`` on onnxruntime.

    text_encoder: a ``models.text_encoder.TextEncoder`` (tokenizer, model,
        max_tokens are read from it).
    onnx_path: where to export (default: a temporary directory removed on
        ``close``).
    threads: onnxruntime intra-op threads (see ``OrtBackend``).
    cache_size: commands kept (LRU, owned by this instance).
    """

    def __init__(self, text_encoder: Any, onnx_path: Optional[os.PathLike] = None, threads: Optional[int] = None,
                 cache_size: int = 256) -> None:
        from .onnx_export import export_onnx
        from .ort_backend import OrtBackend

        self.tokenizer = text_encoder.tokenizer
        self.max_tokens = int(text_encoder.max_tokens)
        self._tmpdir = None
        if onnx_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="vlt_text_")
            onnx_path = Path(self._tmpdir) / "text_encoder.onnx"
        example = {k: v for k, v in self._tokenize(["the red car on the left"]).items()}
        export_onnx(_HFTokens(text_encoder.model).eval(), onnx_path, model_name="text-encoder",
                    example_inputs={k: torch.from_numpy(v) for k, v in example.items()})
        self._backend = OrtBackend(onnx_path, threads=threads)
        self._cache: "OrderedDict[str, Tuple[np.ndarray, np.ndarray]]" = OrderedDict()
        self._cache_size = int(cache_size)

    def _tokenize(self, texts: Sequence[str]) -> Dict[str, np.ndarray]:
        enc = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.max_tokens,
                             return_tensors="np")
        order = ("input_ids", "attention_mask", "token_type_ids")
        return {k: np.asarray(enc[k], dtype=np.int64) for k in order if k in enc}

    def __call__(self, texts: Sequence[str]) -> Dict[str, np.ndarray]:
        from ..models.text_encoder import EmptyCommandError

        keys: List[str] = []
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise EmptyCommandError(f"empty command text {t!r}: nothing to track")
            keys.append(normalize_command(t))
        found = {k: self._cache[k] for k in dict.fromkeys(keys) if k in self._cache}
        todo = [k for k in dict.fromkeys(keys) if k not in found]
        if todo:
            enc = self._tokenize(todo)
            tokens = self._backend.forward(enc)["tokens"]
            for i, key in enumerate(todo):
                found[key] = (tokens[i].astype(np.float32), enc["attention_mask"][i].astype(bool))
        for key, value in found.items():  # refresh LRU order, insert new ones
            self._cache[key] = value
            self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return {"text_tokens": np.stack([found[k][0] for k in keys]),
                "text_mask": np.stack([found[k][1] for k in keys])}

    def close(self) -> None:
        self._backend.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
