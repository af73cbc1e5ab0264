"""Retake docs/screenshot.png: the real window, mid-generation, on a photo-like sample.

Run under an X server (the capture uses ImageMagick's ``import``)::

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python scripts/screenshot.py

With the released weights it edits a photo-like landscape (a sailboat on the
lake); with only the built-in demo model it edits the bundled shapes scene
(a red circle in the sky), which is what that model knows how to paint; with
neither, the tiny random test models run on the landscape (their previews
are coloured noise: they show the mechanics, not the quality).
``--sample-only`` just (re)writes glide_studio/resources/samples/lakeside.png.
``--in-turn --candidate K``: make the candidates one after the other (what the
released models do on a CPU) and capture during candidate K's run.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "glide_studio" / "resources" / "samples" / "lakeside.png"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _smooth_noise(rng: np.random.Generator, height: int, width: int, scale: int) -> np.ndarray:
    """Value noise: a coarse random grid, bilinearly enlarged (cheap, natural-looking)."""
    coarse = rng.random((height // scale + 2, width // scale + 2))
    ys = np.arange(height) / scale
    xs = np.arange(width) / scale
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = coarse[y0][:, x0]
    b = coarse[y0][:, x0 + 1]
    c = coarse[y0 + 1][:, x0]
    d = coarse[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _ridge(rng: np.random.Generator, width: int, base: float, amplitude: float, scale: int) -> np.ndarray:
    line = _smooth_noise(rng, 1, width, scale)[0] * 0.65 + _smooth_noise(rng, 1, width, scale // 4)[0] * 0.35
    return base - amplitude * line


def make_sample(path: Path = SAMPLE, width: int = 960, height: int = 640, seed: int = 3) -> Path:
    """A lakeside landscape: sky, sun, two mountain ranges, a lake mirroring them, meadows."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(0, 1, width)[None, :]
    rows = np.arange(height)[:, None]
    shore = 0.60
    sky_top, sky_low = np.array([52, 96, 168]), np.array([248, 204, 158])
    t = np.clip(y / shore, 0, 1) ** 1.5
    img = np.broadcast_to(sky_top * (1 - t[..., None]) + sky_low * t[..., None], (height, width, 3)).copy()
    sun_x, sun_y = 0.70, 0.34
    dist = np.sqrt(((x - sun_x) * width / height) ** 2 + (y - sun_y) ** 2)
    glow = np.exp(-dist / 0.10)[..., None]
    img = img * (1 - 0.6 * glow) + np.array([255, 234, 186]) * 0.6 * glow
    img[dist < 0.04] = [255, 247, 224]
    wisps = _smooth_noise(rng, -(-height // 6), width, 120)
    wisps = np.repeat(wisps, 6, axis=0)[:height] * 0.7 + _smooth_noise(rng, height, width, 40) * 0.3
    cloud = np.clip((wisps - 0.55) * 3, 0, 1) * np.clip((shore - 0.15 - y) * 6, 0, 1)
    img = img * (1 - 0.45 * cloud[..., None]) + 252 * 0.45 * cloud[..., None]
    for base, amp, scale, color, haze in (
        (0.47, 0.20, 170, np.array([118, 124, 158]), 0.5),
        (0.58, 0.13, 90, np.array([46, 74, 62]), 0.15),
    ):
        ridge = _ridge(rng, width, base, amp, scale) * height
        mountain = (rows >= ridge[None, :]) & (rows < shore * height)
        shade = 0.85 + 0.3 * _smooth_noise(rng, height, width, 18)[..., None]
        tone = color * shade * (1 - haze) + sky_low * haze
        img = np.where(mountain[..., None], tone, img)
    top = int(shore * height)
    mirror = np.clip(2 * top - rows - 1, 0, top - 1).ravel()
    reflection = img[mirror, :] * 0.62 + np.array([34, 70, 104]) * 0.38
    waves = np.repeat(_smooth_noise(rng, -(-height // 3), width, 24), 3, axis=0)[:height, :, None]
    ripples = 0.94 + 0.12 * waves
    water = rows >= top
    img = np.where(water[..., None], reflection * ripples, img)
    below = np.clip(y - shore, 0, 1)
    left = (0.10 + 0.5 * below**1.2 + 0.04 * _smooth_noise(rng, height, 1, 30)) * (y > shore)
    right = (0.95 - 0.9 * below**1.3 - 0.04 * _smooth_noise(rng, height, 1, 30)) * (y > shore)
    meadow = water & ((x < left) | (x > right) | (y > 0.93))
    texture = _smooth_noise(rng, height, width, 10) * 0.3 + _smooth_noise(rng, height, width, 60)
    texture = texture[..., None]
    grass = np.array([70, 122, 60]) * (0.65 + 0.45 * texture) * (0.8 + 0.3 * y[..., None])
    img = np.where(meadow[..., None], grass, img)
    path.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, optimize=True)
    return path


SHAPES_SAMPLE = ROOT / "glide_studio" / "resources" / "samples" / "shapes.png"


def _real_engine():
    """The engine the app would load (released weights or the demo model), or None."""
    try:
        from glide_studio.core.runtime.engine import load_local_backend

        return load_local_backend()
    except Exception:  # no demo model yet: fall back to the tiny models
        return None


def _factory(engine):
    if engine is not None:
        return engine
    from glide_studio.core.runtime.engine import LocalBackend
    from tiny_models import tiny_inpainter

    return LocalBackend.of(
        tiny_inpainter(),
        description="tiny random test model",
        is_demo=True,
        missing=("base-inpaint", "upsample-inpaint"),
    )


def _paint_sailboat_mask(window) -> None:
    """A brush-like blob on the lake, painted with the real brush rasteriser."""
    from PySide6.QtCore import QPointF

    from glide_studio.qt.mask_tools import MaskStroke, capsule

    doc = window.session_model.document
    stroke = MaskStroke(window.session_model, True)
    path = [(300, 520), (330, 470), (360, 430), (385, 470), (410, 525), (360, 540), (310, 535)]
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        stroke.paint(capsule(QPointF(x0, y0), QPointF(x1, y1), 34, doc.width, doc.height))
    stroke.paint(capsule(QPointF(350, 480), QPointF(370, 500), 40, doc.width, doc.height))
    patch = stroke.finish()
    window.canvas.maskEdited.emit(patch, "Brush stroke")


def _paint_circle_mask(window) -> None:
    """A round blob in the empty sky of the shapes scene."""
    from PySide6.QtCore import QPointF

    from glide_studio.qt.mask_tools import MaskStroke, capsule

    doc = window.session_model.document
    stroke = MaskStroke(window.session_model, True)
    stroke.paint(capsule(QPointF(62, 84), QPointF(78, 92), 70, doc.width, doc.height))
    window.canvas.maskEdited.emit(stroke.finish(), "Brush stroke")


def take(
    output: Path,
    *,
    at_step: int,
    stage: str = "base",
    in_turn: bool = False,
    candidate: int = 0,
    wait: float = 0.3,
) -> int:
    from PySide6.QtCore import QTimer

    from glide_studio.qt.app import create_application
    from glide_studio.qt.main_window import MainWindow
    from glide_studio.qt.settings import temporary_settings

    app = create_application()
    settings = temporary_settings(Path(tempfile.mkdtemp()) / "settings.ini")
    engine = _real_engine()
    shapes = engine is not None and engine.info.is_demo
    if engine is not None and in_turn:
        engine.inpainter.in_turn = True
    window = MainWindow(settings=settings, backend_factory=lambda: _factory(engine))
    window.setGeometry(0, 0, 1600, 1000)
    window.show()
    panel = window.prompt_panel
    if shapes:
        window.files.open_path(SHAPES_SAMPLE)
        _paint_circle_mask(window)
        panel.prompt.setPlainText("a red circle")
        panel.guidance.setValue(3.0)
    else:
        window.files.open_path(make_sample() if not SAMPLE.exists() else SAMPLE)
        window.canvas.set_brush_size(64)
        _paint_sailboat_mask(window)
        panel.prompt.setPlainText("a small red sailboat with a white sail")
        panel.guidance.setValue(5.0)
    panel.candidates.setValue(4)
    # The demo models' own sampling (50 base steps, then the upsampler); else Quality (50 + 20).
    panel.select_preset("model" if shapes else "quality")
    result = {"code": 1}

    def capture() -> None:
        subprocess.run(["import", "-window", "root", str(output)], check=True)
        result["code"] = 0
        window.generation.cancel()
        QTimer.singleShot(500, window.close)

    from glide_studio.core.generation.events import Preview

    def on_event(event: object) -> None:
        if not isinstance(event, Preview):
            return
        if event.stage == stage and event.step == at_step and event.first == candidate:
            QTimer.singleShot(400, capture)

    window.service.event.connect(on_event)
    later = round(wait * 1000)
    window.service.backendReady.connect(lambda _info: QTimer.singleShot(later, window.generation.generate))
    QTimer.singleShot(180_000, app.quit)
    app.exec()
    window.service.shutdown()
    window.service.wait_stopped(10_000)  # the model thread must end before its QThread is freed
    if result["code"]:
        print(f"no screenshot: the run never reached {stage} step {at_step}", file=sys.stderr)
    return result["code"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--sample-only", action="store_true")
    parser.add_argument("--at-step", type=int, default=29, help="the step to capture")
    parser.add_argument("--stage", choices=("base", "upsample"), default="base", help="the stage to capture")
    parser.add_argument("--in-turn", action="store_true", help="make the candidates one after the other")
    parser.add_argument("--candidate", type=int, default=0, help="with --in-turn: whose run to capture")
    parser.add_argument("--wait", type=float, default=0.3, help="seconds from loading to Generate")
    args = parser.parse_args()
    if args.sample_only:
        print(make_sample())
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    return take(
        args.output,
        at_step=args.at_step,
        stage=args.stage,
        in_turn=args.in_turn,
        candidate=args.candidate,
        wait=args.wait,
    )


if __name__ == "__main__":
    sys.exit(main())
