"""GLIDE's models, built from the released checkpoints' option names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .clip import RELEASED_CLIP_CONFIG, NoisedClip, build_clip
from .config import ModelConfig, OptionsError
from .glide import Conditioning, GlideModel, TextEncoding

__all__ = [
    "RELEASED_CLIP_CONFIG",
    "Conditioning",
    "GlideModel",
    "ModelConfig",
    "NoisedClip",
    "OptionsError",
    "TextEncoding",
    "build_clip",
    "build_model",
]


def build_model(options: Mapping[str, Any]) -> GlideModel:
    """Build a float32 model from an option dict such as a manifest's ``options``.

    Diffusion keys (``noise_schedule`` and the like) are accepted and ignored;
    ``inpaint`` and ``super_res`` pick the variant. Build under
    ``torch.device("meta")`` to inspect shapes without allocating memory.
    """
    return GlideModel(ModelConfig.from_options(options))
