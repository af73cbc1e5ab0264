"""GLIDE's text-conditional UNet, in all four released variants.

The variants differ only in the constant channels concatenated after x_t:
the known image and mask (inpainting) and the bilinearly upsampled low
resolution image (super-resolution). Everything that does not change during
sampling (text encoding, per-block text keys and values, those channels) is
computed once by ``condition`` and passed to ``denoise`` at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .layers import FloatGroupNorm, FloatLayerNorm, timestep_embedding, zero_init
from .text import TextTransformer
from .unet_blocks import AttentionBlock, Downsample, EmbedSequential, ResBlock, TextKV, Upsample

__all__ = ["Conditioning", "GlideModel", "TextEncoding"]


@dataclass(frozen=True)
class TextEncoding:
    """The prompt as the UNet consumes it: a vector added to the time embedding,
    and each attention block's projected keys and values."""

    proj: Tensor
    kv: tuple[TextKV, ...]

    @property
    def batch(self) -> int:
        return self.proj.shape[0]

    def rows(self, index: slice) -> TextEncoding:
        return TextEncoding(proj=self.proj[index], kv=tuple((k[index], v[index]) for k, v in self.kv))

    @staticmethod
    def cat(parts: list[TextEncoding]) -> TextEncoding:
        """The rows of several encodings, in order (prompts encoded one by one, then batched)."""
        if len(parts) == 1:
            return parts[0]
        kv = tuple(
            (torch.cat([p.kv[i][0] for p in parts]), torch.cat([p.kv[i][1] for p in parts]))
            for i in range(len(parts[0].kv))
        )
        return TextEncoding(proj=torch.cat([p.proj for p in parts]), kv=kv)


@dataclass(frozen=True)
class Conditioning:
    """Everything a denoising step reads besides x_t and t."""

    text: TextEncoding
    extra: Tensor | None
    """Channels concatenated after x_t (known image, mask, upsampled low-res)."""

    @property
    def batch(self) -> int:
        return self.text.batch

    def rows(self, index: slice) -> Conditioning:
        """The conditioning of some rows, for running a large batch in parts."""
        extra = None if self.extra is None else self.extra[index]
        return Conditioning(text=self.text.rows(index), extra=extra)


def _normal(*shape: int, std: float = 1.0) -> Tensor:
    """A parameter's storage, drawn from N(0, std²) unless it is built on the meta device."""
    tensor = torch.empty(*shape)
    if not tensor.is_meta:
        nn.init.normal_(tensor, std=std)
    return tensor


def _never() -> None:
    return None


class StepReplay(Protocol):
    """Replays captured steps (``runtime.step_graphs.StepGraphs``); None where none fits."""

    def run(self, x: Tensor, t: Tensor, cond: Conditioning) -> Tensor | None: ...


