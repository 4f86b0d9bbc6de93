"""Draw a scene (a background plus marks) into pixels, and encode it as a PNG or JPEG file.

A scene is plain data, planned in the parent process from the seeded generator; rendering is a
pure function of it, so worker processes write the same bytes in any order.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from medvlm.data.synthetic.palette import BACKGROUND_TINT

FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg")}
MODES = ("L", "I;16", "RGB", "RGBA")
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Mark:
    """A filled shape inside ``box`` = (x_min, y_min, x_max, y_max), max exclusive."""

    shape: str
    box: tuple[int, int, int, int]
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    colour: bool
    background: tuple[tuple[int, ...], ...]  # a coarse grid of gray levels, stretched bilinearly
    marks: tuple[Mark, ...]


def shape_mask(shape: str, width: int, height: int) -> np.ndarray:
    """Boolean ``[height, width]`` mask of ``shape`` filling a box of that size.

    Pixel centres run from -1 to 1 along each axis and every shape gets one pixel step of
    slack, so each shape touches all four sides of its box: the pixels' extent is the box.
    """
    x = np.linspace(-1, 1, width)[None, :]
    y = np.linspace(-1, 1, height)[:, None]
    # one pixel step, plus a hair so that float rounding never breaks the symmetry
    slack_x, slack_y = 1 / max(width - 1, 1) + 1e-9, 1 / max(height - 1, 1) + 1e-9
    full = np.ones((height, width), dtype=bool)
    if shape == "rect":
        return full
    if shape == "frame":
        full[1:-1, 1:-1] = False
        return full
    if shape in ("circle", "ellipse"):
        return x**2 + y**2 <= 1 + slack_x**2 + slack_y**2
    if shape == "triangle":  # apex up
        return np.abs(x) <= (y + 1) / 2 + slack_x
    if shape == "diamond":
        return np.abs(x) + np.abs(y) <= 1 + slack_x + slack_y
    if shape == "cross":
        return (np.abs(x) <= 1 / 3 + slack_x) | (np.abs(y) <= 1 / 3 + slack_y)
    if shape == "wedge_left":  # the lower-left half of the box
        return x <= y
    if shape == "wedge_right":
        return -x <= y
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene) -> np.ndarray:
    """``uint8`` pixels: ``[H, W]`` for a gray scene, ``[H, W, 3]`` for a colour one."""
    grid = Image.fromarray(np.asarray(scene.background, dtype=np.uint8))
    gray = grid.resize((scene.width, scene.height), Image.Resampling.BILINEAR)
    if scene.colour:  # tint through lookup tables: far cheaper than float arithmetic
        channels = [gray.point([int(v * t) for v in range(256)]) for t in BACKGROUND_TINT]
        gray = Image.merge("RGB", channels)
    pixels = np.array(gray)
    for mark in scene.marks:
        x0, y0, x1, y1 = mark.box
        mask = shape_mask(mark.shape, x1 - x0, y1 - y0)
        value = mark.colour if scene.colour else mark.colour[0]
        pixels[y0:y1, x0:x1][mask] = value
    return pixels


def to_image(pixels: np.ndarray, mode: str) -> Image.Image:
    """Store gray or colour pixels in a Pillow mode; 16-bit spans 0..65535 (value × 257)."""
    if mode not in MODES:
        raise ValueError(f"unknown image mode {mode!r}; expected one of {MODES}")
    image = Image.fromarray(pixels)
    if mode == "I;16":
        gray = np.asarray(image.convert("L"), dtype=np.uint16) * np.uint16(257)
        return Image.fromarray(gray)
    return image if image.mode == mode else image.convert(mode)


def encode(scene: Scene, fmt: str, mode: str) -> bytes:
    """The bytes of the image file for ``scene``: a PNG or JPEG in Pillow ``mode``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; expected one of {sorted(FORMATS)}")
    if fmt == "jpeg" and mode not in ("L", "RGB"):
        raise ValueError(f"JPEG cannot store mode {mode!r}")
    buffer = io.BytesIO()
    image = to_image(render(scene), mode)
    if fmt == "jpeg":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()
