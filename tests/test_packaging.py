"""The wheel holds the package data, and an installed wheel works from any folder, offline."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from reference_data import PROJECT_ROOT

SHIPPED = [
    "glide_studio/core/text/vocab/encoder.json.gz",
    "glide_studio/core/text/vocab/vocab.bpe.gz",
    "glide_studio/core/weights/clip_keys.json",
    "glide_studio/resources/demo/demo_inpaint.pt",
    "glide_studio/resources/demo/demo_inpaint.json",
    "glide_studio/resources/samples/shapes.png",
    "glide_studio/resources/samples/shapes-mask.png",
    "glide_studio/resources/icons/app.png",
]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    start = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    print(f"{time.perf_counter() - start:6.2f} s  {' '.join(str(a) for a in args)[:150]}")
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources, so nothing stale in the checkout's build/ can slip in."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PROJECT_ROOT / "glide_studio", source / "glide_studio", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                "-w", tmp / "dist", source, cwd=tmp)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = (tmp / "dist").glob("glide_studio-*.whl")
    return found


def test_the_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in SHIPPED if name not in names]
    assert not missing, f"{wheel.name} lacks {missing}"
    icons = [n for n in names if n.startswith("glide_studio/resources/icons/") and n.endswith(".png")]
    assert len(icons) >= 20
    assert not [n for n in names if n.startswith(("tests/", "resources/", "scripts/"))]


@pytest.mark.slow
def test_an_installed_wheel_edits_an_image_from_another_folder(wheel, tmp_path):
    """A fresh virtual environment; its dependencies come from this one through a .pth file
    (the fast way to skip re-installing torch), which does not make this checkout importable."""
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
    dependencies = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    (Path(purelib.stdout.strip()) / "_deps.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
                    "-q", wheel, cwd=tmp_path)  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GLIDE_STUDIO_WEIGHTS")}
    env["HOME"] = env["XDG_CACHE_HOME"] = str(tmp_path / "home")  # an empty weights cache
    where = run(python, "-c", "import glide_studio; print(glide_studio.__file__)", cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    script = venv / ("Scripts/glide-studio.exe" if os.name == "nt" else "bin/glide-studio")
    samples = Path(where.stdout.strip()).parent / "resources" / "samples"
    edited = run(script, "inpaint", samples / "shapes.png", "--mask", samples / "shapes-mask.png",
                 "--prompt", "a red circle", "--demo", "--seed", "1", "--steps", "4", "--device", "cpu",
                 "-o", "after.png", cwd=elsewhere, env=env)  # fmt: skip
    assert edited.returncode == 0, edited.stderr[-3000:]
    assert (elsewhere / "after.png").stat().st_size > 1000

    refused = run(script, "inpaint", samples / "shapes.png", "--mask", samples / "shapes-mask.png",
                  "--prompt", "x", "--weights-dir", "/nonexistent", "-o", "no.png",
                  cwd=elsewhere, env=env)  # fmt: skip
    assert refused.returncode == 1
    assert "base_inpaint.pt" in refused.stderr and "/nonexistent" in refused.stderr
    assert not (elsewhere / "no.png").exists()
