"""CLIP guidance for the pipeline: a loaded noised CLIP and its tokenizer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..diffusion import Denoiser, clip_guidance_gradient
from ..model.clip import RELEASED_CLIP_CONFIG, NoisedClip, build_clip
from ..text.clip_tokenizer import CLIPTokenizer
from ..weights.checkpoints import check_state_dict, read_state_dict

__all__ = ["ClipGuide", "load_clip_guide"]


@dataclass(frozen=True, eq=False)
class ClipGuide:
    """The released noised CLIP encoders, ready to steer an ancestral run."""

    clip: NoisedClip
    tokenizer: CLIPTokenizer

    def mean_shift(self, prompt: str, scale: float) -> Denoiser:
        """The per-step gradient for one prompt (shared by every row of the batch)."""
        padded = self.tokenizer.padded(prompt, self.clip.config.max_text_len)
        device = self.clip.logit_scale.device
        with torch.inference_mode():
            tokens = torch.tensor([padded.tokens], device=device)
            lengths = torch.tensor([padded.length], device=device)
            text = self.clip.text_embeddings(tokens, lengths)
        return clip_guidance_gradient(self.clip, text, scale)


def load_clip_guide(
    *,
    text_path: str | Path,
    image_path: str | Path,
    device: torch.device | str = "cpu",
    config: Mapping[str, Any] = RELEASED_CLIP_CONFIG,
) -> ClipGuide:
    """Load ``clip_text_enc.pt`` and ``clip_image_enc.pt`` strictly (float32: the
    gradient is taken through the image encoder, where half precision would be coarse)."""
    with torch.device("meta"):
        clip = build_clip(config)
    for path, encoder in ((text_path, clip.text_encoder), (image_path, clip.image_encoder)):
        state_dict = read_state_dict(path)
        check_state_dict(path, state_dict, encoder)
        encoder.load_state_dict(state_dict, strict=True, assign=True)
    clip = clip.to(device=device, dtype=torch.float32).eval().requires_grad_(False)
    return ClipGuide(clip=clip, tokenizer=CLIPTokenizer.released())
