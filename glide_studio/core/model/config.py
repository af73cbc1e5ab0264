"""Model hyper-parameters, read from the released checkpoints' option names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GPT2_VOCAB_SIZE", "ModelConfig", "OptionsError"]

GPT2_VOCAB_SIZE = 50257

# Channel multipliers the reference picks when ``channel_mult`` is empty.
_DEFAULT_CHANNEL_MULT = {
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
    32: (1, 2, 2, 2),
}


class OptionsError(ValueError):
    """The option dict cannot describe a GLIDE model."""


def _int_list(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise OptionsError(f"option {name}={text!r} must be comma-separated integers") from exc


_PLAUSIBLE = (
    ("image_size", "image_size", 8192),
    ("num_channels", "model_channels", 16384),
    ("num_res_blocks", "num_res_blocks", 64),
    ("num_heads", "num_heads", 1024),
    ("num_head_channels", "num_head_channels", 16384),
    ("num_heads_upsample", "num_heads_upsample", 1024),
    ("text_ctx", "text_ctx", 8192),
    ("xf_width", "xf_width", 65536),
    ("xf_layers", "xf_layers", 512),
    ("xf_heads", "xf_heads", 1024),
    ("n_vocab", "n_vocab", 10_000_000),
)
"""Bounds far above any GLIDE model, so that malformed options fail at once, not in a build loop."""


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Everything that decides a model's architecture, and nothing else."""

    image_size: int
    model_channels: int
    num_res_blocks: int
    channel_mult: tuple[int, ...]
    attention_ds: tuple[int, ...]
    """Downsampling factors (image_size // resolution) at which attention runs."""
    num_heads: int = 1
    num_head_channels: int = -1
    num_heads_upsample: int = -1
    dropout: float = 0.0
    text_ctx: int = 128
    xf_width: int = 512
    xf_layers: int = 16
    xf_heads: int = 8
    xf_final_ln: bool = True
    xf_padding: bool = True
    n_vocab: int = GPT2_VOCAB_SIZE
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    inpaint: bool = False
    super_res: bool = False
    use_fp16: bool = False

    @property
    def in_channels(self) -> int:
        """x_t, then the known image and its mask (inpaint), then the low-res image."""
        return 3 + (4 if self.inpaint else 0) + (3 if self.super_res else 0)

    @property
    def out_channels(self) -> int:
        return 6

    @property
    def variant(self) -> str:
        base = "upsample" if self.super_res else "base"
        return f"{base}-inpaint" if self.inpaint else base

    def heads_for(self, channels: int, *, upsampling: bool = False) -> int:
        if self.num_head_channels != -1:
            if channels % self.num_head_channels:
                raise OptionsError(f"{channels} channels do not split into heads of {self.num_head_channels}")
            return channels // self.num_head_channels
        if upsampling and self.num_heads_upsample != -1:
            return self.num_heads_upsample
        return self.num_heads

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ModelConfig:
        """Read the reference's option names; diffusion keys are accepted and ignored."""
        try:
            image_size = int(options["image_size"])
            mult_text = str(options.get("channel_mult", "") or "")
            if mult_text:
                channel_mult = _int_list(mult_text, "channel_mult")
            elif image_size in _DEFAULT_CHANNEL_MULT:
                channel_mult = _DEFAULT_CHANNEL_MULT[image_size]
            else:
                raise OptionsError(f"no default channel_mult for image_size {image_size}")
            resolutions = _int_list(str(options.get("attention_resolutions", "")), "attention_resolutions")
            if any(r <= 0 or r > image_size for r in resolutions):
                raise OptionsError(
                    f"attention_resolutions {resolutions} must lie in 1..image_size ({image_size})"
                )
            config = cls(
                image_size=image_size,
                model_channels=int(options["num_channels"]),
                num_res_blocks=int(options["num_res_blocks"]),
                channel_mult=channel_mult,
                attention_ds=tuple(image_size // r for r in resolutions),
                num_heads=int(options.get("num_heads", 1)),
                num_head_channels=int(options.get("num_head_channels", -1)),
                num_heads_upsample=int(options.get("num_heads_upsample", -1)),
                dropout=float(options.get("dropout", 0.0)),
                text_ctx=int(options["text_ctx"]),
                xf_width=int(options["xf_width"]),
                xf_layers=int(options["xf_layers"]),
                xf_heads=int(options["xf_heads"]),
                xf_final_ln=bool(options.get("xf_final_ln", True)),
                xf_padding=bool(options.get("xf_padding", True)),
                n_vocab=int(options.get("n_vocab", GPT2_VOCAB_SIZE)),
                use_scale_shift_norm=bool(options.get("use_scale_shift_norm", True)),
                resblock_updown=bool(options.get("resblock_updown", True)),
                inpaint=bool(options.get("inpaint", False)),
                super_res=bool(options.get("super_res", False)),
                use_fp16=bool(options.get("use_fp16", False)),
            )
        except KeyError as exc:
            raise OptionsError(f"model options lack {exc.args[0]!r}") from exc
        except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            if isinstance(exc, OptionsError):
                raise
            raise OptionsError(f"model options are malformed: {exc}") from exc
        config.validate()
        return config

    def validate(self) -> None:
        positive = {
            "image_size": self.image_size,
            "num_channels": self.model_channels,
            "num_res_blocks": self.num_res_blocks,
            "text_ctx": self.text_ctx,
            "xf_width": self.xf_width,
            "xf_heads": self.xf_heads,
            "n_vocab": self.n_vocab,
        }
        for name, value in positive.items():
            if value <= 0:
                raise OptionsError(f"option {name} must be positive, got {value}")
        for name, value, most in _PLAUSIBLE:
            if abs(getattr(self, value)) > most:
                raise OptionsError(
                    f"option {name}={getattr(self, value)} is implausibly large (at most {most})"
                )
        if len(self.channel_mult) > 16:
            raise OptionsError(f"channel_mult {self.channel_mult} has implausibly many levels")
        if not self.channel_mult or min(self.channel_mult) <= 0:
            raise OptionsError(f"channel_mult {self.channel_mult} must be positive integers")
        widths = [self.model_channels * m for m in self.channel_mult]
        if any(w % 32 for w in widths):
            raise OptionsError(
                f"channel widths {widths} must be multiples of 32 (group normalisation uses 32 groups)"
            )
        if self.image_size % (2 ** (len(self.channel_mult) - 1)):
            raise OptionsError(
                f"image_size {self.image_size} cannot be halved {len(self.channel_mult) - 1} times"
            )
        if self.xf_width % self.xf_heads:
            raise OptionsError(f"xf_width {self.xf_width} is not divisible by xf_heads {self.xf_heads}")
