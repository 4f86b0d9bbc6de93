"""load_rgb: mode conversions with exact pixel values, antialiased resize, JPEG draft, errors."""

import os

import numpy as np
import pytest
from PIL import Image

from medvlm.data.images import ImageError, load_rgb


def save(tmp_path, name, array_or_image, **kwargs):
    path = tmp_path / name
    image = array_or_image
    if isinstance(array_or_image, np.ndarray):
        image = Image.fromarray(array_or_image)
    image.save(path, **kwargs)
    return path


def test_gray_becomes_three_identical_channels(tmp_path):
    gray = np.array([[0, 77], [200, 255]], dtype=np.uint8)
    out = load_rgb(save(tmp_path, "g.png", gray), 2)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], gray)


def test_gray_with_alpha_drops_alpha(tmp_path):
    image = Image.new("LA", (3, 3), (90, 0))  # fully transparent: compositing would change it
    out = load_rgb(save(tmp_path, "la.png", image), 3)
    assert (out == 90).all()


def test_rgba_drops_alpha_without_compositing(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[..., 3] = 0  # transparent: composited on black it would be (0, 0, 0)
    rgba[0, 0] = (200, 100, 50, 255)
    out = load_rgb(save(tmp_path, "a.png", rgba), 4)
    np.testing.assert_array_equal(out[0, 0], (200, 100, 50))
    np.testing.assert_array_equal(out[3, 3], (10, 20, 30))
    assert out.flags.writeable


def test_palette_image_gives_its_colours(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 0), 1)
    out = load_rgb(save(tmp_path, "p.png", image), 2)
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [0, 0, 255]])


# 16-bit values v map to round(v * 255 / 65535) = round(v / 257):
#   0 → 0; 128 → 0.498 → 0; 129 → 0.502 → 1; 200 → 0.778 → 1 (a >>8 shift would give 0);
#   257 → 1; 32896 = 128·257 → 128 (clipping at 255 would give 255); 65535 → 255.
SIXTEEN_BIT_IN = [0, 128, 129, 200, 257, 32896, 65535]
SIXTEEN_BIT_OUT = [0, 0, 1, 1, 1, 128, 255]


@pytest.mark.parametrize(
    ("name", "dtype", "mode"),
    [("w.png", np.uint16, "I;16"), ("w.tif", np.int32, "I")],
)
def test_sixteen_bit_scaled_by_full_range(tmp_path, name, dtype, mode):
    values = np.array([SIXTEEN_BIT_IN] * 2, dtype=dtype)
    path = save(tmp_path, name, values)
    assert Image.open(path).mode == mode
    out = load_rgb(path, 7)
    # a 7×2 image resized to 7×7 keeps each column's value
    for channel in range(3):
        np.testing.assert_array_equal(out[0, :, channel], SIXTEEN_BIT_OUT)
        np.testing.assert_array_equal(out[6, :, channel], SIXTEEN_BIT_OUT)


def test_sixteen_bit_downscale_keeps_range(tmp_path):
    values = np.full((40, 40), 65535, dtype=np.uint16)
    values[:, 20:] = 32896
    out = load_rgb(save(tmp_path, "w.png", values), 4)
    assert (out[:, 0] == 255).all()  # left columns: 65535 → 255
    assert (out[:, 3] == 128).all()  # right columns: 32896 → 128


def test_downscale_is_antialiased(tmp_path):
    # A one-pixel checkerboard shrunk 8× averages 32 zeros and 32 255s per output pixel:
    # 127.5. Point sampling (no antialias) would give 0s and 255s.
    board = (np.indices((256, 256)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = load_rgb(save(tmp_path, "board.png", board), 32)
    assert out.min() >= 126 and out.max() <= 129


def test_non_square_is_stretched_to_square(tmp_path):
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    wide[:, :150] = (255, 0, 0)
    wide[:, 150:] = (0, 0, 255)
    out = load_rgb(save(tmp_path, "wide.png", wide), 10)
    assert out.shape == (10, 10, 3)
    np.testing.assert_array_equal(out[:, :4], np.broadcast_to([255, 0, 0], (10, 4, 3)))
    np.testing.assert_array_equal(out[:, 6:], np.broadcast_to([0, 0, 255], (10, 4, 3)))


def test_large_jpeg_decoded_at_reduced_scale_matches_full_decode(tmp_path):
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (30, 40, 3)), np.ones((20, 20, 1))).astype(np.uint8)
    path = save(tmp_path, "big.jpg", smooth, quality=95)  # 800×600
    out = load_rgb(path, 224)
    with Image.open(path) as image:  # no draft: full-size decode, then the same resize
        full = np.asarray(image.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))
    assert out.shape == (224, 224, 3)
    assert np.abs(out.astype(int) - full).mean() < 2.0
    assert not np.array_equal(out, full)  # close, but not the same: decoded at half scale


