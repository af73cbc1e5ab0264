"""The UNet's layers: residual blocks, attention over pixels and text, resampling.

Attribute names and layer indices follow the released checkpoints' keys, so
that their state dicts load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import FloatGroupNorm, zero_init

__all__ = ["AttentionBlock", "Downsample", "EmbedSequential", "ResBlock", "TextKV", "Upsample"]

TextKV = tuple[Tensor, Tensor]
"""One attention block's projected text keys and values, each (batch, heads, tokens, head_ch)."""


def _pointwise(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """A 1×1 convolution as a matrix product over pixels.

    On channels-last activations the permutes are free and this runs at matmul
    speed; oneDNN sends 1×1 channels-last convolutions down a slow fallback.
    """
    weight = conv.weight[:, :, 0, 0]
    out = F.linear(x.permute(0, 2, 3, 1).to(weight.dtype), weight, conv.bias)
    return out.permute(0, 3, 1, 2)


def _in_dtype_of(module: nn.Module, x: Tensor) -> Tensor:
    """``x`` in the dtype of ``module``'s weights: the residual stream may be kept wider
    (float32 beside bf16 weights) than what the convolutions and products compute in."""
    weight = getattr(module, "weight", None)
    return x if weight is None else x.to(weight.dtype)


def _channels_last(x: Tensor) -> bool:
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


class Downsample(nn.Module):
    """Halve the resolution: a strided convolution, or average pooling without weights."""

    def __init__(self, channels: int, *, use_conv: bool) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else None

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x) if self.op is not None else F.avg_pool2d(x, kernel_size=2, stride=2)


class Upsample(nn.Module):
    """Double the resolution by nearest neighbour, optionally followed by a convolution."""

    def __init__(self, channels: int, *, use_conv: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1) if use_conv else None

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class ResBlock(nn.Module):
    """Two 3×3 convolutions with the time(+text) embedding as scale and shift."""

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        *,
        out_channels: int,
        dropout: float,
        use_scale_shift_norm: bool,
        up: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            FloatGroupNorm(channels, silu=True),
            nn.Identity(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.resample: nn.Module | None = None
        if up:
            self.resample = Upsample(channels, use_conv=False)
        elif down:
            self.resample = Downsample(channels, use_conv=False)
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels),
        )
        self.out_layers = nn.Sequential(
            FloatGroupNorm(out_channels, silu=not use_scale_shift_norm),
            nn.SiLU() if use_scale_shift_norm else nn.Identity(),
            nn.Dropout(p=dropout),
            zero_init(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        norm, _, conv = self.in_layers
        h = norm(x)
        if self.resample is not None:
            h = self.resample(h)
            x = self.resample(x)
        h = conv(_in_dtype_of(conv, h))
        emb_out = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        out_norm, *rest = self.out_layers
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = torch.addcmul(shift, out_norm(h), 1 + scale)
        else:
            h = out_norm(h + emb_out)
        for layer in rest:
            h = layer(h)
        skip = self.skip_connection
        if isinstance(skip, nn.Conv2d) and _channels_last(x):
            return _pointwise(skip, x) + h
        return skip(_in_dtype_of(skip, x)) + h


class AttentionBlock(nn.Module):
    """Self-attention over pixels whose keys and values are prefixed by the prompt's.

    The text half of the keys and values does not change during sampling, so it
    is projected once per request (``project_text``) and handed in at each step.
    """

    def __init__(self, channels: int, *, heads: int, text_channels: int, slot: int) -> None:
        super().__init__()
        self.heads = heads
        self.slot = slot
        """Position of this block's keys and values in a text encoding."""
        self.norm = FloatGroupNorm(channels, silu=False)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.encoder_kv = nn.Conv1d(text_channels, channels * 2, 1)
        self.proj_out = zero_init(nn.Conv1d(channels, channels, 1))

    def project_text(self, text_features: Tensor) -> TextKV:
        """(batch, text_channels, tokens) → keys and values for this block."""
        batch, _, tokens = text_features.shape
        kv = self.encoder_kv(text_features.to(self.encoder_kv.weight.dtype)).view(
            batch, self.heads, 2, -1, tokens
        )
        key, value = kv.transpose(-1, -2).unbind(2)
        dtype = self.qkv.weight.dtype  # what this block's attention computes in
        return key.to(dtype).contiguous(), value.to(dtype).contiguous()

    def forward(self, x: Tensor, text_kv: TextKV | None) -> Tensor:
        batch, channels, height, width = x.shape
        # Work on (batch, pixels, channels): free for channels-last activations, and
        # the 1×1 convolutions become plain matrix products.
        h = self.norm(x).permute(0, 2, 3, 1).reshape(batch, height * width, channels)
        qkv = F.linear(_in_dtype_of(self.qkv, h), self.qkv.weight[..., 0], self.qkv.bias)
        # Per head: q, k and v side by side, each head_ch wide.
        q, k, v = qkv.view(batch, -1, self.heads, 3, channels // self.heads).permute(3, 0, 2, 1, 4).unbind(0)
        if text_kv is not None:
            k = torch.cat([text_kv[0], k], dim=2)
            v = torch.cat([text_kv[1], v], dim=2)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, -1, channels)
        out = F.linear(out, self.proj_out.weight[..., 0], self.proj_out.bias)
        return x + out.view(batch, height, width, channels).permute(0, 3, 1, 2)


class EmbedSequential(nn.Sequential):
    """A UNet stage: hands each layer what it needs (embedding, text keys/values)."""

    def forward(self, h: Tensor, emb: Tensor, text_kv: Sequence[TextKV]) -> Tensor:  # type: ignore[override]
        for layer in self:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
            elif isinstance(layer, AttentionBlock):
                h = layer(h, text_kv[layer.slot])
            elif isinstance(layer, nn.Conv2d):
                h = layer(_in_dtype_of(layer, h))
            else:
                h = layer(h)
        return h
