"""Small building blocks shared by the UNet and the text transformer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FloatGroupNorm", "FloatLayerNorm", "timestep_embedding", "zero_init"]


class FloatGroupNorm(nn.GroupNorm):
    """Group norm over 32 groups computed in float32, optionally followed by SiLU.

    Normalising in float32 keeps half-precision activations from overflowing
    in the variance; fusing the SiLU keeps the released checkpoints' layer
    indices (the reference puts the activation inside the norm).
    """

    def __init__(self, channels: int, *, silu: bool) -> None:
        super().__init__(num_groups=32, num_channels=channels, eps=1e-5)
        self.silu = silu

    def forward(self, x: Tensor) -> Tensor:
        y = F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps)
        if self.silu:
            y = F.silu(y)
        return y.to(x.dtype)


class FloatLayerNorm(nn.LayerNorm):
    """Layer norm computed in float32 whatever the activations' precision."""

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps)
        return y.to(x.dtype)


def timestep_embedding(timesteps: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (original, 0..999) timesteps: cosines then sines."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    )
    args = timesteps.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def zero_init(module: nn.Module) -> nn.Module:
    """Start a residual branch's last layer at zero so a fresh block is the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module
