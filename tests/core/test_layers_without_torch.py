"""The editing layer and the window are torch-free, so the window appears before torch loads."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import importlib, importlib.abc, pkgutil, sys

class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, BlockTorch())
import glide_studio.core.editing as editing
names = [m.name for m in pkgutil.walk_packages(editing.__path__, "glide_studio.core.editing.")]
for name in names + ["glide_studio.core.generation.presets", "glide_studio.core.imaging.files",
                     "glide_studio.qt.main_window", "glide_studio.qt.app", "glide_studio.cli"]:
    importlib.import_module(name)
print(len(names))
"""


def test_editing_and_window_import_with_torch_blocked():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 7
