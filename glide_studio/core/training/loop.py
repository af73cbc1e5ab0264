"""The training loop: AdamW with warmup and cosine decay, EMA, clipping, exact resume.

A checkpoint holds everything the next step depends on (weights, averaged
weights, optimiser moments, step, the global RNG state) and the batches are a
pure function of (seed, step), so stopping and resuming changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..diffusion import Diffusion
from ..model import GlideModel, build_model
from ..text.tokenizer import Tokenizer
from ..weights.checkpoints import read_state_dict
from .batches import Batch, make_batch
from .checkpointing import TRAINING_FORMAT, atomic_save, read_training_state
from .datasets import ExampleSource
from .ema import Ema
from .losses import CoefficientTables, hybrid_loss
from .masks import MaskMix

__all__ = [
    "CHECKPOINT_NAME",
    "LOG_NAME",
    "TEXT_ENCODER_PREFIXES",
    "StepResult",
    "TrainConfig",
    "Trainer",
    "copy_text_encoder",
    "init_text_positions",
]

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation settings; saved in every checkpoint and reused on resume."""

    steps: int
    batch_size: int = 32
    lr: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    """The cosine decay ends at ``lr * min_lr_ratio`` on the last step (1.0: constant)."""
    weight_decay: float = 0.0
    text_lr_scale: float = 1.0
    """Learning-rate multiplier for the text encoder (embeddings, transformer, projection).

    0 freezes it. Trained from scratch at the UNet's rate, a small encoder is soon
    dragged into supplying a constant offset to the time embedding and stops
    telling prompts apart (measured with ``scripts/demo_probe.py``); the demo
    model freezes an encoder fitted beforehand by ``text_warmup``.
    """
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    caption_drop: float = 0.2
    high_noise_fraction: float = 0.0
    """Share of rows whose step is drawn from the noisiest steps only (0: uniform, as the paper)."""
    high_noise_start: float = 0.7
    """Where "the noisiest steps" begin, as a fraction of the diffusion steps."""
    vb_weight: float = 0.001
    mask_mix: MaskMix = field(default_factory=MaskMix)
    seed: int = 0
    low_res_size: int = 0
    """An upsampler's input size (the base model's); 0 for base models."""
    crop_size: int = 0
    """Train on random squares of this side (0: whole pictures)."""
    save_every: int = 500
    log_every: int = 25

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 0,
            "batch_size": self.batch_size > 0,
            "lr": self.lr > 0,
            "warmup_steps": self.warmup_steps >= 0,
            "ema_decay": 0 <= self.ema_decay < 1,
            "caption_drop": 0 <= self.caption_drop <= 1,
            "save_every": self.save_every > 0,
            "log_every": self.log_every > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting {bad[0]}={getattr(self, bad[0])!r}")

    def lr_at(self, step: int) -> float:
        """Linear warmup to ``lr``, then cosine decay to ``lr * min_lr_ratio``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(1, self.steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.lr * (
            self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        )

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["mask_mix"] = dict(self.mask_mix.weights)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        data = dict(data)
        data["mask_mix"] = MaskMix(dict(data.get("mask_mix") or MaskMix().weights))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


TEXT_ENCODER_PREFIXES = (
    "token_embedding.",
    "positional_embedding",
    "padding_embedding",
    "transformer.",
    "final_ln.",
    "transformer_proj.",
)


def _param_groups(model: torch.nn.Module, *, text_lr_scale: float) -> list[dict[str, Any]]:
    """The UNet and the text encoder as separate groups, so the latter can learn more gently."""
    text, unet = [], []
    for name, param in model.named_parameters():
        (text if name.startswith(TEXT_ENCODER_PREFIXES) else unet).append(param)
    return [{"params": unet, "lr_scale": 1.0}, {"params": text, "lr_scale": text_lr_scale}]


def init_text_positions(model: GlideModel, *, std: float) -> None:
    """Re-draw the positional embedding of a model trained from scratch.

    The model starts positions at std 0.01 against token embeddings of std 1,
    so after the first layer norm a byte's position is all but invisible and
    the encoder cannot tell "a red circle on a blue background" from "a blue
    circle on a red background". Comparable scales let it learn word order.
    """
    with torch.no_grad():
        model.positional_embedding.normal_(0.0, std)


def copy_text_encoder(path: str | Path, model: GlideModel) -> str:
    """Load only the text encoder of a model file into ``model`` (same text options needed).

    An upsampler given its base model's encoder reads prompts the way the base
    stage does from the first step, and with ``text_lr_scale`` 0 keeps doing so.
    """
    weights = read_state_dict(Path(path))
    own = model.state_dict()
    picked = {k: v for k, v in weights.items() if k.startswith(TEXT_ENCODER_PREFIXES)}
    wanted = [k for k in own if k.startswith(TEXT_ENCODER_PREFIXES)]
    missing = [k for k in wanted if k not in picked]
    wrong = [k for k in wanted if k in picked and picked[k].shape != own[k].shape]
    if missing or wrong or not wanted:
        what = f"lacks {missing[0]}" if missing else "is none"
        what = f"has another shape for {wrong[0]}" if wrong else what
        raise ValueError(f"{path}: its text encoder {what}; the text options must match")
    with torch.no_grad():
        for key in wanted:
            own[key].copy_(picked[key].to(own[key].dtype))
    return f"{len(wanted)} text-encoder tensors"


def _with_steps(command: str, steps: int) -> str:
    """The recorded command with its ``--steps`` changed (a resumed run may train longer)."""
    parts = shlex.split(command)
    if "--steps" in parts[:-1]:
        parts[parts.index("--steps") + 1] = str(steps)
    return shlex.join(parts)


@dataclass(frozen=True)
class StepResult:
    step: int
    """The step just finished (0-based)."""
    loss: float
    mse: float
    vb: float
    lr: float
    grad_norm: float


class Trainer:
    """Trains a GLIDE-architecture inpainting (or text-to-image) model, base or upsampler, on one device."""

    def __init__(
        self,
        *,
        options: Mapping[str, Any],
        source: ExampleSource,
        tokenizer: Tokenizer,
        tokenizer_kind: str,
        config: TrainConfig,
        out_dir: str | Path,
        data_spec: str = "",
        device: torch.device | str = "cpu",
        model: GlideModel | None = None,
        command: str = "",
        history: Sequence[str] = (),
    ) -> None:
        self.options = dict(options)
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.model = (model or build_model(self.options)).to(self.device).train()
        if self.model.config.image_size != source.image_size:
            raise ValueError(f"data is {source.image_size} px, the model {self.model.config.image_size} px")
        if self.model.config.super_res != bool(config.low_res_size):
            raise ValueError(
                "an upsampler needs low_res_size (the base model's size), and only an upsampler takes one"
            )
        if tokenizer.n_vocab > self.model.config.n_vocab:
            raise ValueError(
                f"the tokenizer has {tokenizer.n_vocab} tokens, the model {self.model.config.n_vocab}"
            )
        self.source = source
        self.tokenizer = tokenizer
        self.tokenizer_kind = tokenizer_kind
        self.config = config
        self.out_dir = Path(out_dir)
        self.data_spec = data_spec
        self.command = command
        """The command line that started the run (kept across resumes, for the manifest)."""
        self.history = list(history)
        """Resumes that changed the step total, so the manifest says how the run really went."""
        self.ema = Ema(self.model, decay=config.ema_decay)
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.model, text_lr_scale=config.text_lr_scale),
            lr=config.lr,
            weight_decay=config.weight_decay,
        )
        diffusion = Diffusion.from_options(self.options, respacing="")
        self.tables = CoefficientTables.from_diffusion(diffusion, self.device)
        self.step = 0
        """Steps completed so far (the next step's index)."""

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def batch(self, step: int) -> Batch:
        cfg = self.config
        return make_batch(
            self.source,
            step=step,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            tokenizer=self.tokenizer,
            text_ctx=self.model.config.text_ctx,
            caption_drop=cfg.caption_drop,
            mask_mix=cfg.mask_mix,
            num_timesteps=self.tables.num_steps,
            high_noise_fraction=cfg.high_noise_fraction,
            high_noise_start=cfg.high_noise_start,
            low_res_size=cfg.low_res_size or None,
            crop_size=cfg.crop_size or None,
        ).to(self.device)

    def train_step(self) -> StepResult:
        """One optimiser step on the batch of step ``self.step``."""
        step = self.step
        batch = self.batch(step)
        lr = self.config.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        self.model.train()
        x_t = self.tables.q_sample(batch.x0, batch.timesteps, batch.noise)
        output = self.model(
            x_t,
            batch.timesteps,
            tokens=batch.tokens,
            mask=batch.token_mask,
            inpaint_image=batch.x0 if self.model.config.inpaint else None,
            inpaint_mask=batch.known if self.model.config.inpaint else None,
            low_res=batch.low_res,
        )
        terms = hybrid_loss(
            output,
            x0=batch.x0,
            x_t=x_t,
            noise=batch.noise,
            index=batch.timesteps,
            tables=self.tables,
            vb_weight=self.config.vb_weight,
        )
        loss = terms.loss.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.ema.update(self.model, step=step)
        self.step = step + 1
        return StepResult(
            step=step,
            loss=float(loss.detach()),
            mse=float(terms.mse.detach().mean()),
            vb=float(terms.vb.detach().mean()),
            lr=lr,
            grad_norm=float(grad_norm),
        )

    # -- checkpoints ----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "format": TRAINING_FORMAT,
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
            "options": dict(self.options),
            "tokenizer": self.tokenizer_kind,
            "config": self.config.to_dict(),
            "data": self.data_spec,
            "command": self.command,
            "history": list(self.history),
        }

    def save(self) -> Path:
        atomic_save(self.checkpoint_path, self.state())
        return self.checkpoint_path

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint's weights, optimiser, step and RNG (options must match)."""
        self.model.load_state_dict(state["model"], strict=True)
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])

    @classmethod
    def resume(
        cls,
        path: str | Path,
        *,
        source: ExampleSource,
        tokenizer: Tokenizer,
        out_dir: str | Path | None = None,
        steps: int | None = None,
        device: torch.device | str = "cpu",
    ) -> Trainer:
        """A trainer continuing a checkpoint with its own options and settings.

        ``steps`` may raise the total; the learning-rate schedule follows it.
        """
        path = Path(path)
        state = read_training_state(path)
        config = TrainConfig.from_dict(state["config"])
        command = str(state.get("command", ""))
        history = [str(h) for h in state.get("history", [])]
        if steps is not None and steps != config.steps:
            # The schedule changes from here on: say so, with the command that would continue it.
            history.append(f"resumed at step {int(state['step'])} as: {_with_steps(command, steps)}")
            config = dataclasses.replace(config, steps=steps)
        trainer = cls(
            options=state["options"],
            source=source,
            tokenizer=tokenizer,
            tokenizer_kind=str(state["tokenizer"]),
            config=config,
            out_dir=out_dir or path.parent,
            data_spec=str(state.get("data", "")),
            device=device,
            command=command,
            history=history,
        )
        trainer.load_state(state)
        return trainer

    # -- the loop -------------------------------------------------------------------

    def _log(self, record: Mapping[str, Any]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with (self.out_dir / LOG_NAME).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def run(
        self,
        *,
        progress: bool = True,
        on_step: Callable[[StepResult], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Train until ``config.steps``, saving every ``save_every`` steps and at the end.

        ``should_stop`` is asked between steps (e.g. set by a signal handler); when
        it says yes the finished steps are saved and False is returned. Returns
        True when all steps are done.
        """
        from tqdm import tqdm

        cfg = self.config
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not progress, unit="step", dynamic_ncols=True)
        smoothed: float | None = None
        window_start, window_steps = time.perf_counter(), 0
        try:
            while self.step < cfg.steps:
                if should_stop is not None and should_stop():
                    self.save()
                    return False
                result = self.train_step()
                smoothed = result.loss if smoothed is None else 0.95 * smoothed + 0.05 * result.loss
                bar.update(1)
                bar.set_postfix(loss=f"{smoothed:.4f}", lr=f"{result.lr:.2e}")
                window_steps += 1
                if on_step is not None:
                    on_step(result)
                if self.step % cfg.log_every == 0:
                    elapsed = time.perf_counter() - window_start
                    record = dataclasses.asdict(result) | {
                        "smoothed_loss": smoothed,
                        "steps_per_s": window_steps / max(elapsed, 1e-9),
                        "time": time.time(),
                    }
                    self._log(record)
                    window_start, window_steps = time.perf_counter(), 0
                if self.step % cfg.save_every == 0:
                    self.save()
        finally:
            bar.close()
        self.save()
        return True
