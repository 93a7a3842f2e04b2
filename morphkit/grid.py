"""Labelled image grids, e.g. a comparison of group mean faces."""

from __future__ import annotations

import math
import unicodedata

import cv2
import numpy as np

from ._checks import check_image

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _ascii(text: str) -> str:
    # cv2.putText's Hershey fonts only draw ASCII: strip accents (é -> e), '?' for the rest.
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c if ord(c) < 128 else ("" if unicodedata.combining(c) else "?") for c in decomposed)


def image_grid(images: list[np.ndarray], labels: list[str], columns: int | None = None,
               tile_width: int | None = None, *, padding: int = 12,
               background=(255, 255, 255), text_color=(0, 0, 0)) -> np.ndarray:
    """Tile images in a grid with a text label under each (``cv2.putText``).

    Each image is resized to ``tile_width`` keeping its aspect ratio and placed on a
    plain background; its label is centred in a band below it, shrunk to fit the tile
    width (non-ASCII characters are transliterated or drawn as ``?``).

    Args:
        images: uint8 ``(H, W, 3)`` RGB images (sizes may differ).
        labels: one string per image (e.g. ``"Team A (n=12)"``).
        columns: grid columns; default ``ceil(sqrt(len(images)))``.
        tile_width: width of each tile in pixels; default the first image's width.
        padding: pixels between tiles and around the grid.
        background, text_color: RGB colours.

    Returns:
        uint8 ``(H, W, 3)`` RGB grid image.

    Raises:
        ValueError: no images, a label count that differs from the image count, bad
            images, non-positive ``columns`` or ``tile_width``.
    """
    images = list(images)
    labels = list(labels)
    if not images:
        raise ValueError("image_grid needs at least one image")
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels; counts must match")
    images = [check_image(im, f"images[{i}]") for i, im in enumerate(images)]
    n = len(images)
    cols = math.ceil(math.sqrt(n)) if columns is None else int(columns)
    if cols < 1:
        raise ValueError(f"columns must be >= 1, got {columns!r}")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    tw = images[0].shape[1] if tile_width is None else int(tile_width)
    if tw < 1:
        raise ValueError(f"tile_width must be >= 1, got {tile_width!r}")
    pad = max(0, int(padding))

    tiles = []
    for im in images:
        h, w = im.shape[:2]
        th = max(1, int(round(h * tw / w)))
        interp = cv2.INTER_AREA if tw < w else cv2.INTER_LINEAR
        tiles.append(im if (w, h) == (tw, th) else cv2.resize(im, (tw, th), interpolation=interp))
    tile_h = max(t.shape[0] for t in tiles)

    base_scale = max(0.35, tw / 450.0 * 0.8)
    thickness = max(1, int(round(base_scale * 2)))
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, base_scale, thickness)
    band = text_h + baseline + 2 * max(4, pad // 2)

    cell_w, cell_h = tw, tile_h + band
    out = np.empty((rows * cell_h + (rows + 1) * pad, cols * cell_w + (cols + 1) * pad, 3), np.uint8)
    out[:] = np.asarray(background, dtype=np.uint8)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        r, c = divmod(i, cols)
        x0 = pad + c * (cell_w + pad)
        y0 = pad + r * (cell_h + pad)
        out[y0:y0 + tile.shape[0], x0:x0 + tw] = tile
        text = _ascii(label)
        scale = base_scale
        (text_w, _), _ = cv2.getTextSize(text, _FONT, scale, thickness)
        if text_w > tw - 4 and text_w > 0:
            scale = scale * (tw - 4) / text_w
            (text_w, _), _ = cv2.getTextSize(text, _FONT, scale, thickness)
        tx = x0 + max(0, (tw - text_w) // 2)
        ty = y0 + tile_h + (band + text_h) // 2
        cv2.putText(out, text, (tx, ty), _FONT, scale, tuple(int(v) for v in text_color), thickness, cv2.LINE_AA)
    return out
