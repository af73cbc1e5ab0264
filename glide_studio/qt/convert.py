"""numpy ↔ QImage without needless copies.

Canvas layers keep a numpy buffer in a format the raster paint engine blits
directly (32-bit BGRA, i.e. ``Format_RGB32`` / ``Format_ARGB32_Premultiplied``
on little-endian machines) and wrap it in a QImage that shares the memory.
A changed region is written into the buffer with numpy and only that rect is
repainted, so nothing converts the whole picture per mouse move.
"""

from __future__ import annotations

import sys

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPixmap

from ..core.imaging.region import Box

__all__ = [
    "BgraBuffer",
    "box_to_rect",
    "qimage_to_arrays",
    "rgb_to_qimage",
    "rgba_to_qimage",
    "to_pixmap",
]

_LITTLE = sys.byteorder == "little"


def box_to_rect(box: Box) -> QRect:
    return QRect(box.left, box.top, box.width, box.height)


class BgraBuffer:
    """A (H, W, 4) uint8 array and a QImage over the same memory.

    The QImage never owns or detaches the memory: it is created over the
    array and only ever painted (const use), so writes through ``array``
    show up at the next paint.
    """

    def __init__(self, width: int, height: int, *, premultiplied: bool) -> None:
        self.array = np.zeros((height, width, 4), dtype=np.uint8)
        fmt = QImage.Format.Format_ARGB32_Premultiplied if premultiplied else QImage.Format.Format_RGB32
        self.image = QImage(self.array.data, width, height, width * 4, fmt)
        if not premultiplied:
            self.array[..., 3] = 255

    def write_rgb(self, box: Box, rgb: np.ndarray) -> None:
        """Put RGB pixels (the size of ``box``, inside the buffer) at ``box``."""
        target = self.array[box.slices]
        if _LITTLE:
            target[..., 0] = rgb[..., 2]
            target[..., 1] = rgb[..., 1]
            target[..., 2] = rgb[..., 0]
        else:  # pragma: no cover - big-endian machines store ARGB
            target[..., 1:] = rgb

    def write_rgba(self, box: Box, rgb: np.ndarray, alpha: np.ndarray) -> None:
        """RGB with its alpha (both the size of ``box``), premultiplied for the paint engine."""
        a = alpha.astype(np.uint16)
        premultiplied = ((rgb.astype(np.uint16) * a[..., None] + 127) // 255).astype(np.uint8)
        self.write_rgb(box, premultiplied)
        if _LITTLE:
            self.array[box.slices][..., 3] = alpha
        else:  # pragma: no cover
            self.array[box.slices][..., 0] = alpha

    def write_solid(self, box: Box, where: np.ndarray, rgba: tuple[int, int, int, int]) -> None:
        """Premultiplied ``rgba`` where ``where`` is True, transparent elsewhere (overlays)."""
        r, g, b, a = rgba
        pixel = np.array([b * a // 255, g * a // 255, r * a // 255, a], dtype=np.uint8)
        if not _LITTLE:  # pragma: no cover
            pixel = pixel[::-1].copy()
        target = self.array[box.slices]
        target[...] = 0
        target[where] = pixel


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage copy of an RGB uint8 array (safe to keep after the array changes)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, w * 3, QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """A QImage copy of a straight-alpha RGBA uint8 array (previews)."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, w * 4, QImage.Format.Format_RGBA8888).copy()


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """RGB as is; RGBA (a thumbnail of a transparent picture) over a checkerboard."""
    if rgb.ndim == 3 and rgb.shape[2] == 4:
        image = rgba_to_qimage(rgb)
        pixmap = QPixmap(image.size())
        painter = QPainter(pixmap)
        painter.fillRect(pixmap.rect(), QBrush(checkerboard(4)))
        painter.drawImage(0, 0, image)
        painter.end()
        return pixmap
    return QPixmap.fromImage(rgb_to_qimage(rgb))


def checkerboard(square: int = 8) -> QPixmap:
    """The tile that shows transparency (light and mid grey squares)."""
    pixmap = QPixmap(2 * square, 2 * square)
    pixmap.fill(QColor(204, 204, 204))
    painter = QPainter(pixmap)
    for x, y in ((0, 0), (square, square)):
        painter.fillRect(x, y, square, square, QColor(153, 153, 153))
    painter.end()
    return pixmap


def qimage_to_arrays(image: QImage) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB uint8 and alpha (None when fully opaque) from any QImage (clipboard, drops)."""
    converted = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = converted.width(), converted.height()
    raw = np.frombuffer(converted.constBits(), dtype=np.uint8, count=converted.bytesPerLine() * h)
    rgba = raw.reshape(h, converted.bytesPerLine())[:, : w * 4].reshape(h, w, 4)
    rgb = np.ascontiguousarray(rgba[..., :3])
    alpha = rgba[..., 3].copy()
    return rgb, (None if alpha.min() == 255 else alpha)
