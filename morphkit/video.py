"""Streaming video writers: H.264 MP4 through imageio-ffmpeg, or animated GIF via Pillow.

Frames are consumed one at a time from any iterable (e.g. the generator of
:func:`~morphkit.sequence.morph_sequence_frames`), so memory does not grow with the
length of the movie (GIF: Pillow keeps the downscaled palette frames until it writes).
The output is written to a temporary file beside the target and renamed over it only
when complete, so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from PIL import Image

from ._checks import check_image, check_positive
from .errors import InvalidInput

_FORMATS = ("mp4", "gif")
#: Browsers play GIF frame delays under 20 ms at 100 ms; GIFs are subsampled to at most this fps.
GIF_MAX_FPS = 25.0


def even_size(image: np.ndarray) -> np.ndarray:
    """Pad an odd width or height by one replicated edge pixel (yuv420p needs even sizes)."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


def _checked_frames(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    size = None
    for i, frame in enumerate(frames):
        frame = check_image(frame, f"frame {i}")
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise InvalidInput(f"frame {i} has shape {frame.shape}, but frame 0 had {size}; all frames must match")
        yield frame


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 30.0,
                fmt: str | None = None, *, crf: int = 18, preset: str = "medium",
                gif_width: int | None = 360) -> int:
    """Write frames to an H.264 MP4 (or an animated GIF), streaming.

    MP4: libx264, ``yuv420p`` (plays in browsers), ``+faststart``; odd widths/heights are
    padded to even by replicating the last column/row. GIF: frames are downscaled to
    ``gif_width`` (keeping aspect), subsampled to at most :data:`GIF_MAX_FPS`, and written
    by Pillow with an adaptive (fast octree) palette per frame.

    Args:
        frames: iterable of uint8 ``(H, W, 3)`` RGB frames, all the same size.
        path: output file; its folder must exist. Replaced atomically when done.
        fps: frames per second of ``frames`` (> 0).
        fmt: ``"mp4"`` or ``"gif"``; default from the file suffix (``.gif`` -> GIF,
            anything else -> MP4).
        crf, preset: x264 quality (0-51, lower is better; 18 ~ visually lossless) and speed.
        gif_width: GIF width in pixels (None = frame width; never enlarged).

    Returns:
        Number of frames written (for GIF, after fps subsampling).

    Raises:
        ValueError: no frames, a frame that is not uint8 ``(H, W, 3)`` or differs in size
            from the first, bad fps/fmt, missing output folder. Nothing is left at
            ``path`` (nor any temporary file) when writing fails.
    """
    path = Path(path)
    fps = check_positive(fps, "fps")
    if fmt is None:
        fmt = "gif" if path.suffix.lower() == ".gif" else "mp4"
    if fmt not in _FORMATS:
        raise InvalidInput(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: folder {path.parent} does not exist")
    if not (isinstance(crf, (int, np.integer)) and 0 <= crf <= 51):
        raise InvalidInput(f"crf must be an integer in 0..51, got {crf!r}")
    tmp = _temp_path(path)
    try:
        if fmt == "mp4":
            count = _write_mp4(_checked_frames(frames), tmp, fps, int(crf), preset)
        else:
            count = _write_gif(_checked_frames(frames), tmp, fps, gif_width)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _write_mp4(frames: Iterator[np.ndarray], tmp: Path, fps: float, crf: int, preset: str) -> int:
    first = next(frames, None)
    if first is None:
        raise InvalidInput("no frames to write")
    first = even_size(first)
    h, w = first.shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
        quality=None, macro_block_size=1, ffmpeg_log_level="error",
        output_params=["-crf", str(crf), "-preset", preset, "-movflags", "+faststart"],
    )
    count = 0
    try:
        writer.send(None)  # start ffmpeg
        writer.send(np.ascontiguousarray(first))
        count = 1
        for frame in frames:
            writer.send(np.ascontiguousarray(even_size(frame)))
            count += 1
    finally:
        writer.close()  # flushes and waits for ffmpeg
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise OSError(f"ffmpeg wrote no output for {tmp}")
    return count


def _write_gif(frames: Iterator[np.ndarray], tmp: Path, fps: float, gif_width: int | None) -> int:
    step = max(1, math.ceil(fps / GIF_MAX_FPS - 1e-9))
    duration_ms = int(round(1000.0 * step / fps))
    count = 0

    def pil_frames() -> Iterator[Image.Image]:
        nonlocal count
        for i, frame in enumerate(frames):
            if i % step:
                continue
            h, w = frame.shape[:2]
            if gif_width is not None and gif_width < w:
                nh = max(1, int(round(h * gif_width / w)))
                frame = cv2.resize(frame, (int(gif_width), nh), interpolation=cv2.INTER_AREA)
            count += 1
            # Fast octree palette per frame (~1 ms; Pillow's default median cut takes ~100 ms).
            yield Image.fromarray(frame, "RGB").quantize(256, method=Image.Quantize.FASTOCTREE)

    it = pil_frames()
    first = next(it, None)
    if first is None:
        raise InvalidInput("no frames to write")
    first.save(tmp, format="GIF", save_all=True, append_images=it, duration=duration_ms, loop=0)
    return count