def test_gray_jpeg(tmp_path):
    path = save(tmp_path, "g.jpg", np.full((600, 800), 100, dtype=np.uint8), quality=95)
    out = load_rgb(path, 224)
    assert (np.abs(out.astype(int) - 100) <= 1).all()
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="file not found") as error:
        load_rgb(tmp_path / "nope.png", 8)
    assert error.value.path == str(tmp_path / "nope.png")


def test_corrupt_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="cannot decode") as error:
        load_rgb(garbage, 8)
    assert str(garbage) in str(error.value)

    whole = save(tmp_path, "whole.jpg", np.zeros((300, 300, 3), dtype=np.uint8))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(ImageError, match="cannot decode"):
        load_rgb(truncated, 8)


def test_bad_size(tmp_path):
    path = save(tmp_path, "g.png", np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="positive integer"):
        load_rgb(path, 0)


# Wide modes map their range onto 0..255; a 4×1 image resized to 4×4 keeps each column's value.
@pytest.mark.parametrize(
    ("values", "dtype", "mode"),
    [
        # float by its real range 0..1: v·255 = 0, 63.75, 127.5, 255 → 0, 64, 128, 255
        ([0.0, 0.25, 0.5, 1.0], np.float32, "F"),
        # 32-bit beyond 16 bits by its real range -1000..3000: (v+1000)·255/4000, the same numbers
        ([-1000, 0, 1000, 3000], np.int32, "I"),
    ],
)
def test_wide_modes_are_scaled_by_their_real_range(tmp_path, values, dtype, mode):
    path = save(tmp_path, "w.tif", np.array([values], dtype=dtype))
    assert Image.open(path).mode == mode
    out = load_rgb(path, 4)
    np.testing.assert_array_equal(out[2, :, 1], [0, 64, 128, 255])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_image_with_nan_or_infinity_is_refused(tmp_path, bad):
    values = np.ones((20, 20), dtype=np.float32)
    values[7, 11] = bad
    with pytest.raises(ImageError, match="NaN or infinite"):
        load_rgb(save(tmp_path, "f.tif", values), 4)


def test_pixel_limit_counts_the_pixels_the_decoder_makes(tmp_path):
    png = save(tmp_path, "p.png", np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ImageError, match=r"too many pixels: 10×10 = 100, over the limit of 99"):
        load_rgb(png, 4, max_pixels=99)
    assert load_rgb(png, 4, max_pixels=100).shape == (4, 4, 3)
    # an 800×800 JPEG shrunk to 16 px is decoded at 1/8 scale: 100×100 = 10,000 pixels
    jpeg = save(tmp_path, "j.jpg", np.zeros((800, 800, 3), dtype=np.uint8))
    assert load_rgb(jpeg, 16, max_pixels=10_000).shape == (16, 16, 3)
    with pytest.raises(ImageError, match="too many pixels"):
        load_rgb(jpeg, 16, max_pixels=9_999)


def test_pillow_default_limit_applies_and_pillow_check_stays_on(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=f"over the limit of {limit:,}"):
        load_rgb(save(tmp_path, "wide.png", np.zeros((1, limit + 1), dtype=np.uint8)), 4)
    assert Image.MAX_IMAGE_PIXELS == limit


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "a.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="cannot open: not a regular file but a FIFO"):
        load_rgb(fifo, 4)
