"""The noised CLIP of the GLIDE release: a text and an image transformer whose
embeddings guide sampling (the paper's "CLIP guidance").

The image encoder is trained on noised images and told the diffusion timestep
(a learned embedding in place of CLIP's class token), so its gradient is
meaningful at every x_t. Parameter names follow ``clip_text_enc.pt`` and
``clip_image_enc.pt`` so that both load strictly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import OptionsError

__all__ = ["RELEASED_CLIP_CONFIG", "ClipConfig", "NoisedClip", "build_clip"]

RELEASED_CLIP_CONFIG: Mapping[str, Any] = {
    "logit_scale": 100.0,
    "beta_schedule": "squaredcos_cap_v2",
    "n_timesteps": 1000,
    "image_size": 64,
    "patch_size": 4,
    "n_vocab": 65536,
    "max_text_len": 77,
    "n_embd": 512,
    "n_head_state_text": 64,
    "n_head_text": 8,
    "n_xf_blocks_text": 12,
    "n_head_state_image": 64,
    "n_head_image": 12,
    "n_xf_blocks_image": 12,
}
"""The released encoders' configuration (what ``clip_text_enc.pt``/``clip_image_enc.pt`` were built with)."""

_PIXEL_MEAN = (122.77093945, 116.74601272, 104.09373519)
_PIXEL_STD = (68.50053285, 66.63215831, 70.32316309)


@dataclass(frozen=True, kw_only=True)
class ClipConfig:
    logit_scale: float
    n_timesteps: int
    image_size: int
    patch_size: int
    n_vocab: int
    max_text_len: int
    n_embd: int
    text_width: int
    text_heads: int
    text_layers: int
    image_width: int
    image_heads: int
    image_layers: int
    beta_schedule: str = "squaredcos_cap_v2"

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> ClipConfig:
        try:
            made = cls(
                logit_scale=float(config["logit_scale"]),
                n_timesteps=int(config["n_timesteps"]),
                image_size=int(config["image_size"]),
                patch_size=int(config["patch_size"]),
                n_vocab=int(config["n_vocab"]),
                max_text_len=int(config["max_text_len"]),
                n_embd=int(config["n_embd"]),
                text_width=int(config["n_head_text"]) * int(config["n_head_state_text"]),
                text_heads=int(config["n_head_text"]),
                text_layers=int(config["n_xf_blocks_text"]),
                image_width=int(config["n_head_image"]) * int(config["n_head_state_image"]),
                image_heads=int(config["n_head_image"]),
                image_layers=int(config["n_xf_blocks_image"]),
                beta_schedule=str(config.get("beta_schedule", "squaredcos_cap_v2")),
            )
        except KeyError as exc:
            raise OptionsError(f"the CLIP configuration lacks {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise OptionsError(f"the CLIP configuration is malformed: {exc}") from exc
        if made.image_size % made.patch_size:
            raise OptionsError(f"CLIP image_size {made.image_size} is not a multiple of {made.patch_size}")
        if made.logit_scale <= 0:
            raise OptionsError(f"CLIP logit_scale must be positive, got {made.logit_scale}")
        return made


class _Affine(nn.Module):
    def __init__(self, n_in: int, n_out: int, *, bias: bool = True) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.empty(n_out, n_in).normal_(std=1 / math.sqrt(n_in)))
        self.b = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.w, self.b)


class _LayerNorm(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(width))
        self.b = nn.Parameter(torch.zeros(width))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x.float(), (x.shape[-1],), self.g.float(), self.b.float(), 1e-5).to(x.dtype)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int, *, causal: bool) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.ln = _LayerNorm(width)
        self.f_q = _Affine(width, width)
        self.f_k = _Affine(width, width, bias=False)
        self.f_v = _Affine(width, width)
        self.f_c = _Affine(width, width)

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln(x)
        batch, length, width = h.shape
        q, k, v = (
            f(h).view(batch, length, self.heads, -1).transpose(1, 2) for f in (self.f_q, self.f_k, self.f_v)
        )
        r = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return x + self.f_c(r.transpose(1, 2).reshape(batch, length, width))


class _MLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.ln = _LayerNorm(width)
        self.f_1 = _Affine(width, 4 * width)
        self.f_2 = _Affine(4 * width, width)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.f_2(F.gelu(self.f_1(self.ln(x))))


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, *, causal: bool) -> None:
        super().__init__()
        self.f_attn = _Attention(width, heads, causal=causal)
        self.f_mlp = _MLP(width)

    def forward(self, x: Tensor) -> Tensor:
        return self.f_mlp(self.f_attn(x))


class _TextInput(nn.Module):
    def __init__(self, n_vocab: int, context: int, width: int) -> None:
        super().__init__()
        self.w_voc = nn.Parameter(torch.empty(n_vocab, width).normal_(std=0.02))
        self.w_pos = nn.Parameter(torch.empty(context, width).normal_(std=0.01))


