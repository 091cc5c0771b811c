"""Exceptions raised by the model layer (building, loading, running)."""
from __future__ import annotations


class ModelError(RuntimeError):
    """Base class for model-layer errors."""


class ModelConfigError(ModelError, ValueError):
    """A model/train config is malformed (unknown key, wrong type, bad value)."""


class PretrainedNotFoundError(ModelError, FileNotFoundError):
    """A pretrained checkpoint (backbone, text encoder, HF local dir) is missing."""


class WeightsError(ModelError):
    """Shipped weights are missing, corrupt, or do not match the config/preset.

    The message always names the file and what is wrong; the ROS node catches
    it and falls back to the heuristic tracker.
    """


class UnsupportedModalityError(ModelError, ValueError):
    """A modality was requested that the loaded weights were not trained for."""
