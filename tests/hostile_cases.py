"""Builders for the hostile-file tests: an edited session without a model, 16-bit pictures,
projects rewritten entry by entry, and a peak-memory probe in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.patches import EditRecord
from glide_studio.core.editing.project import save_project
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.editing.undo_steps import ApplyStep
from glide_studio.core.imaging.region import Box

PROJECT_ROOT = Path(__file__).resolve().parents[1]

PARAMETERS = {"prompt": "a red square", "seed": "7", "sampler": "ddim", "steps": "50", "guidance": "3"}


def picture(width: int = 50, height: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def apply_edit(session: EditingSession, box: Box | None = None, value: int = 200) -> None:
    """Paint ``box`` as the mask and apply an edit that fills it with ``value``, with its record."""
    box = box or Box(5, 10, 25, 20)
    doc = session.document
    mask = np.zeros((doc.height, doc.width), bool)
    mask[box.slices] = True
    doc.paint(doc.bounds, mask, True)
    record = EditRecord.capture({"seed": 7}, mask, Box(0, 0, 40, 40), "base-inpaint")
    pixels = np.full((box.height, box.width, 3), value, np.uint8)
    edit = doc.make_edit(pixels, box, PARAMETERS, record=record)
    assert edit is not None
    session.apply_edit(edit, forward=True)
    session.history.push(ApplyStep(edit, None))


def edited_session(width: int = 50, height: int = 40) -> EditingSession:
    session = EditingSession(Document(picture(width, height), path="photo.png"))
    apply_edit(session)
    return session


def project_files(session: EditingSession, path: Path) -> dict[str, bytes]:
    save_project(session, path)
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path: Path, files: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_zeros(zf: zipfile.ZipFile, name: str, size: int) -> None:
    """A deflated entry of ``size`` zero bytes, streamed (a zip bomb without holding it)."""
    block = bytes(64 * 1024 * 1024)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as handle:
        for start in range(0, size, len(block)):
            handle.write(block[: min(len(block), size - start)])


def deflated_zeros(size: int) -> bytes:
    """``zlib.compress(bytes(size))`` without holding ``size`` bytes."""
    packer = zlib.compressobj(1)
    block = bytes(64 * 1024 * 1024)
    out = [packer.compress(block[: min(len(block), size - start)]) for start in range(0, size, len(block))]
    return b"".join(out) + packer.flush()


def with_manifest(files: dict[str, bytes], change) -> dict[str, bytes]:
    """A copy of ``files`` whose manifest ``change(manifest)`` altered (or replaced, if it returned one)."""
    manifest = json.loads(files["manifest.json"])
    changed = change(manifest)
    out = dict(files)
    out["manifest.json"] = json.dumps(manifest if changed is None else changed).encode()
    return out


def peak_kb(body: str, *, timeout: float = 120) -> tuple[int, str]:
    """Run ``body`` in a fresh interpreter; (its peak resident memory in KiB, its output).

    Read from ``VmHWM`` (``getrusage``'s ``ru_maxrss`` would include the parent's peak, which
    survives ``fork`` and ``exec``). The interpreter with numpy, Pillow and the package
    imported holds about 100 MB of it.
    """
    if not Path("/proc/self/status").is_file():
        import pytest

        pytest.skip("peak memory is read from /proc (Linux)")
    prelude = (
        "import numpy, PIL.Image, json, zipfile\n"
        "import glide_studio.core.editing.project, glide_studio.core.editing.file_info\n"
    )
    script = (
        prelude
        + f"import sys\nsys.path.insert(0, {str(PROJECT_ROOT / 'tests')!r})\n"
        + textwrap.dedent(body)
        + "\nimport re\n"
        + "status = open('/proc/self/status').read()\n"
        + "print('PEAK_KB', re.search(r'VmHWM:\\s*(\\d+)', status).group(1))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT
    )
    output = done.stdout + done.stderr
    for line in done.stdout.splitlines():
        if line.startswith("PEAK_KB"):
            return int(line.split()[1]), output
    raise AssertionError(f"the probe did not finish:\n{output}")