class _ImageInput(nn.Module):
    def __init__(self, config: ClipConfig) -> None:
        super().__init__()
        width, patch = config.image_width, config.patch_size
        patches = (config.image_size // patch) ** 2
        self.w_t = nn.Parameter(torch.empty(config.n_timesteps, width).normal_(std=1 / math.sqrt(width)))
        self.patch_proj = nn.Parameter(torch.empty(width, 3, patch, patch).normal_(std=0.02))
        self.w_pos = nn.Parameter(torch.empty(1 + patches, width).normal_(std=0.01))
        self.ln = _LayerNorm(width)


class _Output(nn.Module):
    def __init__(self, width: int, n_embd: int) -> None:
        super().__init__()
        self.ln = _LayerNorm(width)
        self.f = _Affine(width, n_embd, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.f(self.ln(x))


def _blocks(
    first: nn.Module, width: int, heads: int, layers: int, n_embd: int, *, causal: bool
) -> nn.ModuleDict:
    named: dict[str, nn.Module] = {"input": first}
    named.update({f"block_{i}": _Block(width, heads, causal=causal) for i in range(layers)})
    named["output"] = _Output(width, n_embd)
    return nn.ModuleDict(named)


class ClipTextEncoder(nn.Module):
    """Causal transformer over the framed prompt; the end token's state is the embedding."""

    def __init__(self, config: ClipConfig) -> None:
        super().__init__()
        self.config = config
        first = _TextInput(config.n_vocab, config.max_text_len, config.text_width)
        self.blocks = _blocks(
            first, config.text_width, config.text_heads, config.text_layers, config.n_embd, causal=True
        )

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        if tokens.dim() != 2 or tokens.shape[1] != self.config.max_text_len:
            raise ValueError(
                f"CLIP tokens must be (N, {self.config.max_text_len}), got {tuple(tokens.shape)}"
            )
        if lengths.shape != tokens.shape[:1] or bool((lengths < 1).any()):
            raise ValueError("CLIP lengths must be one positive length per prompt")
        first = self.blocks["input"]
        h = F.embedding(tokens.long(), first.w_voc) + first.w_pos
        for i in range(self.config.text_layers):
            h = self.blocks[f"block_{i}"](h)
        last = h[torch.arange(h.shape[0], device=h.device), lengths.long() - 1]
        return self.blocks["output"](last)


class ClipImageEncoder(nn.Module):
    """Vision transformer over 0–255 images whose first token is the timestep's embedding."""

    def __init__(self, config: ClipConfig) -> None:
        super().__init__()
        self.config = config
        self.blocks = _blocks(
            _ImageInput(config),
            config.image_width,
            config.image_heads,
            config.image_layers,
            config.n_embd,
            causal=False,
        )

    def forward(self, image: Tensor, timesteps: Tensor) -> Tensor:
        """``image`` in 0..255 (N, 3, S, S); ``timesteps`` original (0..999) per row."""
        size = self.config.image_size
        if image.dim() != 4 or tuple(image.shape[1:]) != (3, size, size):
            raise ValueError(f"the CLIP image encoder reads (N, 3, {size}, {size}), got {tuple(image.shape)}")
        first = self.blocks["input"]
        # CLIP's per-channel pixel statistics (0..255); not buffers, so a model built
        # on the meta device and loaded with ``assign`` has nothing left uninitialised.
        mean = torch.tensor(_PIXEL_MEAN, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
        std = torch.tensor(_PIXEL_STD, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
        image = (image - mean) / std
        x = F.conv2d(image, first.patch_proj, stride=self.config.patch_size)
        x = x.flatten(2).transpose(1, 2)
        t = F.embedding(timesteps.long().to(image.device), first.w_t)[:, None]
        h = first.ln(torch.cat([t, x], dim=1) + first.w_pos)
        for i in range(self.config.image_layers):
            h = self.blocks[f"block_{i}"](h)
        return self.blocks["output"](h[:, 0])


def _normalised(z: Tensor) -> Tensor:
    return z / (torch.linalg.norm(z, dim=-1, keepdim=True) + 1e-12)


class NoisedClip(nn.Module):
    """Both encoders and the logit scale; the embeddings are L2-normalised."""

    def __init__(self, config: ClipConfig) -> None:
        super().__init__()
        self.config = config
        self.text_encoder = ClipTextEncoder(config)
        self.image_encoder = ClipImageEncoder(config)
        self._log_logit_scale = math.log(config.logit_scale)

    @property
    def logit_scale(self) -> Tensor:
        """exp(log scale) in float32, exactly as the release rounds it."""
        device = self.text_encoder.blocks["input"].w_voc.device
        return torch.tensor(self._log_logit_scale, dtype=torch.float32, device=device).exp()

    def text_embeddings(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return _normalised(self.text_encoder(tokens, lengths))

    def image_embeddings(self, x: Tensor, timesteps: Tensor) -> Tensor:
        """``x`` in [-1, 1] (the diffusion's x_t), ``timesteps`` original (0..999)."""
        return _normalised(self.image_encoder((x + 1) * 127.5, timesteps))


def build_clip(config: Mapping[str, Any]) -> NoisedClip:
    """The noised CLIP of a configuration such as :data:`RELEASED_CLIP_CONFIG`.

    Build under ``torch.device("meta")`` to inspect shapes without allocating memory.
    """
    return NoisedClip(ClipConfig.from_dict(config))
