"""Procedural captioned scenes: one coloured shape over a varied background.

The demo model learns text-guided inpainting from these. Every scene is a pure
function of (seed, split, index), so a training run needs no data files, a
resumed run sees exactly the scenes it would have seen, and held-out scenes
(another split) never overlap the training ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

__all__ = [
    "PALETTE",
    "SHAPES",
    "Scene",
    "SceneSpec",
    "SyntheticScenes",
    "nearest_colour",
    "render_scene",
]

PALETTE: MappingProxyType = MappingProxyType(
    {
        "red": (215, 38, 38),
        "orange": (245, 135, 20),
        "yellow": (245, 215, 30),
        "green": (40, 160, 60),
        "cyan": (30, 200, 210),
        "blue": (35, 75, 215),
        "purple": (130, 45, 175),
        "pink": (245, 125, 185),
        "brown": (125, 75, 35),
        "black": (20, 20, 20),
        "white": (245, 245, 245),
        "gray": (128, 128, 128),
    }
)
"""Named colours (sRGB 0-255); far enough apart that the nearest name is unambiguous."""

SHAPES = ("circle", "square", "triangle", "star", "ring", "diamond", "hexagon", "cross")
BACKGROUNDS = ("flat", "gradient", "stripes", "noise", "sky")
SIZES = {"small": (0.13, 0.18), "medium": (0.19, 0.26), "large": (0.27, 0.36)}
"""Shape radius as a fraction of the image side."""
_SIZE_WORDS = {"small": ("small", "tiny"), "large": ("large", "big")}
_SKY = ("blue", "cyan", "white", "orange", "gray")
_GROUND = ("green", "brown", "yellow", "gray")
_SPLITS = {"train": 0, "heldout": 1}


@dataclass(frozen=True)
class Scene:
    image: np.ndarray
    """uint8 (size, size, 3)."""
    caption: str
    box: tuple[int, int, int, int]
    """The shape's pixel bounds (top, left, bottom, right), bottom/right exclusive."""
    colour: str
    shape: str


@dataclass(frozen=True, kw_only=True)
class SceneSpec:
    """What to draw; ``render_scene`` turns it into pixels deterministically."""

    shape: str
    colour: str
    centre: tuple[float, float]
    """(y, x) in pixels."""
    radius: float
    angle: float = 0.0
    background: str = "flat"
    background_colours: tuple[str, ...] = ("white",)
    size_word: str = ""
    mention_background: bool = False


def nearest_colour(rgb: np.ndarray | tuple[float, float, float]) -> str:
    """The palette name closest (Euclidean, 0-255 RGB) to a colour."""
    rgb = np.asarray(rgb, dtype=np.float64)
    names = list(PALETTE)
    table = np.array([PALETTE[n] for n in names], dtype=np.float64)
    return names[int(np.argmin(((table - rgb) ** 2).sum(axis=1)))]


# -- shapes ---------------------------------------------------------------------


def _regular(count: int, start: float, radius: float = 1.0) -> list[tuple[float, float]]:
    return [
        (
            radius * math.cos(start + 2 * math.pi * k / count),
            radius * math.sin(start + 2 * math.pi * k / count),
        )
        for k in range(count)
    ]


def _polygon(shape: str) -> list[tuple[float, float]]:
    """Vertices (x, y) in unit coordinates, y pointing down."""
    up = -math.pi / 2
    if shape == "triangle":
        return [(x, y + 0.2) for x, y in _regular(3, up, 1.15)]
    if shape == "hexagon":
        return _regular(6, 0.0)
    if shape == "diamond":
        return [(0, -1), (0.8, 0), (0, 1), (-0.8, 0)]
    if shape == "star":
        outer = _regular(5, up)
        inner = _regular(5, up + math.pi / 5, 0.45)
        return [p for pair in zip(outer, inner, strict=True) for p in pair]
    if shape == "cross":
        a, b = 0.34, 1.0
        return [
            (-a, -b),
            (a, -b),
            (a, -a),
            (b, -a),
            (b, a),
            (a, a),
            (a, b),
            (-a, b),
            (-a, a),
            (-b, a),
            (-b, -a),
            (-a, -a),
        ]
    raise ValueError(f"unknown shape {shape!r}")


