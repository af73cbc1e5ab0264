"""A short warm-up that teaches a fresh text encoder to tell the synthetic captions apart.

Trained jointly with the UNet from scratch, a small encoder is dragged into
supplying a constant offset to the time embedding and stops telling prompts
apart; left frozen at random, its output is dominated by caption length and
layout rather than by the colour named. Before diffusion training starts,
this warm-up fits the encoder (and a throw-away linear head on its
``transformer_proj`` output) to classify each synthetic caption's colour and
shape, so that the encoding the UNet reads is organised by what the caption
says. The encoder is then frozen (``text_lr_scale=0``), much as large models
read a frozen pre-trained text encoder.

Classification training makes the pooled projection tens of times louder
than the timestep embedding it is added to, which would drown the timestep;
the projection is therefore rescaled afterwards to the timestep embedding's
mean norm, which keeps every caption's direction and the attention keys
and values unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..model import GlideModel
from ..model.layers import timestep_embedding
from ..text.tokenizer import Tokenizer
from .batches import encode_captions
from .loop import TEXT_ENCODER_PREFIXES
from .synthetic import PALETTE, SHAPES, caption_for, random_spec

__all__ = ["TextWarmup", "text_encoder_parameters", "warm_up_text_encoder"]

_WARMUP_STREAM = 11


def text_encoder_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The text encoder's parameters: embeddings, transformer, final norm, projection."""
    return [(n, p) for n, p in model.named_parameters() if n.startswith(TEXT_ENCODER_PREFIXES)]


@dataclass(frozen=True, kw_only=True)
class TextWarmup:
    steps: int = 150
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0


def _caption_batch(
    rng: np.random.Generator, count: int, image_size: int
) -> tuple[list[str], list[int], list[int]]:
    colours, shapes = list(PALETTE), list(SHAPES)
    captions, colour_ids, shape_ids = [], [], []
    for _ in range(count):
        spec = random_spec(rng, image_size)
        captions.append(caption_for(spec))
        colour_ids.append(colours.index(spec.colour))
        shape_ids.append(shapes.index(spec.shape))
    return captions, colour_ids, shape_ids


def warm_up_text_encoder(model: GlideModel, *, tokenizer: Tokenizer, settings: TextWarmup) -> list[float]:
    """Fit the text encoder to name each caption's colour and shape; returns the losses."""
    generator = torch.Generator().manual_seed(settings.seed)
    head = nn.Linear(model.transformer_proj.out_features, len(PALETTE) + len(SHAPES))
    nn.init.normal_(head.weight, std=0.02, generator=generator)
    nn.init.zeros_(head.bias)
    params = [p for _, p in text_encoder_parameters(model)] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    losses = []
    model.train()
    for step in range(settings.steps):
        rng = np.random.default_rng([settings.seed, _WARMUP_STREAM, step])
        captions, colour_ids, shape_ids = _caption_batch(rng, settings.batch_size, model.config.image_size)
        tokens, mask = encode_captions(captions, tokenizer, model.config.text_ctx)
        logits = head(model.encode_text(tokens.to(model.device), mask.to(model.device)).proj)
        colour_logits, shape_logits = logits.split([len(PALETTE), len(SHAPES)], dim=1)
        loss = F.cross_entropy(
            colour_logits, torch.tensor(colour_ids, device=model.device)
        ) + F.cross_entropy(shape_logits, torch.tensor(shape_ids, device=model.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.zero_grad(set_to_none=True)
    _match_timestep_loudness(model, tokenizer=tokenizer, seed=settings.seed)
    return losses


@torch.no_grad()
def _match_timestep_loudness(model: GlideModel, *, tokenizer: Tokenizer, seed: int) -> None:
    """Scale ``transformer_proj`` so that captions' projections are as loud as the timestep embedding."""
    rng = np.random.default_rng([seed, _WARMUP_STREAM + 1])
    captions, _, _ = _caption_batch(rng, 256, model.config.image_size)
    tokens, mask = encode_captions([*captions, ""], tokenizer, model.config.text_ctx)
    proj_norm = model.encode_text(tokens.to(model.device), mask.to(model.device)).proj.norm(dim=1).mean()
    steps = torch.linspace(0, 999, 64, device=model.device).round()
    time_norm = model.time_embed(timestep_embedding(steps, model.config.model_channels)).norm(dim=1).mean()
    scale = float(time_norm / proj_norm)
    model.transformer_proj.weight.mul_(scale)
    model.transformer_proj.bias.mul_(scale)
