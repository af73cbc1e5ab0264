"""Text-to-image, CLIP guidance, sketch edits and outpainting through the pipeline (tiny models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glide_studio.core.generation.canvas import Extension, extend_canvas
from glide_studio.core.generation.events import Candidate, Finished, Preview, Started
from glide_studio.core.generation.request import EditRequest, RequestError, StageSettings
from glide_studio.core.imaging.region import Box
from glide_studio.core.model import build_clip
from glide_studio.core.pipeline.clip_guidance import ClipGuide
from glide_studio.core.pipeline.inpaint import Inpainter, StageModel
from glide_studio.core.pipeline.outpaint import outpaint, plan_squares
from glide_studio.core.pipeline.text2im import TextToImage, covers_square
from glide_studio.core.text.clip_tokenizer import CLIPTokenizer
from glide_studio.core.text.tokenizer import ByteTokenizer
from tiny_models import TINY_32, random_model

SMALL = {**TINY_32, "inpaint": True}
"""32 px keeps these tests fast; CLIP guidance resizes to its 64 px."""
FAST = {"base": StageSettings(steps="4"), "upsample": StageSettings(steps="2"), "use_upsampler": False}
TINY_CLIP = {
    "logit_scale": 100.0,
    "n_timesteps": 1000,
    "image_size": 64,
    "patch_size": 8,
    "n_vocab": 49408,
    "max_text_len": 77,
    "n_embd": 32,
    "n_head_state_text": 16,
    "n_head_text": 2,
    "n_xf_blocks_text": 1,
    "n_head_state_image": 16,
    "n_head_image": 2,
    "n_xf_blocks_image": 1,
}


def _stage(options: dict, seed: int, name: str) -> StageModel:
    model = random_model(options, seed=seed)
    return StageModel(model=model, tokenizer=ByteTokenizer(), noise_schedule="squaredcos_cap_v2", name=name)


@pytest.fixture(scope="module")
def clip_guide() -> ClipGuide:
    torch.manual_seed(0)
    return ClipGuide(
        clip=build_clip(TINY_CLIP).eval().requires_grad_(False), tokenizer=CLIPTokenizer.released()
    )


@pytest.fixture(scope="module")
def text2im(clip_guide) -> TextToImage:
    return TextToImage(base=_stage(TINY_32, 7, "tiny-text2im"), clip=clip_guide)


@pytest.fixture(scope="module")
def inpainter(text2im, clip_guide) -> Inpainter:
    return Inpainter(base=_stage(SMALL, 0, "tiny-inpaint"), text2im=text2im, clip=clip_guide)


def _photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _request(image, mask, **changes) -> EditRequest:
    return EditRequest(image=image, mask=mask, **{"prompt": "a red barn", **FAST, **changes})


def _result(runner, request) -> np.ndarray:
    events = list(runner.run(request))
    assert isinstance(events[-1], Finished)
    return events[-1].candidates[0].image


@pytest.mark.parametrize("sampler", ["ancestral", "ddim", "dpm++2m"])
def test_blank_canvas_uses_text_to_image(inpainter, text2im, sampler):
    blank = np.full((64, 64, 3), 127, np.uint8)
    request = _request(blank, np.ones((64, 64), bool), base=StageSettings(sampler=sampler, steps="3"), seed=5)
    assert covers_square(request.mask)
    events = list(inpainter.run(request))
    assert isinstance(events[0], Started) and events[0].steps == (3,) and events[0].box == Box(0, 0, 64, 64)
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == [1, 2, 3] and previews[0].images[0].shape == (32, 32, 4)
    candidate = next(e for e in events if isinstance(e, Candidate))
    assert candidate.box == Box(0, 0, 64, 64)
    assert np.array_equal(candidate.image, _result(text2im, request))
    without = Inpainter(base=inpainter.base)  # no text-to-image models: the inpainting model draws it
    assert not np.array_equal(candidate.image, _result(without, request))


def test_partly_known_square_stays_with_inpainting(inpainter):
    image = _photo(64, 64)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    request = _request(image, mask, seed=2)
    assert not covers_square(request.mask)
    plain = Inpainter(base=inpainter.base)
    assert np.array_equal(_result(inpainter, request), _result(plain, request))


def test_clip_guidance_changes_the_result_and_raises_similarity(inpainter, clip_guide):
    blank = np.full((64, 64, 3), 127, np.uint8)
    mask = np.ones((64, 64), bool)
    plain = _request(blank, mask, guidance_scale=1.0, seed=3, base=StageSettings(steps="6"))
    guided = plain.with_changes(clip_guidance=60.0)
    a, b = _result(inpainter, plain), _result(inpainter, guided)
    assert guided.describe()["clip_guidance"] == "60" and "guidance" not in guided.describe()
    assert "clip_guidance" not in plain.describe()

    def similarity(rgb):
        tokens = clip_guide.tokenizer.padded(plain.prompt, 77)
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            text = clip_guide.clip.text_embeddings(
                torch.tensor([tokens.tokens]), torch.tensor([tokens.length])
            )
            return (text * clip_guide.clip.image_embeddings(x, torch.tensor([0]))).sum().item()

    assert not np.array_equal(a, b)
    assert similarity(b) > similarity(a)


def test_clip_guidance_refusals(text2im):
    blank = np.zeros((64, 64, 3), np.uint8)
    mask = np.ones((64, 64), bool)
    with pytest.raises(RequestError, match="ddim sampler cannot"):
        _request(blank, mask, clip_guidance=3.0, base=StageSettings(sampler="ddim", steps="3"))
    with pytest.raises(RequestError, match="CLIP guidance must be"):
        _request(blank, mask, clip_guidance=-1.0)
    no_clip = Inpainter(base=_stage(SMALL, 0, "tiny-inpaint"))
    with pytest.raises(RequestError, match="clip-image-enc"):
        list(no_clip.run(_request(blank, mask, clip_guidance=3.0)))


def test_sketch_strength_sets_the_steps_and_how_much_is_kept(inpainter):
    image = _photo(64, 64, seed=1)
    mask = np.zeros((64, 64), bool)
    mask[8:56, 8:40] = True
    sketch = image.copy()
    sketch[mask] = (200, 30, 30)
    base = StageSettings(steps="10")
    keep = _request(image, mask, sketch=sketch, strength=0.0, base=base)
    redo = keep.with_changes(strength=1.0)
    half = keep.with_changes(strength=0.5)
    started = [next(iter(inpainter.run(r))) for r in (keep, half, redo)]
    assert [s.steps for s in started] == [(1,), (5,), (10,)]
    kept, redone = _result(inpainter, keep), _result(inpainter, redo)
    inner = np.zeros_like(mask)
    inner[12:52, 12:36] = True
    assert np.abs(kept[inner].astype(int) - sketch[inner]).mean() < 4
    assert np.abs(redone[inner].astype(int) - sketch[inner]).mean() > 30
    assert (
        keep.describe()["sketch_strength"] == "0"
        and "sketch_strength" not in _request(image, mask).describe()
    )


def test_sketch_validation():
    image = np.zeros((32, 48, 3), np.uint8)
    mask = np.ones((32, 48), bool)
    with pytest.raises(RequestError, match="sketch must be RGB uint8"):
        _request(image, mask, sketch=np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(RequestError, match="strength"):
        _request(image, mask, sketch=image, strength=1.5)
    with pytest.raises(RequestError, match="strength must be a number"):
        _request(image, mask, sketch=image, strength="high")


def test_extension_parsing_and_canvas():
    assert Extension.parse("0, 8,16,0") == Extension(top=8, right=16)
    for bad in ("1,2,3", "a,0,0,0", "-1,0,0,0", "0,0,0,0"):
        with pytest.raises(RequestError):
            Extension.parse(bad)
    image = _photo(40, 30)
    canvas, mask = extend_canvas(image, Extension(left=10, bottom=6))
    assert canvas.shape == (36, 50, 3) and mask.sum() == 36 * 50 - 30 * 40
    assert np.array_equal(canvas[:30, 10:], image) and not mask[:30, 10:].any()


def test_squares_cover_the_new_area_in_order():
    _, mask = extend_canvas(np.zeros((64, 64, 3), np.uint8), Extension(right=96))
    squares = plan_squares(mask)
    covered = np.zeros_like(mask)
    for box in squares:
        assert box.width == box.height == 64 and box.left >= 0 and box.right <= 160
        covered[box.slices] = True
    assert covered[mask].all()
    assert [b.left for b in squares] == sorted(b.left for b in squares)  # next to the picture first


def test_outpaint_fills_strip_square_by_square(inpainter):
    image = _photo(64, 64, seed=3)
    canvas, mask = extend_canvas(image, Extension(right=80))
    request = _request(canvas, mask, seed=9, candidates=2)
    events = list(outpaint(inpainter, request))
    squares = plan_squares(mask)
    assert len(squares) >= 2
    started = events[0]
    assert isinstance(started, Started) and started.stages == ("base",) * (2 * len(squares))
    previews = [e for e in events if isinstance(e, Preview)]
    assert len(previews) == 4 * 2 * len(squares)
    assert all(p.box.left >= 0 and p.box.right <= 144 for p in previews)
    finished = events[-1]
    assert isinstance(finished, Finished) and [c.seed for c in finished.candidates] == [9, 10]
    first = finished.candidates[0].image
    assert first.shape == canvas.shape
    assert np.array_equal(first[:, :48], image[:, :48])  # the picture, away from the seam, is untouched
    assert np.abs(first[mask].astype(int) - canvas[mask]).mean() > 10
    alone = list(outpaint(inpainter, request.with_changes(seed=10, candidates=1)))[-1]
    assert np.array_equal(alone.candidates[0].image, finished.candidates[1].image)


def test_clip_encoders_load_strictly_from_files(tmp_path, clip_guide):
    from glide_studio.core.pipeline.clip_guidance import load_clip_guide
    from glide_studio.core.weights.checkpoints import CheckpointError

    clip = clip_guide.clip
    torch.save(clip.text_encoder.state_dict(), tmp_path / "clip_text_enc.pt")
    torch.save(clip.image_encoder.state_dict(), tmp_path / "clip_image_enc.pt")
    paths = {"text_path": tmp_path / "clip_text_enc.pt", "image_path": tmp_path / "clip_image_enc.pt"}
    loaded = load_clip_guide(**paths, config=TINY_CLIP)
    x, t = torch.rand(2, 3, 64, 64) * 2 - 1, torch.tensor([999, 10])
    with torch.no_grad():
        assert torch.equal(loaded.clip.image_embeddings(x, t), clip.image_embeddings(x, t))
    with pytest.raises(CheckpointError, match="missing keys"):
        load_clip_guide(text_path=paths["image_path"], image_path=paths["image_path"], config=TINY_CLIP)


def test_text_to_image_runs_both_stages(clip_guide):
    upsampler = StageModel(
        model=random_model({**TINY_32, "image_size": 64, "super_res": True}, seed=8),
        tokenizer=ByteTokenizer(),
        noise_schedule="linear",
        name="tiny-upsample",
    )
    runner = TextToImage(base=_stage(TINY_32, 7, "tiny-text2im"), upsampler=upsampler)
    with pytest.raises(ValueError, match="not a base model"):
        TextToImage(base=_stage(SMALL, 0, "tiny-inpaint"))
    blank = np.zeros((40, 64, 3), np.uint8)
    request = _request(blank, np.ones((40, 64), bool), use_upsampler=True, seed=1)
    events = list(runner.run(request))
    assert events[0].stages == ("base", "upsample") and events[0].steps == (4, 2)
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.images[0].shape[0] for p in previews] == [32] * 4 + [64] * 2
    result = events[-1].candidates[0].image
    assert result.shape == (40, 64, 3) and result.std() > 0


def test_clip_guided_inpainting_keeps_the_known_region(inpainter):
    image = _photo(64, 64, seed=4)
    mask = np.zeros((64, 64), bool)
    mask[20:44, 20:44] = True
    plain = _request(image, mask, guidance_scale=1.0, seed=6)
    a, b = _result(inpainter, plain), _result(inpainter, plain.with_changes(clip_guidance=60.0))
    assert not np.array_equal(a[mask], b[mask])
    far = np.ones_like(mask)
    far[12:52, 12:52] = False
    assert np.array_equal(b[far], image[far])
