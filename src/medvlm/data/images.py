"""Decode one image file into the square uint8 RGB array the models take.

What PaliGemma's preprocessing expects: RGB (gray → three identical channels, alpha dropped,
16-bit scaled by the full 16-bit range), bilinear resize with antialias to ``size × size``,
ignoring the aspect ratio. Pillow's bilinear ``resize`` widens its filter by the scale factor
when it shrinks, so downscaling averages instead of aliasing. A JPEG much larger than the target
is decoded at a reduced DCT scale first (``Image.draft``), which is most of the decode time saved.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

# Pillow's modes for 16-bit grayscale; "I" (32-bit int) is what some 16-bit PNG readers give.
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
GRAY_MODES = frozenset({"1", "L", "LA"})


class ImageError(Exception):
    """An image file that is missing or cannot be decoded."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def load_rgb(path: str | os.PathLike, size: int) -> np.ndarray:
    """Decode ``path`` once into a ``uint8`` array of shape ``[size, size, 3]``."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"image size must be a positive integer, got {size!r}")
    try:
        with Image.open(path) as image:
            # JPEG decoders shrink by 1/2, 1/4 or 1/8 while keeping both sides >= size; other
            # formats ignore draft.
            image.draft("RGB", (size, size))
            return _to_rgb(image, size)
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    # Decoder plugins raise many exception types for damaged files (OSError, SyntaxError,
    # ValueError, struct.error, DecompressionBombError...): any of them means "cannot decode".
    except Exception as error:
        raise ImageError(path, f"cannot decode: {type(error).__name__}: {error}") from None


def _to_rgb(image: Image.Image, size: int) -> np.ndarray:
    if image.mode in SIXTEEN_BIT_MODES:
        gray = _resize(_sixteen_bit_as_float(image), size)
        return _three_channels(np.rint(np.asarray(gray)).clip(0, 255).astype(np.uint8))
    if image.mode in GRAY_MODES:
        return _three_channels(np.asarray(_resize(image.convert("L"), size)))
    return np.array(_resize(image.convert("RGB"), size))  # a writable copy, like the others


def _sixteen_bit_as_float(image: Image.Image) -> Image.Image:
    """A 16-bit image as a float image on 0..255: 65535 maps to 255, nothing is clipped at 255.

    Values of a 32-bit ``I`` image outside the 16-bit range are clipped to it.
    """
    values = np.asarray(image).astype(np.float32).clip(0, 65535)
    return Image.fromarray(values * np.float32(255 / 65535))


def _resize(image: Image.Image, size: int) -> Image.Image:
    return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)


def _three_channels(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)
