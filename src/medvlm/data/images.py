"""Decode one image file into the square uint8 RGB array the models take.

What PaliGemma's preprocessing expects: RGB (gray → three identical channels, alpha dropped,
16-bit scaled by the full 16-bit range), bilinear resize with antialias to ``size × size``,
ignoring the aspect ratio. Pillow's bilinear ``resize`` widens its filter by the scale factor
when it shrinks, so downscaling averages instead of aliasing. A JPEG much larger than the target
is decoded at a reduced DCT scale first (``Image.draft``), which is most of the decode time saved.

Wide grayscale modes are mapped onto 0..255 by their range, never clipped to black: 16-bit
images by the full 16-bit range (65535 → 255); 32-bit integer images (``I``) the same when their
values fit 16 bits (what some 16-bit readers give), else by their real range (lowest value → 0,
highest → 255); 32-bit float images (``F``) by their real range, and refused when they hold NaN
or infinity. A constant wide image is black. Resizing happens before the mapping, on the image's
own values, so a large 16-bit image costs its decoded 2 bytes a pixel and no float copy.

Hostile files: an image with more pixels than ``max_pixels`` (default: Pillow's decompression
bomb limit, ``PIL.Image.MAX_IMAGE_PIXELS``) is refused before it is decoded, counting the pixels
the decoder will actually produce (after the JPEG draft); a FIFO or device is never read.
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np
from PIL import Image

from medvlm.io import open_regular

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
WIDE_MODES = SIXTEEN_BIT_MODES | {"I", "F"}
GRAY_MODES = frozenset({"1", "L", "LA"})
SIXTEEN_BIT_MAX = 65535

# Pillow's own bomb check runs inside Image.open on the declared size; ours replaces it (after the
# draft, with the configured limit), so Pillow's is switched off around the open, one at a time.
_PILLOW_LIMIT = threading.Lock()


class ImageError(Exception):
    """An image file that is missing, refused or cannot be decoded."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class _Refused(Exception):
    """An image that decodes but is not used; the message is the reason."""


def load_rgb(path: str | os.PathLike, size: int, max_pixels: int | None = None) -> np.ndarray:
    """Decode ``path`` once into a ``uint8`` array of shape ``[size, size, 3]``.

    ``max_pixels``: the most pixels an image may decode to (None: Pillow's bomb limit).
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"image size must be a positive integer, got {size!r}")
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        handle = open_regular(path)
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as error:
        raise ImageError(path, f"cannot open: {error.strerror}") from None
    try:
        with handle, _open(handle) as image:
            # JPEG decoders shrink by 1/2, 1/4 or 1/8 while keeping both sides >= size; other
            # formats ignore draft.
            image.draft("RGB", (size, size))
            width, height = image.size
            if limit is not None and width * height > limit:
                raise _Refused(
                    f"too many pixels: {width}×{height} = {width * height:,}, over the limit of "
                    f"{limit:,} (shards.max_pixels)"
                )
            return _to_rgb(image, size)
    except _Refused as refused:
        raise ImageError(path, str(refused)) from None
    # Decoder plugins raise many exception types for damaged files (OSError, SyntaxError,
    # ValueError, struct.error, MemoryError...): any of them means "cannot decode".
    except Exception as error:
        raise ImageError(path, f"cannot decode: {type(error).__name__}: {error}") from None


def _open(handle) -> Image.Image:
    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(handle)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _to_rgb(image: Image.Image, size: int) -> np.ndarray:
    if image.mode in WIDE_MODES:
        low, high = _value_range(image)
        values = np.asarray(_resize(image, size), dtype=np.float64)
        if not np.isfinite(values).all():
            raise _Refused("float image holds NaN or infinite values")
        scale = 255 / (high - low) if high > low else 0.0
        gray = np.rint((values - low) * scale).clip(0, 255).astype(np.uint8)
        return _three_channels(gray)
    if image.mode in GRAY_MODES:
        return _three_channels(np.asarray(_resize(image.convert("L"), size)))
    return np.array(_resize(image.convert("RGB"), size))  # a writable copy, like the others


def _value_range(image: Image.Image) -> tuple[float, float]:
    """The values that map to 0 and 255 (rules in the module docstring)."""
    if image.mode in SIXTEEN_BIT_MODES:
        return 0, SIXTEEN_BIT_MAX
    low, high = image.getextrema()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _Refused("float image holds NaN or infinite values")
    if image.mode == "I" and 0 <= low and high <= SIXTEEN_BIT_MAX:
        return 0, SIXTEEN_BIT_MAX
    return low, high


def _resize(image: Image.Image, size: int) -> Image.Image:
    return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)


def _three_channels(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)
