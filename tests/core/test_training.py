"""The trainer: learning, exact resume, masks, datasets, channel expansion, export, the command."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from glide_studio.core.model import build_model
from glide_studio.core.text.tokenizer import ByteTokenizer
from glide_studio.core.training import (
    MASK_KINDS,
    CaptionedImages,
    DatasetError,
    MaskMix,
    TrainConfig,
    Trainer,
    export_checkpoint,
    init_weights_from,
    model_preset,
    open_source,
    random_mask,
    read_training_state,
)
from glide_studio.core.training.batches import draw_timesteps
from glide_studio.core.training.checkpointing import sha256_of
from glide_studio.core.training.loop import init_text_positions
from glide_studio.core.weights.checkpoints import load_model, save_checkpoint

torch.set_num_threads(2)
SIZE = model_preset("tiny")["image_size"]


def _trainer(
    tmp_path, *, steps: int, batch_size: int = 4, lr: float = 2e-3, name: str = "run", **changes
) -> Trainer:
    options = model_preset("tiny")
    config = TrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, warmup_steps=3, ema_decay=0.9, seed=3, **changes
    )
    return Trainer(
        options=options,
        source=open_source("synthetic", image_size=options["image_size"], seed=3),
        tokenizer=ByteTokenizer(),
        tokenizer_kind="bytes",
        config=config,
        out_dir=tmp_path / name,
        data_spec="synthetic",
    )


def test_short_run_lowers_the_loss(tmp_path):
    trainer = _trainer(tmp_path, steps=30, batch_size=6)
    losses = []
    assert trainer.run(progress=False, on_step=lambda r: losses.append(r.loss))
    assert len(losses) == 30
    assert np.mean(losses[-8:]) < 0.6 * np.mean(losses[:4])
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert (tmp_path / "run" / "log.jsonl").read_text().count("\n") >= 1


def test_resume_continues_exactly(tmp_path):
    straight = _trainer(tmp_path, steps=6, name="straight")
    expected = [straight.train_step().loss for _ in range(6)]

    first = _trainer(tmp_path, steps=6, name="split")
    assert not first.run(progress=False, should_stop=lambda: first.step == 3)
    assert read_training_state(first.checkpoint_path)["step"] == 3
    torch.manual_seed(999)  # whatever happened to the global RNG in between is undone
    resumed = Trainer.resume(
        first.checkpoint_path,
        source=open_source("synthetic", image_size=SIZE, seed=3),
        tokenizer=ByteTokenizer(),
    )
    assert resumed.step == 3
    assert [resumed.train_step().loss for _ in range(3)] == expected[3:]
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_zero_text_learning_rate_freezes_the_text_encoder(tmp_path):
    trainer = _trainer(tmp_path, steps=2, text_lr_scale=0.0)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train_step()
    trainer.train_step()
    after = trainer.model.state_dict()
    text = [
        k for k in before if k.startswith(("token_embedding", "transformer.", "transformer_proj", "final_ln"))
    ]
    assert text and all(torch.equal(before[k], after[k]) for k in text)
    assert not torch.equal(before["input_blocks.0.0.weight"], after["input_blocks.0.0.weight"])


def test_high_noise_rows_come_from_the_noisiest_steps():
    generator = torch.Generator().manual_seed(0)
    noisy = draw_timesteps(generator, 500, 1000, fraction=1.0, start=0.9)
    assert noisy.min() >= 900 and noisy.max() <= 999
    mixed = draw_timesteps(generator, 2000, 1000, fraction=0.5, start=0.9)
    assert 0.5 < (mixed >= 900).float().mean() < 0.6
    uniform = draw_timesteps(generator, 2000, 1000, fraction=0.0, start=0.9)
    assert 0.05 < (uniform >= 900).float().mean() < 0.15 and uniform.min() < 50


def test_positions_can_be_redrawn_for_a_fresh_model():
    model = build_model(model_preset("tiny"))
    init_text_positions(model, std=0.5)
    assert 0.4 < model.positional_embedding.std().item() < 0.6


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert config.lr_at(0) == pytest.approx(1e-4)
    assert config.lr_at(9) == pytest.approx(1e-3)
    assert config.lr_at(55) < 1e-3
    assert config.lr_at(100) == pytest.approx(1e-4)


# -- masks ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_each_mask_kind(kind):
    rng = np.random.default_rng(0)
    box = (10, 12, 20, 22)
    mask = random_mask(kind, 32, rng, box=box)
    assert mask.shape == (32, 32) and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    hidden = mask == 0
    assert hidden.any()
    if kind == "whole":
        assert hidden.all()
    else:
        assert not hidden.all()
    if kind == "object":
        assert hidden[10:20, 12:22].all()
        rows, cols = np.flatnonzero(hidden.any(1)), np.flatnonzero(hidden.any(0))
        assert len(rows) == len(cols) and len(rows) <= 10 + 4  # a square a little larger than the box
    if kind == "brush":
        rows, cols = np.flatnonzero(hidden.any(1)), np.flatnonzero(hidden.any(0))
        assert hidden.sum() < len(rows) * len(cols)  # strokes, not a rectangle


def test_mask_mix_draws_every_kind_and_rejects_nonsense():
    mix = MaskMix()
    rng = np.random.default_rng(1)
    assert {mix.choose(rng) for _ in range(400)} == set(MASK_KINDS)
    assert MaskMix.parse("object=1, whole=0.5").weights == {"object": 1.0, "whole": 0.5}
    with pytest.raises(ValueError, match="unknown mask kinds"):
        MaskMix.parse("blob=1")
    with pytest.raises(ValueError, match="bad mask weight"):
        MaskMix.parse("object=lots")


def test_object_mask_falls_back_to_a_rectangle_without_a_box():
    mask = random_mask("object", 32, np.random.default_rng(2), box=None)
    assert 0 < (mask == 0).sum() < 32 * 32


# -- datasets -------------------------------------------------------------------


def _image(path, colour):
    Image.new("RGB", (48, 40), colour).save(path)


def test_folder_with_caption_files(tmp_path):
    _image(tmp_path / "a.png", (255, 0, 0))
    (tmp_path / "a.txt").write_text("a red picture\n")
    _image(tmp_path / "b.jpg", (0, 0, 255))
    (tmp_path / "b.txt").write_text("a blue picture")
    _image(tmp_path / "uncaptioned.png", (0, 255, 0))
    source = open_source(str(tmp_path), image_size=16, seed=0)
    assert isinstance(source, CaptionedImages) and len(source) == 2
    assert [source[i].caption for i in range(2)] == ["a red picture", "a blue picture"]
    assert source[0].image.shape == (16, 16, 3) and tuple(source[0].image[8, 8]) == (255, 0, 0)
    batch = source.batch(step=0, count=5, rng=np.random.default_rng(0))
    assert len(batch) == 5 and all(e.box is None for e in batch)


def test_csv_and_jsonl_lists(tmp_path):
    (tmp_path / "img").mkdir()
    _image(tmp_path / "img" / "x.png", (10, 20, 30))
    (tmp_path / "list.csv").write_text("file,caption\nimg/x.png,a dark square\n")
    (tmp_path / "list.jsonl").write_text(json.dumps({"file": "img/x.png", "caption": "dark"}) + "\n\n")
    assert open_source(str(tmp_path / "list.csv"), image_size=8, seed=0)[0].caption == "a dark square"
    assert open_source(str(tmp_path / "list.jsonl"), image_size=8, seed=0)[0].caption == "dark"
    (tmp_path / "captions.csv").write_text("image,text\nimg/x.png,from the folder's list\n")
    assert open_source(str(tmp_path), image_size=8, seed=0)[0].caption == "from the folder's list"


@pytest.mark.parametrize(
    ("files", "spec", "message"),
    [
        ({}, "missing", "no such folder or file"),
        ({"list.csv": "file,caption\nnope.png,x\n"}, "list.csv", "does not exist"),
        ({"list.csv": "name,caption\nx.png,x\n"}, "list.csv", "no file column"),
        ({"list.jsonl": "{broken\n"}, "list.jsonl", "not valid JSON"),
        ({"notes.txt": "hello"}, ".", "no captioned images"),
        ({"notes.txt": "hello"}, "notes.txt", "expected a folder"),
    ],
)
def test_dataset_errors_say_what_is_wrong(tmp_path, files, spec, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(DatasetError, match=message):
        open_source(str(tmp_path / spec), image_size=8, seed=0)


def test_unreadable_image_is_reported(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "bad.txt").write_text("broken")
    source = open_source(str(tmp_path), image_size=8, seed=0)
    with pytest.raises(DatasetError, match="cannot read the image"):
        source[0]


# -- initial weights and export -------------------------------------------------


def _randomised(options):
    torch.manual_seed(0)
    model = build_model(options)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)  # zero-initialised output layers would hide differences
    return model.eval()


def test_text2im_checkpoint_expands_into_an_inpainting_model(tmp_path):
    options = model_preset("tiny") | {"inpaint": False}
    text2im = _randomised(options)
    save_checkpoint(tmp_path / "base.pt", text2im)
    inpaint = build_model(options | {"inpaint": True}).eval()
    described = init_weights_from(tmp_path / "base.pt", inpaint)
    assert "4 zero-initialised input channels" in described
    first = inpaint.input_blocks[0][0].weight
    assert first.shape[1] == 7 and torch.all(first[:, 3:] == 0)
    x, t = torch.randn(2, 3, SIZE, SIZE), torch.tensor([10, 900])
    tokens = torch.randint(0, 256, (2, 32))
    mask = torch.ones(2, 32, dtype=torch.bool)
    with torch.no_grad():
        before = text2im(x, t, tokens=tokens, mask=mask)
        after = inpaint(
            x,
            t,
            tokens=tokens,
            mask=mask,
            inpaint_image=torch.randn(2, 3, SIZE, SIZE),
            inpaint_mask=torch.ones(2, 1, SIZE, SIZE),
        )
    assert before.abs().mean() > 0.01
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_export_writes_half_precision_weights_and_a_manifest(tmp_path):
    trainer = _trainer(tmp_path, steps=2)
    trainer.command = "glide-studio train --data synthetic"
    trainer.run(progress=False)
    manifest = export_checkpoint(
        trainer.checkpoint_path, tmp_path / "out" / "model.pt", command=trainer.command
    )
    on_disk = json.loads((tmp_path / "out" / "model.json").read_text())
    assert on_disk == manifest
    assert manifest["sha256"] == sha256_of(tmp_path / "out" / "model.pt")
    assert manifest["tokenizer"] == "bytes" and manifest["training"]["steps"] == 2
    assert manifest["training"]["command"].startswith("glide-studio train")
    assert manifest["options"]["n_vocab"] == 257 and manifest["options"]["noise_schedule"]
    raw = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in raw.values())
    model = load_model(tmp_path / "out" / "model.pt", manifest["options"], device="cpu")
    assert model.dtype == torch.float32
    for key, value in trainer.ema.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value.half().float(), rtol=0, atol=0)


# -- the command ----------------------------------------------------------------


def _run_command(argv, capsys):
    from glide_studio.cli import _Parser
    from glide_studio.commands import train

    parser = _Parser(prog="glide-studio train")
    train.add_arguments(parser)
    code = train.run(parser.parse_args(argv))
    return code, capsys.readouterr()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be positive"),
        (["--model-options", "{not json"], "not valid JSON"),
        (["--model-options", "nonsense"], "is not a preset"),
        (["--model-options", '{"image_size": 32}'], "model options lack"),
        (["--data", "no/such/folder"], "no such folder or file"),
        (["--init", "missing.pt"], "--init missing.pt: no such file"),
        (["--resume"], "does not exist"),
        (["--masks", "blob=1"], "unknown mask kinds"),
        (["--ema", "1.5"], "--ema must be in [0, 1)"),
        (["--tokenizer", "bpe", "--model-options", "tiny"], "the bpe tokenizer has 50257 tokens"),
    ],
)
def test_bad_arguments_give_one_line_and_no_traceback(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    code, out = _run_command(["--out", "run", "--steps", "1", "--no-progress", *extra], capsys)
    assert code != 0
    assert message in out.err
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_command_trains_resumes_and_exports(tmp_path, capsys):
    base = ["--out", str(tmp_path / "run"), "--model-options", "tiny", "--batch-size", "2", "--no-progress"]
    code, _ = _run_command([*base, "--steps", "2"], capsys)
    assert code == 0
    code, out = _run_command([*base, "--steps", "3", "--export", str(tmp_path / "m.pt")], capsys)
    assert code == 0 and "resuming" in out.err and "at step 2" in out.err
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["training"]["steps"] == 3
    assert "--steps 2" in manifest["training"]["command"]
    (resumed,) = manifest["training"]["resumed"]
    assert resumed.startswith("resumed at step 2 as: glide-studio train") and "--steps 3" in resumed


def test_parser_requires_out():
    from glide_studio.cli import _Parser
    from glide_studio.commands import train

    parser = _Parser(prog="glide-studio train")
    train.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--steps", "3"])
    assert isinstance(parser.parse_args(["--out", "x"]), argparse.Namespace)


def test_text_warm_up_trains_only_the_encoder_and_matches_the_timestep_loudness():
    from glide_studio.core.model.layers import timestep_embedding
    from glide_studio.core.training.batches import encode_captions
    from glide_studio.core.training.text_warmup import TextWarmup, warm_up_text_encoder

    torch.manual_seed(0)
    model = build_model(model_preset("tiny"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = warm_up_text_encoder(
        model, tokenizer=ByteTokenizer(), settings=TextWarmup(steps=60, batch_size=32, lr=1e-2)
    )
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "transformer_proj.weight" in changed and "token_embedding.weight" in changed
    text_prefixes = ("token_", "positional_", "padding_", "transformer", "final_ln")
    assert all(k.startswith(text_prefixes) for k in changed)  # the UNet is untouched
    captions = ["a red circle", "a blue star", ""]
    tokens, mask = encode_captions(captions, ByteTokenizer(), model.config.text_ctx)
    with torch.no_grad():
        steps = torch.linspace(0, 999, 64).round()
        time_norm = model.time_embed(timestep_embedding(steps, model.config.model_channels)).norm(dim=1)
        proj = model.encode_text(tokens, mask).proj
    assert 0.5 < float(proj.norm(dim=1).mean() / time_norm.mean()) < 2
