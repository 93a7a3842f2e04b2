"""Labelled image grids, e.g. a comparison of group mean faces."""

from __future__ import annotations

import functools
import math
import unicodedata

import cv2
import numpy as np

from ._checks import check_image
from .errors import InvalidInput

# Label fonts, first that has a character wins: DejaVu Sans (Latin, Greek, Cyrillic, ...;
# shipped with matplotlib, a core dependency, and with most Linux systems), then CJK fonts
# where the system has them.
_FONT_FILES = (
    "DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


def _font_paths() -> list[str]:
    import importlib.util
    import os

    found = []
    spec = importlib.util.find_spec("matplotlib")  # its data folder, without importing it (0.2 s)
    package = list(spec.submodule_search_locations)[0] if spec and spec.submodule_search_locations else ""
    mpl = os.path.join(package, "mpl-data", "fonts", "ttf")  # matplotlib.get_data_path()'s fonts
    for name in _FONT_FILES:
        path = os.path.join(mpl, name)  # an absolute name stays as it is
        if os.path.isfile(path) and path not in found:
            found.append(path)
    return found


@functools.lru_cache(maxsize=16)
def _fonts(size: int) -> tuple:
    from PIL import ImageFont

    fonts = []
    for path in _font_paths():
        try:
            fonts.append(ImageFont.truetype(path, size))
        except OSError:
            continue
    return tuple(fonts) or (ImageFont.load_default(size),)


@functools.lru_cache(maxsize=64)
def _missing_glyph(font) -> tuple:
    """The size and pixels ``font`` draws for a character it lacks (a private-use code point)."""
    mask = font.getmask("\U0010fffd")
    return mask.size, bytes(mask)


@functools.lru_cache(maxsize=4096)
def _has_glyph(font, ch: str) -> bool:
    if ch.isspace():
        return True
    mask = font.getmask(ch)
    return (mask.size, bytes(mask)) != _missing_glyph(font)


def _runs(text: str, fonts: tuple) -> list[tuple[str, object]]:
    """``text`` cut into runs of characters drawn with the same font (the first that has them).

    Characters no installed font has are drawn as the first font's boxes, with a warning
    (logger ``morphkit.grid``) naming them, once per label.
    """
    runs: list[tuple[str, object]] = []
    missing = []
    for ch in unicodedata.normalize("NFC", str(text)):
        font = next((f for f in fonts if _has_glyph(f, ch)), None)
        if font is None:
            missing.append(ch)
            font = fonts[0]
        if runs and runs[-1][1] is font:
            runs[-1] = (runs[-1][0] + ch, font)
        else:
            runs.append((ch, font))
    if missing:
        _warn_missing_glyphs(str(text), "".join(dict.fromkeys(missing)))
    return runs


@functools.lru_cache(maxsize=256)
def _warn_missing_glyphs(text: str, chars: str) -> None:
    import logging

    logging.getLogger(__name__).warning(
        f"label {text!r}: no installed font has {chars!r}; drawn as boxes (install a font that has them, e.g. the "
        f"Debian package fonts-noto-cjk for Chinese, Japanese and Korean)")


def _text_width(runs) -> int:
    return int(sum(font.getlength(t) for t, font in runs))


def _draw_label(out: np.ndarray, text: str, x0: int, y0: int, width: int, band: int, size: int, color) -> None:
    """Draw ``text`` centred in the band ``(x0, y0, width, band)`` of ``out``, shrunk to fit the width."""
    from PIL import Image, ImageDraw

    runs = _runs(text, _fonts(size))
    w = _text_width(runs)
    if w > width - 4 and w > 0:
        size = max(6, int(size * (width - 4) / w))
        runs = _runs(text, _fonts(size))
        w = _text_width(runs)
    region = Image.fromarray(out[y0:y0 + band, x0:x0 + width])
    draw = ImageDraw.Draw(region)
    x = max(0, (width - w) // 2)
    for t, font in runs:
        draw.text((x, band // 2), t, font=font, fill=tuple(int(v) for v in color), anchor="lm")
        x += font.getlength(t)
    out[y0:y0 + band, x0:x0 + width] = np.asarray(region)


def image_grid(images: list[np.ndarray], labels: list[str], columns: int | None = None,
               tile_width: int | None = None, *, padding: int = 12,
               background=(255, 255, 255), text_color=(0, 0, 0)) -> np.ndarray:
    """Tile images in a grid with a text label under each.

    Each image is resized to ``tile_width`` keeping its aspect ratio and placed on a
    plain background; its label is centred in a band below it, shrunk to fit the tile
    width, in a Unicode font (DejaVu Sans: accents, Greek, Cyrillic; CJK where the
    system has a CJK font), with Pillow.

    RGBA tiles keep their transparency: when any image has an alpha channel the grid is
    uint8 ``(H, W, 4)`` RGBA, each tile's alpha kept (resized premultiplied, so transparent
    pixels do not bleed their colour into the edges; RGB 0 wherever alpha is 0), with the
    padding and label bands opaque ``background`` and RGB tiles opaque.

    Args:
        images: uint8 ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA images (sizes may differ).
        labels: one string per image (e.g. ``"Team A (n=12)"``).
        columns: grid columns; default ``ceil(sqrt(len(images)))``.
        tile_width: width of each tile in pixels; default the first image's width.
        padding: pixels between tiles and around the grid.
        background, text_color: RGB colours.

    Returns:
        uint8 ``(H, W, 3)`` RGB grid image, or ``(H, W, 4)`` RGBA when an image has alpha.

    Raises:
        ValueError: no images, a label count that differs from the image count, bad
            images, non-positive ``columns`` or ``tile_width``.
    """
    images = list(images)
    labels = list(labels)
    if not images:
        raise InvalidInput("image_grid needs at least one image")
    if len(labels) != len(images):
        raise InvalidInput(f"got {len(images)} images but {len(labels)} labels; counts must match")
    images = [_check_tile(im, f"images[{i}]") for i, im in enumerate(images)]
    rgba = any(im.shape[2] == 4 for im in images)
    n = len(images)
    cols = math.ceil(math.sqrt(n)) if columns is None else int(columns)
    if cols < 1:
        raise InvalidInput(f"columns must be >= 1, got {columns!r}")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    tw = images[0].shape[1] if tile_width is None else int(tile_width)
    if tw < 1:
        raise InvalidInput(f"tile_width must be >= 1, got {tile_width!r}")
    pad = max(0, int(padding))

    tiles = []
    for im in images:
        h, w = im.shape[:2]
        th = max(1, int(round(h * tw / w)))
        interp = cv2.INTER_AREA if tw < w else cv2.INTER_LINEAR
        tiles.append(_resize(im, tw, th, interp, rgba))
    tile_h = max(t.shape[0] for t in tiles)

    font_size = max(10, int(round(tw / 450.0 * 26)))
    band = int(font_size * 1.6) + 2 * max(4, pad // 2)

    cell_w, cell_h = tw, tile_h + band
    out = np.empty((rows * cell_h + (rows + 1) * pad, cols * cell_w + (cols + 1) * pad, 3), np.uint8)
    out[:] = np.asarray(background, dtype=np.uint8)
    alpha = np.full(out.shape[:2], 255, np.uint8) if rgba else None
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        r, c = divmod(i, cols)
        x0 = pad + c * (cell_w + pad)
        y0 = pad + r * (cell_h + pad)
        out[y0:y0 + tile.shape[0], x0:x0 + tw] = tile[..., :3]
        if alpha is not None:
            alpha[y0:y0 + tile.shape[0], x0:x0 + tw] = tile[..., 3]
        _draw_label(out, label, x0, y0 + tile_h, tw, band, font_size, text_color)
    if alpha is None:
        return out
    out = np.dstack([out, alpha])
    out[alpha == 0, :3] = 0
    return out


def _check_tile(image, name: str) -> np.ndarray:
    """An RGB tile as :func:`check_image` checks it, or a uint8 ``(H, W, 4)`` RGBA tile."""
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 4:
        check_image(image[..., :3], name)  # dtype and size
        return np.ascontiguousarray(image)
    return check_image(image, name)


def _resize(im: np.ndarray, tw: int, th: int, interp: int, rgba: bool) -> np.ndarray:
    """``im`` at ``tw`` x ``th``; with ``rgba`` as RGBA (alpha 255 for an RGB tile), resized premultiplied."""
    h, w = im.shape[:2]
    if not rgba:
        return im if (w, h) == (tw, th) else cv2.resize(im, (tw, th), interpolation=interp)
    if im.shape[2] == 3:
        im = np.dstack([im, np.full((h, w), 255, np.uint8)])
    if (w, h) == (tw, th):
        return im
    a = im[..., 3:].astype(np.float32) / 255.0
    small = cv2.resize(np.dstack([im[..., :3].astype(np.float32) * a, a[..., 0]]), (tw, th), interpolation=interp)
    alpha = np.clip(small[..., 3], 0.0, 1.0)
    rgb = np.where(alpha[..., None] > 0, small[..., :3] / np.maximum(alpha[..., None], 1e-6), 0.0)
    return np.dstack([np.clip(np.rint(rgb), 0, 255), np.rint(alpha * 255)]).astype(np.uint8)
