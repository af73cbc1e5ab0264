"""Start-up costs as a user meets them: ``glide-studio --help``, and launch → the window's first paint.

Each is timed from the parent around a fresh process (interpreter start
included), best of ``--repeat``. The window is the real ``MainWindow`` on the
offscreen platform, with the demo model loading on its worker thread as in
the app; the child exits at the window's first paint event.

    python benchmarks/startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys
sys.path.insert(0, {root!r})
from PySide6.QtCore import QEvent, QObject
from glide_studio.qt.app import create_application
from glide_studio.qt.main_window import MainWindow
from glide_studio.qt.settings import temporary_settings


class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            print("painted", flush=True)
            import os
            os._exit(0)
        return False


def demo():
    from glide_studio.core.runtime.engine import load_local_backend
    return load_local_backend(demo=True, device="cpu")


app = create_application()
window = MainWindow(settings=temporary_settings({settings!r}), backend_factory=demo)
window.installEventFilter(FirstPaint(window))
window.show()
app.exec()
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    with tempfile.TemporaryDirectory() as tmp:
        env["GLIDE_STUDIO_DATA"] = tmp
        script = CHILD.format(root=str(ROOT), settings=str(Path(tmp) / "s.ini"))
        help_s = min(
            timed([sys.executable, "-m", "glide_studio.cli", "--help"], env) for _ in range(args.repeat)
        )
        paint_s = min(timed([sys.executable, "-c", script], env) for _ in range(args.repeat))
    print(f"glide-studio --help: {help_s:.2f} s; launch to the window's first paint: {paint_s:.2f} s")


if __name__ == "__main__":
    main()