class GlideModel(nn.Module):
    step_graphs: StepReplay | None = None
    """Set on CUDA models by ``runtime.step_graphs.install_step_graphs``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        ch = config.model_channels
        emb_ch = ch * 4
        self.time_embed = nn.Sequential(nn.Linear(ch, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        self._build_unet(config, emb_ch)
        self._build_text_encoder(config, emb_ch)

    # -- construction -------------------------------------------------------------

    def _build_unet(self, config: ModelConfig, emb_ch: int) -> None:
        res = {
            "emb_channels": emb_ch,
            "dropout": config.dropout,
            "use_scale_shift_norm": config.use_scale_shift_norm,
        }
        slots = iter(range(10_000))

        def attention(width: int, *, upsampling: bool) -> AttentionBlock:
            heads = config.heads_for(width, upsampling=upsampling)
            return AttentionBlock(width, heads=heads, text_channels=config.xf_width, slot=next(slots))

        ch = config.model_channels * config.channel_mult[0]
        first_ch = ch
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(config.in_channels, ch, 3, padding=1))])
        skip_widths = [ch]
        ds = 1
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks):
                width = config.model_channels * mult
                layers: list[nn.Module] = [ResBlock(ch, out_channels=width, **res)]
                ch = width
                if ds in config.attention_ds:
                    layers.append(attention(ch, upsampling=False))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_widths.append(ch)
            if level != len(config.channel_mult) - 1:
                down = (
                    ResBlock(ch, out_channels=ch, down=True, **res)
                    if config.resblock_updown
                    else Downsample(ch, use_conv=True)
                )
                self.input_blocks.append(EmbedSequential(down))
                skip_widths.append(ch)
                ds *= 2

        self.middle_block = EmbedSequential(
            ResBlock(ch, out_channels=ch, **res),
            attention(ch, upsampling=False),
            ResBlock(ch, out_channels=ch, **res),
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mult))):
            for i in range(config.num_res_blocks + 1):
                width = config.model_channels * mult
                layers = [ResBlock(ch + skip_widths.pop(), out_channels=width, **res)]
                ch = width
                if ds in config.attention_ds:
                    layers.append(attention(ch, upsampling=True))
                if level and i == config.num_res_blocks:
                    layers.append(
                        ResBlock(ch, out_channels=ch, up=True, **res)
                        if config.resblock_updown
                        else Upsample(ch, use_conv=True)
                    )
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(
            FloatGroupNorm(ch, silu=True),
            nn.Identity(),
            zero_init(nn.Conv2d(first_ch, config.out_channels, 3, padding=1)),
        )
        # A plain list (not a ModuleList) so that state-dict keys stay the released ones.
        blocks = [m for m in self.modules() if isinstance(m, AttentionBlock)]
        self.attention_blocks = sorted(blocks, key=lambda block: block.slot)

    def _build_text_encoder(self, config: ModelConfig, emb_ch: int) -> None:
        width = config.xf_width
        # Built from given storage and initialised only off the meta device: on meta,
        # ``normal_`` goes through torch's reference ops, which import torch._dynamo
        # (seconds at start-up) to draw numbers nobody keeps.
        self.token_embedding = nn.Embedding(config.n_vocab, width, _weight=_normal(config.n_vocab, width))
        self.positional_embedding = nn.Parameter(_normal(config.text_ctx, width, std=0.01))
        self.padding_embedding: nn.Parameter | None = None
        if config.xf_padding:
            self.padding_embedding = nn.Parameter(_normal(config.text_ctx, width, std=0.01))
        self.transformer = TextTransformer(width=width, layers=config.xf_layers, heads=config.xf_heads)
        self.final_ln = FloatLayerNorm(width) if config.xf_final_ln else None
        self.transformer_proj = nn.Linear(width, emb_ch)

    # -- inference ----------------------------------------------------------------

    @property
    def dtype(self) -> torch.dtype:
        return self.time_embed[0].weight.dtype

    @property
    def stream_dtype(self) -> torch.dtype:
        """The residual stream's dtype: float32 beside bfloat16 weights, whose 8-bit
        mantissa would otherwise round every block's sum (float16 keeps 11 bits and
        stays in half precision, as the released code runs it)."""
        return torch.float32 if self.dtype == torch.bfloat16 else self.dtype

    @property
    def device(self) -> torch.device:
        return self.time_embed[0].weight.device

    def keep_text_float32(self) -> GlideModel:
        """Put the prompt's side (embeddings, text transformer, each attention block's
        text key/value projection) back in float32 beside bfloat16 weights.

        It runs once per request, so its precision costs no time per step, and
        every step of the run reads its result (a little more memory per model).
        """
        parts: list[nn.Module] = [self.token_embedding, self.transformer, self.transformer_proj]
        parts += [self.final_ln] if self.final_ln is not None else []
        parts += [block.encoder_kv for block in self.attention_blocks]
        for part in parts:
            part.float()
        for param in (self.positional_embedding, self.padding_embedding):
            if param is not None:
                param.data = param.data.float()
        return self

    def encode_text(self, tokens: Tensor, mask: Tensor) -> TextEncoding:
        """Run the text transformer once; the result serves every denoising step."""
        if tokens.shape[-1] != self.config.text_ctx:
            raise ValueError(f"tokens have length {tokens.shape[-1]}, the model reads {self.config.text_ctx}")
        h = self.token_embedding(tokens.long()) + self.positional_embedding
        if self.padding_embedding is not None:
            h = torch.where(mask[..., None].bool(), h, self.padding_embedding)
        h = self.transformer(h.to(self.transformer_proj.weight.dtype))
        if self.final_ln is not None:
            h = self.final_ln(h)
        proj = self.transformer_proj(h[:, -1])
        features = h.transpose(1, 2)
        kv = tuple(block.project_text(features) for block in self.attention_blocks)
        return TextEncoding(proj=proj, kv=kv)

    def condition(
        self,
        *,
        tokens: Tensor | None = None,
        mask: Tensor | None = None,
        text: TextEncoding | None = None,
        inpaint_image: Tensor | None = None,
        inpaint_mask: Tensor | None = None,
        low_res: Tensor | None = None,
        size: int | None = None,
    ) -> Conditioning:
        """Prepare everything constant over a sampling run (``inpaint_mask``: 1 = known).

        The prompt comes as ``tokens`` and ``mask``, or already encoded as ``text``
        (``encode_text``; the pipeline keeps recent prompts' encodings)."""
        if text is None:
            if tokens is None or mask is None:
                raise ValueError("condition needs tokens and mask, or an encoded text")
            text = self.encode_text(tokens, mask)
        size = size or self.config.image_size
        batch = text.batch
        device = text.proj.device
        extra: list[Tensor] = []
        if self.config.inpaint:
            if inpaint_mask is None:
                inpaint_mask = torch.zeros(batch, 1, size, size, device=device)
            if inpaint_image is None:
                inpaint_image = torch.zeros(batch, 3, size, size, device=device)
            extra += [inpaint_image * inpaint_mask, inpaint_mask]
        if self.config.super_res:
            if low_res is None:
                raise ValueError("the super-resolution model needs low_res")
            extra.append(F.interpolate(low_res.float(), (size, size), mode="bilinear", align_corners=False))
        return Conditioning(
            text=text,
            extra=torch.cat(extra, dim=1).to(self.dtype) if extra else None,
        )

    def denoise(
        self,
        x: Tensor,
        timesteps: Tensor,
        cond: Conditioning,
        *,
        between_blocks: Callable[[], None] | None = None,
    ) -> Tensor:
        """One step's prediction: 3 channels of epsilon, 3 of variance interpolation.

        ``between_blocks`` is called before each of the UNet's blocks; raising there
        stops the step (a run's cancel check: a slow step stops within one block's time).
        With ``step_graphs`` (CUDA, ``runtime.step_graphs``) a step whose shapes were
        captured is replayed from its graph, the check called once before it.
        """
        graphs = self.step_graphs
        if graphs is not None:
            (between_blocks or _never)()
            out = graphs.run(x, timesteps, cond)
            if out is not None:
                return out
        return self.denoise_eager(x, timesteps, cond, between_blocks=between_blocks)

    def denoise_eager(
        self,
        x: Tensor,
        timesteps: Tensor,
        cond: Conditioning,
        *,
        between_blocks: Callable[[], None] | None = None,
    ) -> Tensor:
        """``denoise`` kernel by kernel (what graphs capture, and where they do not fit)."""
        check = between_blocks or _never
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(self.dtype))
        emb = emb + cond.text.proj.to(emb.dtype)
        h = x.to(self.stream_dtype)
        if cond.extra is not None:
            h = torch.cat([h, cond.extra.to(h.dtype)], dim=1)
        kv = cond.text.kv
        skips = []
        for block in self.input_blocks:
            check()
            h = block(h, emb, kv)
            skips.append(h)
        check()
        h = self.middle_block(h, emb, kv)
        for block in self.output_blocks:
            check()
            h = block(torch.cat([h, skips.pop()], dim=1), emb, kv)
        norm, _, conv = self.out
        # The last convolution in float32: its output is epsilon, which the sampler
        # multiplies by up to 2e4 at the noisiest step.
        out = F.conv2d(norm(h).float(), conv.weight.float(), conv.bias.float(), padding=1)
        return out.contiguous()

    def forward(
        self,
        x: Tensor,
        timesteps: Tensor,
        *,
        tokens: Tensor,
        mask: Tensor,
        inpaint_image: Tensor | None = None,
        inpaint_mask: Tensor | None = None,
        low_res: Tensor | None = None,
    ) -> Tensor:
        cond = self.condition(
            tokens=tokens,
            mask=mask,
            inpaint_image=inpaint_image,
            inpaint_mask=inpaint_mask,
            low_res=low_res,
            size=x.shape[-1],
        )
        return self.denoise(x, timesteps, cond)