def _inside_polygon(x: np.ndarray, y: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule, vectorised over points, looping over edges."""
    inside = np.zeros(x.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


def _shape_mask(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which unit-coordinate points lie inside the shape."""
    if shape == "circle":
        return x * x + y * y <= 1.0
    if shape == "ring":
        r2 = x * x + y * y
        return (r2 <= 1.0) & (r2 >= 0.36)
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.85
    return _inside_polygon(x, y, _polygon(shape))


def _coverage(spec: SceneSpec, size: int) -> np.ndarray:
    """Anti-aliased (supersampled) coverage of the shape, float32 (size, size)."""
    ss = max(2, 128 // size)
    coords = (np.arange(size * ss, dtype=np.float32) + 0.5) / ss
    yy, xx = np.meshgrid(coords - spec.centre[0], coords - spec.centre[1], indexing="ij")
    cos, sin = math.cos(spec.angle), math.sin(spec.angle)
    u = (cos * xx + sin * yy) / spec.radius
    v = (-sin * xx + cos * yy) / spec.radius
    inside = _shape_mask(spec.shape, u, v).astype(np.float32)
    return inside.reshape(size, ss, size, ss).mean(axis=(1, 3))


# -- backgrounds ----------------------------------------------------------------


def _rgb(name: str) -> np.ndarray:
    return np.array(PALETTE[name], dtype=np.float32)


def _background(spec: SceneSpec, size: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (size, size, 3) in 0-255."""
    colours = [_rgb(c) for c in spec.background_colours]
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(t, t, indexing="ij")
    if spec.background == "flat":
        return np.broadcast_to(colours[0], (size, size, 3)).copy()
    if spec.background in ("gradient", "stripes"):
        theta = rng.uniform(0, 2 * math.pi)
        along = math.cos(theta) * xx + math.sin(theta) * yy
        if spec.background == "gradient":
            w = (along - along.min()) / max(float(np.ptp(along)), 1e-6)
        else:
            period = rng.uniform(0.12, 0.3)
            w = 0.5 + 0.5 * np.clip(3 * np.sin(2 * math.pi * along / period), -1, 1)
        return colours[0] * (1 - w[..., None]) + colours[1] * w[..., None]
    if spec.background == "noise":
        cells = int(rng.integers(3, 7))
        coarse = rng.normal(0, 25, size=(cells, cells, 3)).astype(np.float32)
        idx = np.minimum((t * cells).astype(int), cells - 1)
        blotches = coarse[idx][:, idx]
        fine = rng.normal(0, 10, size=(size, size, 3)).astype(np.float32)
        return colours[0] + blotches + fine
    # "sky": a sky colour fading slightly towards the horizon, ground below it.
    horizon = rng.uniform(0.55, 0.8)
    sky = colours[0] * (0.85 + 0.15 * (1 - yy[..., None]))
    ground = colours[1] * (0.9 + 0.1 * yy[..., None])
    return np.where((yy < horizon)[..., None], sky, ground)


# -- captions and specs ---------------------------------------------------------


def _background_phrase(spec: SceneSpec) -> str:
    cols = spec.background_colours
    if spec.background == "flat":
        return f"on a {cols[0]} background"
    if spec.background == "gradient":
        return f"on a {cols[0]} and {cols[1]} gradient"
    if spec.background == "stripes":
        return f"on {cols[0]} and {cols[1]} stripes"
    if spec.background == "noise":
        return f"on a speckled {cols[0]} background"
    article = "an" if cols[0][0] in "aeiou" else "a"
    return f"in {article} {cols[0]} sky above {cols[1]} ground"


def caption_for(spec: SceneSpec) -> str:
    """E.g. "a small blue star on a green background" (the colour always named first)."""
    words = [spec.size_word] if spec.size_word else []
    words += [spec.colour, spec.shape]
    if spec.mention_background:
        words.append(_background_phrase(spec))
    article = "an" if words[0][0] in "aeiou" else "a"
    return " ".join([article, *words])


def _pick_background(rng: np.random.Generator, colour: str) -> tuple[str, tuple[str, ...]]:
    kind = str(rng.choice(BACKGROUNDS))
    others = [c for c in PALETTE if c != colour]
    if kind == "sky":
        sky = [c for c in _SKY if c != colour]
        ground = [c for c in _GROUND if c != colour]
        return kind, (str(rng.choice(sky)), str(rng.choice(ground)))
    picked = rng.choice(others, size=2, replace=False)
    return kind, (str(picked[0]), str(picked[1]))


def random_spec(rng: np.random.Generator, size: int, *, centred: bool = False) -> SceneSpec:
    """A random scene; ``centred`` puts a medium shape in the middle (for evaluation)."""
    shape = str(rng.choice(SHAPES))
    colour = str(rng.choice(list(PALETTE)))
    size_name = "medium" if centred else str(rng.choice(list(SIZES)))
    # A centred shape stays inside a hole half the image wide.
    radius = rng.uniform(*((0.18, 0.23) if centred else SIZES[size_name])) * size
    if centred:
        centre = (size / 2, size / 2)
    else:
        margin = radius * 1.05
        centre = (rng.uniform(margin, size - margin), rng.uniform(margin, size - margin))
    angle = 0.0 if shape in ("square", "diamond") else float(rng.uniform(-0.3, 0.3))
    background, background_colours = _pick_background(rng, colour)
    size_word = ""
    if size_name in _SIZE_WORDS and rng.random() < 0.6:
        size_word = str(rng.choice(_SIZE_WORDS[size_name]))
    return SceneSpec(
        shape=shape,
        colour=colour,
        centre=(float(centre[0]), float(centre[1])),
        radius=float(radius),
        angle=angle,
        background=background,
        background_colours=background_colours,
        size_word=size_word,
        mention_background=bool(rng.random() < 0.5),
    )


def render_scene(spec: SceneSpec, size: int, rng: np.random.Generator) -> Scene:
    """Draw a spec: background, then the shape (colour jittered slightly) on top."""
    background = _background(spec, size, rng)
    alpha = _coverage(spec, size)[..., None]
    colour = _rgb(spec.colour) + rng.uniform(-10, 10, size=3).astype(np.float32)
    image = background * (1 - alpha) + colour * alpha
    rows = np.flatnonzero(alpha[..., 0].max(axis=1) > 0.25)
    cols = np.flatnonzero(alpha[..., 0].max(axis=0) > 0.25)
    box = (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1) if rows.size else (0, 0, 0, 0)
    return Scene(
        image=np.clip(np.rint(image), 0, 255).astype(np.uint8),
        caption=caption_for(spec),
        box=box,
        colour=spec.colour,
        shape=spec.shape,
    )


@dataclass(frozen=True, kw_only=True)
class SyntheticScenes:
    """An endless, indexable set of scenes; ``split`` keeps held-out scenes apart."""

    image_size: int
    seed: int = 0
    split: str = "train"

    def __post_init__(self) -> None:
        if self.split not in _SPLITS:
            raise ValueError(f"unknown split {self.split!r}; choose one of {', '.join(_SPLITS)}")

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SPLITS[self.split], index])

    def __getitem__(self, index: int) -> Scene:
        rng = self.rng(index)
        return render_scene(random_spec(rng, self.image_size), self.image_size, rng)

    def centred(self, index: int) -> Scene:
        """A scene whose medium-sized shape sits in the middle (evaluation)."""
        rng = self.rng(index)
        return render_scene(random_spec(rng, self.image_size, centred=True), self.image_size, rng)
