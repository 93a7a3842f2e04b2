"""The one image decoder: any file a user may hold becomes an RGB uint8 array.

Every other module reads image files through :func:`read_image`, so all of them
share the same rules (docs/architecture.md, "Decoding image files"):

- JPEG, PNG (8/16-bit, gray, RGBA, palette), GIF, BMP, TIFF, WebP and CMYK JPEG
  are decoded by Pillow, whatever the file's extension says;
- 16-bit samples are scaled to 8 bits (``v * 255 / 65535``);
- EXIF orientation is applied, so the array is upright as a viewer shows it (a
  malformed EXIF block is ignored, leaving the image as stored);
- transparency is composited onto white;
- AVIF is read when Pillow was built with it, HEIC/HEIF when the optional
  ``pillow-heif`` package is installed (else a clear error says so);
- empty, truncated and non-image files and decompression bombs raise
  :class:`ImageDecodeError`, whose message names the file and the reason; so does
  any other failure of the decoder (never another exception).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from morphkit.errors import InvalidInput

# Pillow's own default (about 89 MP); a file claiming more pixels is refused
# before its pixel data is read.
MAX_IMAGE_PIXELS = 89_478_485

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp",
     ".avif", ".heic", ".heif"}
)

try:  # optional: iPhone photos (HEIC) become readable when pillow-heif is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _HEIF = True
except ImportError:
    _HEIF = False

# ISO-BMFF brands (bytes 8-12, after "ftyp") of HEIC/HEIF and AVIF files
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")


class ImageDecodeError(InvalidInput):
    """A file could not be turned into an image. ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # survives the trip back from a worker process (joblib, Dask)
        return type(self), (self.path, self.reason)


def is_image_name(path: str | os.PathLike) -> bool:
    """Whether a file name has an image extension (case-insensitive); used when walking folders."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: 16-bit scaled to 8, alpha composited on white."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        if mode == "I":  # 32-bit integers: take the smallest range that holds them
            top = 255.0 if arr.max() <= 255 else 65535.0 if arr.max() <= 65535 else float(arr.max())
        else:
            top = 65535.0
        arr8 = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr8 = ((arr - lo) / (hi - lo or 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        return img.convert("RGB")
    return img


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - broken EXIF must not make a readable image unreadable
        return img


def _unidentified_reason(path: Path) -> str:
    """Why Pillow recognised no format: names HEIC and AVIF files this build cannot read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        if _HEIF:
            return "HEIC/HEIF image that pillow-heif could not read (corrupt or unsupported)"
        return "HEIC/HEIF image: not readable without the pillow-heif package (or convert it to JPEG)"
    if head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS:
        return "AVIF image: this Pillow build cannot read AVIF (or convert it to JPEG)"
    return "not an image file (unrecognised format)"


