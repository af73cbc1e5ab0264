"""``glide-studio train``: train or fine-tune a GLIDE-architecture inpainting model.

Importing this module is cheap (no torch); ``run`` imports the training code.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]

_DEFAULT_MASKS = "object=0.55,rectangle=0.15,brush=0.1,outpaint=0.1,whole=0.1"


class UsageError(ValueError):
    """A bad argument combination: reported in one line, exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--data", default=None, help="'synthetic' (default), an image folder, or a CSV/JSONL of file,caption")
    add("--out", required=True, type=Path, help="run folder: checkpoint.pt, log.jsonl (resumed if present)")
    add("--steps", type=int, default=None, help="total optimiser steps (default 5000)")
    add("--batch-size", type=int, default=32)
    add("--lr", type=float, default=1e-4, help="peak learning rate (AdamW)")
    add("--warmup", type=int, default=100, help="linear warmup steps")
    add("--min-lr-ratio", type=float, default=0.1, help="cosine decay ends at lr times this (1: constant)")
    add("--weight-decay", type=float, default=0.0)
    add(
        "--text-lr-scale",
        type=float,
        default=1.0,
        help="learning-rate multiplier for the text encoder (0: frozen)",
    )
    add("--positional-std", type=float, default=0.0, help="re-draw text positions at this std (fresh models)")
    add("--high-noise-fraction", type=float, default=0.0, help="share of rows drawn from the noisiest steps")
    add("--high-noise-start", type=float, default=0.7, help="where the noisiest steps begin (fraction of T)")
    add(
        "--text-warmup",
        type=int,
        default=0,
        help="before training, fit a fresh text encoder to classify the synthetic captions for N steps",
    )
    add("--ema", type=float, default=0.999, help="EMA decay of the exported weights")
    add("--grad-clip", type=float, default=1.0)
    add("--caption-drop", type=float, default=0.2, help="fraction of empty prompts (for guidance)")
    add("--vb-weight", type=float, default=0.001, help="lambda of the hybrid loss")
    add("--masks", default=_DEFAULT_MASKS, help="mask kinds and weights, e.g. 'object=0.6,rectangle=0.4'")
    add("--model-options", default=None, help="a preset (demo32, demo64, tiny), JSON text or a .json file")
    add("--init", type=Path, default=None, help="start from these weights (3-channel models are expanded)")
    add(
        "--text-from",
        type=Path,
        default=None,
        help="copy the text encoder from these weights (e.g. an upsampler taking its base model's)",
    )
    add("--crop", type=int, default=0, help="train on random squares of this side (upsamplers; 0: whole)")
    add(
        "--low-res-size",
        type=int,
        default=None,
        help="an upsampler's input size (default: a quarter of its image size, as GLIDE's 64 -> 256)",
    )
    add("--resume", action="store_true", help="require a checkpoint in --out (resuming is automatic)")
    add("--seed", type=int, default=0)
    add("--save-every", type=int, default=250)
    add("--log-every", type=int, default=25)
    add("--export", type=Path, default=None, help="write the EMA weights (float16) and a manifest here")
    add("--tokenizer", choices=("bytes", "bpe"), default=None, help="default: bytes when n_vocab is 257")
    add("--tokenizer-dir", type=Path, default=None, help="folder with encoder.json and vocab.bpe (bpe)")
    add("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    add("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    add("--no-progress", action="store_true", help="no progress bar (logs still go to log.jsonl)")


def _model_options(text: str | None) -> dict[str, Any]:
    from glide_studio.core.training.demo import MODEL_PRESETS, model_preset
    from glide_studio.core.weights.released import RELEASED, released_options

    text = text or "demo32"
    if text in MODEL_PRESETS:
        return model_preset(text)
    if text in RELEASED and RELEASED[text].options is not None:
        return released_options(text)
    source = text
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"--model-options {text!r} is not a preset, JSON text or an existing .json file")
        source = path.read_text(encoding="utf-8")
    try:
        options = json.loads(source)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--model-options is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(options, dict):
        raise UsageError("--model-options must be a JSON object")
    return options


