"""The frame box coordinates are written in for a model: original pixels, or a normalised frame.

A model sees every image stretched to a square of its own input size, whatever the original's
size, and the prompt does not say that size. Pixel coordinates of the original (the references'
frame) are therefore not something a model can read off what it sees; coordinates relative to
the image are. The ``normalized`` frame writes each coordinate as an integer from 0 to
:data:`NORMALIZED_MAX` across the image's width (x) and height (y):
``n = round(x / width * 1000)``, back as ``x = n * width / 1000`` rounded to a whole pixel.

Round trip: a whole-pixel coordinate comes back within one frame step (``width / 1000`` pixels);
exactly when the image is at most 1000 pixels on that axis (the error before rounding is at
most half a step, under half a pixel).
"""

from __future__ import annotations

PIXELS = "pixels"
NORMALIZED = "normalized"
FRAMES = (NORMALIZED, PIXELS)
NORMALIZED_MAX = 1000

Box = tuple[float, float, float, float]
Size = tuple[int, int]  # (width, height) of the original image

_UNITS = {
    PIXELS: "in pixels",
    NORMALIZED: f"as integers from 0 to {NORMALIZED_MAX} across the image width and height",
}


def check_frame(frame: str) -> str:
    if frame not in FRAMES:
        raise ValueError(f"unknown box frame {frame!r}; one of {', '.join(FRAMES)}")
    return frame


def units(frame: str) -> str:
    """How a prompt states the frame of the coordinates it asks for."""
    return _UNITS[check_frame(frame)]


def _to_frame(value: float, extent: int) -> int:
    return min(NORMALIZED_MAX, max(0, round(value / extent * NORMALIZED_MAX)))


def box_to_frame(box: Box, size: Size) -> Box:
    """A corner box in pixels of a ``size`` image as normalised integers (clipped to 0..1000)."""
    x1, y1, x2, y2 = box
    width, height = size
    return (
        _to_frame(x1, width),
        _to_frame(y1, height),
        _to_frame(x2, width),
        _to_frame(y2, height),
    )


def box_from_frame(box: Box, size: Size) -> Box:
    """A corner box in normalised units back to whole pixels of a ``size`` image."""
    x1, y1, x2, y2 = box
    width, height = size
    return (
        round(x1 * width / NORMALIZED_MAX),
        round(y1 * height / NORMALIZED_MAX),
        round(x2 * width / NORMALIZED_MAX),
        round(y2 * height / NORMALIZED_MAX),
    )