def read_image(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file into an upright RGB array.

    Args:
        path: the file. Its extension is ignored: the content decides the format.
        max_pixels: files whose header claims more pixels than this are refused as
            decompression bombs before their pixel data is decoded.

    Returns:
        ``numpy.ndarray`` of dtype uint8 and shape ``(H, W, 3)``, RGB, with the EXIF
        orientation applied. For animated files (GIF, WebP), the first frame.

    Raises:
        ImageDecodeError: the file is missing, unreadable, empty, not an image (or a
            HEIC file without pillow-heif), truncated or corrupt, a decompression bomb,
            or too large for memory. The message is ``"<path>: <reason>"``. No other
            exception escapes for a bad file.
    """
    return _decode(path, max_pixels, None).image


class Decoded(NamedTuple):
    """An image decoded, perhaps reduced: ``image`` RGB uint8 ``(h, w, 3)``, the integer
    reduction ``scale`` (1, 2, 4 or 8) and the full upright ``size`` ``(width, height)`` in pixels."""

    image: np.ndarray
    scale: int
    size: tuple[int, int]


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """The ``(width, height)`` in pixels of an image file as :func:`read_image` gives it (EXIF-upright),
    from its header alone (no decoding).

    Raises:
        ImageDecodeError: not an image file Pillow can open (the message names the file).
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            w, h = img.size
            try:
                orientation = img.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block: the image as stored (as read_image)
                orientation = 1
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(path, f"cannot read the image size ({err})") from err
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def read_image_reduced(path: str | os.PathLike, draft_pixels: int, min_side: int,
                       max_pixels: int = MAX_IMAGE_PIXELS) -> Decoded:
    """:func:`read_image`, but a JPEG of more than ``draft_pixels`` pixels is decoded reduced.

    Pillow's ``draft`` mode lets the JPEG decoder scale by 1/2, 1/4 or 1/8 in the
    DCT domain, which is several times faster than decoding in full (a 24 MP photo:
    0.08 s against 0.27 s) and low-pass filtered; the largest such reduction whose
    long side is still at least ``min_side`` pixels is used. Other formats and
    smaller JPEGs are decoded in full.

    Returns:
        :class:`Decoded` ``(image, scale, size)``: the RGB uint8 array, the integer
        reduction (1, 2, 4 or 8) and the full image's upright ``(width, height)``.
        A point ``(x, y)`` of the reduced image is ``((x + 0.5) * scale - 0.5,
        (y + 0.5) * scale - 0.5)`` in the full image (pixel centres); a box edge is
        ``x * scale``.

    Raises:
        ImageDecodeError: as :func:`read_image`.
    """
    return _decode(path, max_pixels, (draft_pixels, min_side))


def _decode(path, max_pixels: int, draft) -> Decoded:
    path = Path(path)
    scale = 1
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageDecodeError(path, "no such file") from None
    except OSError as err:
        raise ImageDecodeError(path, f"cannot read file ({err.strerror or err})") from err
    if not path.is_file():
        raise ImageDecodeError(path, "not a regular file")
    if size == 0:
        raise ImageDecodeError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageDecodeError(
                        path,
                        f"decompression bomb guard: header claims {width}x{height} pixels "
                        f"({width * height / 1e6:.0f} MP; limit {max_pixels / 1e6:.0f} MP)",
                    )
                if getattr(img, "n_frames", 1) > 1:
                    img.seek(0)
                if draft is not None and img.format == "JPEG" and width * height > draft[0]:
                    k = max(1, min(8, max(width, height) // draft[1]))
                    k = 1 << (k.bit_length() - 1)  # 1, 2, 4 or 8, the JPEG decoder's reductions
                    if k > 1:
                        img.draft("RGB", (-(-width // k), -(-height // k)))
                        scale = round(width / img.size[0])
                img.load()
                img = _upright(img)
                rgb = _to_rgb(img)
                arr = np.asarray(rgb, dtype=np.uint8)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(path, _unidentified_reason(path)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageDecodeError(path, f"decompression bomb: {err}") from err
    except PermissionError:
        raise ImageDecodeError(path, "cannot read file (permission denied)") from None
    except MemoryError:
        raise ImageDecodeError(path, "not enough memory to decode the image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        reason = str(err) or type(err).__name__
        if "truncated" in reason.lower():
            reason = f"truncated or corrupt image data ({reason})"
        else:
            reason = f"corrupt image data ({reason})"
        raise ImageDecodeError(path, reason) from err
    except Exception as err:  # a decoder failing in a way Pillow does not document
        raise ImageDecodeError(path, f"corrupt image data ({type(err).__name__}: {err})") from err
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageDecodeError(path, f"unexpected decoded shape {arr.shape}")
    if scale == 1:
        size = (arr.shape[1], arr.shape[0])
    else:  # the EXIF rotation may have swapped the sides
        size = (width, height) if abs(arr.shape[1] * scale - width) < scale else (height, width)
    return Decoded(np.ascontiguousarray(arr), scale, size)


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` to grayscale uint8 ``(H, W)`` (ITU-R BT.601 luma, as OpenCV)."""
    import cv2

    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