def _command_line(args: argparse.Namespace) -> str:
    """The canonical command that reproduces this run (recorded in the manifest)."""
    parts = ["glide-studio", "train", "--data", args.data or "synthetic", "--out", str(args.out)]
    flags = ("steps", "batch_size", "lr", "warmup", "min_lr_ratio", "weight_decay", "text_lr_scale", "ema")
    flags += ("grad_clip", "positional_std", "high_noise_fraction", "high_noise_start", "text_warmup")
    for flag in flags:
        parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    parts += ["--caption-drop", str(args.caption_drop), "--vb-weight", str(args.vb_weight)]
    parts += [
        "--masks",
        args.masks,
        "--model-options",
        args.model_options or "demo32",
        "--seed",
        str(args.seed),
    ]
    for flag in ("init", "text_from", "low_res_size", "crop"):
        if getattr(args, flag):
            parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return shlex.join(parts)


def _check(args: argparse.Namespace) -> None:
    positive = {"--batch-size": args.batch_size, "--lr": args.lr, "--save-every": args.save_every}
    positive["--log-every"] = args.log_every
    for flag, value in positive.items():
        if value <= 0:
            raise UsageError(f"{flag} must be positive, got {value}")
    for flag, value in {"--steps": args.steps, "--text-warmup": args.text_warmup}.items():
        if value is not None and value < 0:
            raise UsageError(f"{flag} must not be negative, got {value}")
    if args.text_warmup and (args.init is not None or args.data not in (None, "synthetic")):
        raise UsageError("--text-warmup needs a fresh model trained on the synthetic data")
    if not 0 <= args.ema < 1:
        raise UsageError(f"--ema must be in [0, 1), got {args.ema}")
    if not 0 <= args.caption_drop <= 1:
        raise UsageError(f"--caption-drop must be in [0, 1], got {args.caption_drop}")
    for flag, path in {"--init": args.init, "--text-from": args.text_from}.items():
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: no such file")
    if args.crop < 0:
        raise UsageError(f"--crop must not be negative, got {args.crop}")
    if args.low_res_size is not None and args.low_res_size <= 0:
        raise UsageError(f"--low-res-size must be positive, got {args.low_res_size}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")


def _tokenizer(kind: str | None, folder: Path | None, n_vocab: int) -> tuple[str, Any]:
    from glide_studio.core.text.tokenizer import load_tokenizer

    kind = kind or ("bytes" if n_vocab == 257 else "bpe")
    tokenizer = load_tokenizer(kind, folder)
    if n_vocab and tokenizer.n_vocab != n_vocab:
        raise UsageError(
            f"the {kind} tokenizer has {tokenizer.n_vocab} tokens but the model's n_vocab is {n_vocab}"
        )
    return kind, tokenizer


class _StopFlag:
    """Set by SIGINT/SIGTERM so that the loop stops between steps and saves."""

    def __init__(self) -> None:
        self.stop = False

    def __call__(self) -> bool:
        return self.stop

    def handle(self, signum: int, frame: Any) -> None:
        del frame
        if self.stop:  # a second signal: stop now
            raise KeyboardInterrupt
        self.stop = True
        print(f"\nsignal {signum}: saving after this step", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    try:
        _check(args)
        return _train(args)
    except UsageError as exc:
        print(f"glide-studio train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glide-studio train: interrupted; resume from the last saved checkpoint", file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError) as exc:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"glide-studio train: error: {message}", file=sys.stderr)
        return 1


