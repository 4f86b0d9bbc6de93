"""The intensities and colours the synthetic scenes are drawn with.

Every kind of mark has its own value, so a test (or a curious person) can find each one in a PNG
by exact comparison. Backgrounds stay at or below ``BACKGROUND_MAX``; pure white (``BRIGHT``) is
reserved for detection targets, so "the bright object" is unambiguous.
"""

from __future__ import annotations

BACKGROUND_MIN = 10
BACKGROUND_MAX = 70
# Colour scenes tint their gray background (a warm, tissue-like cast).
BACKGROUND_TINT = (1.0, 0.7, 0.6)

# Classification objects: gray levels for gray scenes, colours for colour scenes.
CLASS_GRAY = (95, 115, 135, 155, 175)
CLASS_RGB = (
    (200, 40, 40),
    (40, 170, 60),
    (50, 80, 210),
    (210, 190, 40),
    (170, 60, 190),
)
CLASS_SHAPES = ("circle", "rect", "triangle", "diamond", "cross")

MARK = 195  # multi-label marks
BAR_FRAME = 210  # regression bar outline
BAR_FILL = 230  # regression bar filling
BRIGHT = 255  # detection targets only

BLOB_RGB = (235, 110, 225)  # cells to count (luma 160 when stored in gray)

# Instance id ``k`` (1-based) is drawn in ``INSTANCE_RGB[k - 1]``.
INSTANCE_RGB = (
    (230, 60, 60),
    (60, 200, 80),
    (70, 110, 240),
    (240, 220, 60),
    (200, 80, 220),
    (60, 220, 220),
    (250, 150, 40),
    (160, 160, 160),
)

# The report scene (IU_XRay).
HEART = 150
OPACITY = 120
EFFUSION = 180
