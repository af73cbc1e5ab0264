"""Generated pixels over transparent ones: opaque in the hole, in the session, projects and the CLI."""

from __future__ import annotations

import numpy as np
import torch

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.project import load_project, save_project
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.events import Candidate, Finished, Started
from glide_studio.core.generation.request import EditRequest
from glide_studio.core.imaging.region import Box
from glide_studio.core.imaging.transparency import coverage, feather, paste_over
from glide_studio.core.pipeline.tensors import feather_alpha


def test_numpy_feather_matches_the_pipelines_torch_feather():
    mask = np.zeros((60, 70), bool)
    mask[20:35, 15:40] = True
    for radius in (1, 3, 5):
        ours = feather(mask, radius)
        theirs = feather_alpha(torch.from_numpy(mask.astype(np.float32))[None, None], radius)[0, 0].numpy()
        assert np.abs(ours - theirs).max() < 1e-5


def test_paste_over_a_transparent_hole_is_opaque_and_keeps_opaque_pixels_exact():
    original = np.zeros((4, 4, 3), np.uint8)
    alpha = np.array([[0, 0, 255, 255]] * 4, np.uint8)
    patch = np.full((4, 4, 3), 200, np.uint8)
    weight = np.array([[1, 0.5, 1, 0.5]] * 4, np.float32)
    patch[:, 3] = 100  # the compositing's blend of 200 into black at weight 0.5
    patch[:, 1] = 100
    rgb, out_alpha = paste_over(original, alpha, patch, weight)
    assert out_alpha[:, 0].tolist() == [255] * 4 and out_alpha[:, 1].tolist() == [128] * 4
    assert out_alpha[:, 2:].min() == 255
    assert rgb[0, 1].tolist() == [200, 200, 200], "the hidden black does not tint the fading band"
    assert rgb[0, 3].tolist() == [100, 100, 100], "over opaque pixels the colours are the patch's"


def _transparent_session():
    rgb = np.full((64, 64, 3), 30, np.uint8)
    alpha = np.zeros((64, 64), np.uint8)
    alpha[:, 32:] = 255
    doc = Document(rgb, alpha=alpha)
    box = Box(8, 8, 24, 24)
    mask = np.zeros((64, 64), bool)
    mask[box.slices] = True
    doc.paint(doc.bounds, mask, True)
    session = EditingSession(doc)
    request = EditRequest(image=doc.rgb, mask=doc.mask, prompt="a red square", seed=5)
    session.start_run(request)
    session.handle(Started(stages=("base",), steps=(1,), seeds=(5,), box=Box(0, 0, 64, 64)))
    band = Box(6, 6, 26, 26)
    weight = coverage(mask, band, 1)
    red = np.zeros((20, 20, 3), np.float32)
    red[..., 0] = 220
    patch = (30 + weight[..., None] * (red - 30)).round().astype(np.uint8)
    cand = Candidate(index=0, seed=5, box=band, patch=patch, original=request.image)
    session.handle(cand)
    session.handle(Finished(candidates=(cand,), seconds=1.0))
    return session


def test_applying_over_transparent_pixels_makes_the_hole_opaque_and_undo_restores_it(tmp_path):
    session = _transparent_session()
    session.apply()
    doc = session.document
    assert doc.alpha is not None
    assert doc.alpha[8:24, 8:24].min() == 255 and doc.rgb[10, 10].tolist() == [220, 0, 0]
    assert doc.alpha[0, 0] == 0 and 0 < doc.alpha[7, 15] < 255, "a feathered edge, nothing beyond it"
    saved = doc.save(tmp_path / "out.png", remember=False)
    from PIL import Image

    with Image.open(saved) as image:
        assert np.asarray(image)[15, 15].tolist() == [220, 0, 0, 255]
    project = save_project(session, tmp_path / "p.glide")
    again = load_project(project)
    assert np.array_equal(again.document.alpha, doc.alpha)
    again.undo()
    assert again.document.alpha[8:24, 8:24].max() == 0
    session.undo()
    assert doc.alpha[8:24, 8:24].max() == 0


def test_keep_transparency_leaves_the_alpha_alone():
    session = _transparent_session()
    session.keep_transparency = True
    session.apply()
    assert session.document.alpha[8:24, 8:24].max() == 0
    assert session.document.rgb[10, 10].tolist() == [220, 0, 0]


def test_the_soft_edge_is_used_when_a_candidate_is_applied():
    session = _transparent_session()
    session.keep_transparency = True
    session.set_edge_softness(6)
    session.apply()
    rgb = session.document.rgb
    assert rgb[15, 15].tolist() == [220, 0, 0], "well inside the mask: the result"
    assert 30 < rgb[15, 8, 0] < 200, "at the mask's edge: faded into the picture"
    assert rgb[15, 5].tolist() == [30, 30, 30], "outside the mask: untouched"
    session.undo()
    session.undo()
    assert session.edge_softness == 0