def _new_trainer(args: argparse.Namespace, device: Any) -> Any:
    import torch

    from glide_studio.core.model import build_model
    from glide_studio.core.training import MaskMix, TrainConfig, Trainer, init_weights_from, open_source
    from glide_studio.core.training.loop import copy_text_encoder, init_text_positions

    options = _model_options(args.model_options)
    masks = MaskMix.parse(args.masks)
    low_res_size = 0
    if options.get("super_res"):
        low_res_size = args.low_res_size or int(options["image_size"]) // 4
    elif args.low_res_size:
        raise UsageError("--low-res-size is for upsamplers (model options with super_res)")
    config = TrainConfig(
        steps=5000 if args.steps is None else args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup,
        min_lr_ratio=args.min_lr_ratio,
        weight_decay=args.weight_decay,
        text_lr_scale=args.text_lr_scale,
        high_noise_fraction=args.high_noise_fraction,
        high_noise_start=args.high_noise_start,
        ema_decay=args.ema,
        grad_clip=args.grad_clip,
        caption_drop=args.caption_drop,
        vb_weight=args.vb_weight,
        mask_mix=masks,
        seed=args.seed,
        low_res_size=low_res_size,
        crop_size=args.crop,
        save_every=args.save_every,
        log_every=args.log_every,
    )
    torch.manual_seed(args.seed)
    model = build_model(options)
    if args.init is not None:
        print(f"initialised from {args.init}: {init_weights_from(args.init, model)}", file=sys.stderr)
    elif args.positional_std > 0:
        init_text_positions(model, std=args.positional_std)
    if args.text_from is not None:
        copied = copy_text_encoder(args.text_from, model)
        print(f"text encoder from {args.text_from}: {copied}", file=sys.stderr)
    kind, tokenizer = _tokenizer(args.tokenizer, args.tokenizer_dir, model.config.n_vocab)
    if args.text_warmup:
        from glide_studio.core.training.text_warmup import TextWarmup, warm_up_text_encoder

        settings = TextWarmup(steps=args.text_warmup, seed=args.seed)
        losses = warm_up_text_encoder(model, tokenizer=tokenizer, settings=settings)
        print(f"text warm-up: loss {losses[0]:.3f} -> {losses[-1]:.3f}", file=sys.stderr)
    data = args.data or "synthetic"
    source = open_source(data, image_size=model.config.image_size, seed=args.seed)
    return Trainer(
        options=options,
        source=source,
        tokenizer=tokenizer,
        tokenizer_kind=kind,
        config=config,
        out_dir=args.out,
        data_spec=data,
        device=device,
        model=model,
        command=_command_line(args),
    )


def _resumed_trainer(args: argparse.Namespace, checkpoint: Path, device: Any) -> Any:
    from glide_studio.core.training import Trainer, open_source, read_training_state

    state = read_training_state(checkpoint)
    data = str(state.get("data") or "synthetic")
    if args.data is not None and args.data != data:
        raise UsageError(f"{checkpoint} trains on {data!r}, not {args.data!r}; use another --out")
    options = state["options"]
    _, tokenizer = _tokenizer(str(state["tokenizer"]), args.tokenizer_dir, int(options.get("n_vocab", 0)))
    source = open_source(data, image_size=int(options["image_size"]), seed=int(state["config"]["seed"]))
    del state
    trainer = Trainer.resume(checkpoint, source=source, tokenizer=tokenizer, steps=args.steps, device=device)
    print(f"resuming {checkpoint} at step {trainer.step} of {trainer.config.steps}", file=sys.stderr)
    return trainer


def _train(args: argparse.Namespace) -> int:
    import torch

    from glide_studio.core.runtime.devices import choose_device
    from glide_studio.core.training import CHECKPOINT_NAME, export_checkpoint

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    checkpoint = args.out / CHECKPOINT_NAME
    if checkpoint.is_file():
        trainer = _resumed_trainer(args, checkpoint, device)
    elif args.resume:
        raise UsageError(f"--resume: {checkpoint} does not exist")
    else:
        trainer = _new_trainer(args, device)
    flag = _StopFlag()
    previous = {s: signal.signal(s, flag.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        finished = trainer.run(progress=not args.no_progress, should_stop=flag)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not finished:
        print(f"stopped at step {trainer.step}; run the same command again to resume", file=sys.stderr)
        return 130
    print(f"trained {trainer.step} steps; checkpoint: {checkpoint}", file=sys.stderr)
    if args.export is not None:
        manifest = export_checkpoint(checkpoint, args.export, command=trainer.command)
        print(f"exported {args.export} ({manifest['bytes']} bytes, sha256 {manifest['sha256'][:12]}…)")
    return 0
