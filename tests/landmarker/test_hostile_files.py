"""Every kind of file a user may hold, made here from one portrait: decoded right, found, labelled.

Good kinds must decode to the portrait as an upright RGB uint8 array; bad kinds must
become errors with a reason (never another exception), in ``read_image`` and in
``python -m jobs bulk-label``.
"""

import csv
import io
import os
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import TESTS_DATA
from PIL import Image, features

from jobs.__main__ import main as jobs_main
from landmarker.io.decode import ImageDecodeError, read_image
from landmarker.io.files import find_images

PORTRAIT = TESTS_DATA / "portraits" / "A000360.jpg"


@pytest.fixture(scope="module")
def src() -> Image.Image:
    return Image.open(PORTRAIT).convert("RGB")


def _rgb(src):
    return np.asarray(src)


def _gray(src):
    return np.asarray(src.convert("L"))


def _save(img: Image.Image, path: Path, fmt: str, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **kw)
    return path


def _close(out, expected, mean_tol):
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected.astype(int)).mean() <= mean_tol


# ---- good files: decoded to the right RGB array -------------------------------------------

# name, writer(src, path) -> expected array (H, W, 3), mean abs tolerance in grey levels
def _png(src, p):
    _save(src, p, "PNG")
    return _rgb(src), 0


def _jpeg(src, p):
    _save(src, p, "JPEG", quality=95)
    return _rgb(src), 3


def _gray_png(src, p):
    _save(src.convert("L"), p, "PNG")
    return np.repeat(_gray(src)[..., None], 3, 2), 0


def _png16_gray(src, p):
    # 16-bit samples v * 257 must come back as v: full 16-bit range scaled to 8 bits
    _save(Image.fromarray(_gray(src).astype(np.uint16) * 257), p, "PNG")
    return np.repeat(_gray(src)[..., None], 3, 2), 0


def _png16_rgb(src, p):
    # Pillow cannot write 48-bit RGB; OpenCV can (BGR order)
    assert cv2.imwrite(str(p), _rgb(src)[..., ::-1].astype(np.uint16) * 257)
    return _rgb(src), 0


def _tiff16_rgb(src, p):
    assert cv2.imwrite(str(p), _rgb(src)[..., ::-1].astype(np.uint16) * 257)
    return _rgb(src), 0


def _tiff16_gray(src, p):
    _save(Image.fromarray(_gray(src).astype(np.uint16) * 257), p, "TIFF")
    return np.repeat(_gray(src)[..., None], 3, 2), 0


def _rgba_png(src, p):
    rgb = _rgb(src)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, : rgb.shape[1] // 4] = 0  # transparent left quarter -> white
    alpha[:, -rgb.shape[1] // 4 :] = 128  # half-transparent right quarter -> blended with white
    _save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), p, "PNG")
    a = alpha[..., None].astype(np.float64) / 255
    return np.round(rgb * a + 255 * (1 - a)).astype(np.uint8), 0.6


def _la_png(src, p):
    _save(src.convert("LA"), p, "PNG")
    return np.repeat(_gray(src)[..., None], 3, 2), 0


def _palette_gif(src, p):
    _save(src.convert("P"), p, "GIF")
    # the palette's own colours (dithered), and the portrait within palette error
    expected = np.asarray(Image.open(p).convert("RGB"))
    assert np.abs(expected.astype(int) - _rgb(src)).mean() < 20
    return expected, 0


def _palette_png_transparent(src, p):
    pal = src.convert("P", palette=Image.ADAPTIVE, colors=255)
    idx = np.asarray(pal).copy()
    idx[:10, :] = 255  # a transparent band at the top
    img = Image.fromarray(idx, "P")
    img.putpalette(pal.getpalette()[: 255 * 3] + [0, 0, 0])
    _save(img, p, "PNG", transparency=255)
    expected = np.asarray(img.convert("RGB")).copy()
    expected[:10] = 255
    return expected, 0


def _cmyk_jpeg(src, p):
    _save(src.convert("CMYK"), p, "JPEG", quality=95)
    return _rgb(src), 4


def _webp_lossless(src, p):
    _save(src, p, "WEBP", lossless=True)
    return _rgb(src), 0


def _webp(src, p):
    _save(src, p, "WEBP", quality=90)
    return _rgb(src), 4


def _tiff(src, p):
    _save(src, p, "TIFF", compression="tiff_lzw")
    return _rgb(src), 0


def _bmp(src, p):
    _save(src, p, "BMP")
    return _rgb(src), 0


def _animated_gif(src, p):
    first = src.convert("P")
    _save(first, p, "GIF", save_all=True, append_images=[src.transpose(Image.Transpose.ROTATE_180).convert("P")])
    with Image.open(p) as im:
        return np.asarray(im.convert("RGB")), 0


def _multipage_tiff(src, p):
    _save(src, p, "TIFF", save_all=True, append_images=[src.transpose(Image.Transpose.ROTATE_180)])
    return _rgb(src), 0


GOOD = {
    "plain.jpg": _jpeg,
    "lossless.png": _png,
    "gray.png": _gray_png,
    "deep gray 16-bit.png": _png16_gray,
    "deep rgb 16-bit.png": _png16_rgb,
    "deep rgb 16-bit.tif": _tiff16_rgb,
    "deep gray 16-bit.tiff": _tiff16_gray,
    "alpha.png": _rgba_png,
    "gray alpha.png": _la_png,
    "palette.gif": _palette_gif,
    "palette transparent.png": _palette_png_transparent,
    "print cmyk.jpg": _cmyk_jpeg,
    "lossless.webp": _webp_lossless,
    "lossy.webp": _webp,
    "scan.tif": _tiff,
    "old.bmp": _bmp,
    "UPPER.JPG": _jpeg,
    "UPPER.JPEG": _jpeg,
    "UPPER.PNG": _png,
    "chrome download.jfif": _jpeg,
    "really a png.jpg": _png,  # the writers name the format, so the extension lies
    "really a jpeg.png": _jpeg,
    "animated.gif": _animated_gif,
    "pages.tiff": _multipage_tiff,
    "Zoë Ω 照片.jpg": _jpeg,
    "nested/deeper/still deeper/face.png": _png,
}

# EXIF orientation n: how the camera stored the upright picture (numpy), so that a
# viewer applying the tag shows it upright again (EXIF 2.3, tag 0x0112).
STORED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, -1),
}


def _exif_jpeg(orientation):
    def write(src, p):
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored = np.ascontiguousarray(STORED[orientation](_rgb(src)))
        _save(Image.fromarray(stored), p, "JPEG", quality=95, exif=exif.tobytes())
        return _rgb(src), 3

    return write


for _o in STORED:
    GOOD[f"phone/IMG_000{_o} orientation {_o}.jpg"] = _exif_jpeg(_o)


@pytest.mark.parametrize("name", list(GOOD))
def test_good_file_decodes_to_upright_rgb(tmp_path, src, name):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    expected, tol = GOOD[name](src, path)
    _close(read_image(path), expected, tol)


def test_wrong_orientation_would_be_caught(src):
    # the orientation test above can tell the 8 orientations apart
    a = _rgb(src)
    for n in range(2, 9):
        s = STORED[n](a)
        assert s.shape != a.shape or np.abs(s.astype(int) - a).mean() > 20


def test_avif_decodes_when_pillow_has_it(tmp_path, src):
    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF codec")
    _close(read_image(_save(src, tmp_path / "a.avif", "AVIF", quality=90)), _rgb(src), 5)


def test_broken_exif_leaves_image_as_stored(tmp_path, src):
    # an IFD claiming 65535 entries in a 14-byte block
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"
    path = _save(src, tmp_path / "broken exif.jpg", "JPEG", quality=95, exif=exif)
    _close(read_image(path), _rgb(src), 3)


@pytest.mark.skipif(sys.platform != "linux", reason="needs file names that are not UTF-8")
def test_name_with_undecodable_bytes_is_found_and_read(tmp_path, src):
    raw = os.fsencode(tmp_path) + b"/caf\xe9 latin-1.jpg"
    with open(raw, "wb") as fh:
        src.save(fh, format="JPEG", quality=95)
    [(path, name)] = find_images([tmp_path])
    assert name == "caf\\xe9 latin-1.jpg"
    name.encode("utf-8")  # writable to any UTF-8 CSV
    _close(read_image(path), _rgb(src), 3)


# ---- bad files: errors with a reason -------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def _jpeg_bytes(src) -> bytes:
    buf = io.BytesIO()
    src.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


# name -> (bytes maker, words the reason must contain)
BAD = {
    "empty.jpg": (lambda src: b"", "empty file"),
    "EMPTY.PNG": (lambda src: b"", "empty file"),
    "notes.jpg": (lambda src: b"this is a text file, not a photo\n", "not an image"),
    "page.png": (lambda src: b"<!DOCTYPE html><html><body>404</body></html>", "not an image"),
    "bomb.png": (lambda src: _bomb_png(), "decompression bomb"),
    "cut at 60%.jpg": (lambda src: _jpeg_bytes(src)[: len(_jpeg_bytes(src)) * 6 // 10], "truncated"),
    "header only.jpg": (lambda src: _jpeg_bytes(src)[:300], "truncated"),
    "iphone.heic": (lambda src: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_is_an_error_naming_file_and_reason(tmp_path, src, name):
    make, words = BAD[name]
    if name.endswith(".heic") and _pillow_reads_heic():
        pytest.skip("pillow-heif is installed")
    (tmp_path / name).write_bytes(make(src))
    with pytest.raises(ImageDecodeError) as err:
        read_image(tmp_path / name)
    assert str(err.value).startswith(str(tmp_path / name) + ": ")
    assert words in err.value.reason


@pytest.mark.parametrize("fraction", [0.02, 0.2, 0.5, 0.8, 0.95, 0.999])
def test_truncated_jpeg_never_crashes(tmp_path, src, fraction):
    data = _jpeg_bytes(src)
    (tmp_path / "cut.jpg").write_bytes(data[: int(len(data) * fraction)])
    try:
        out = read_image(tmp_path / "cut.jpg")
    except ImageDecodeError as err:
        assert "truncated" in err.reason or "corrupt" in err.reason
    else:
        assert out.dtype == np.uint8 and out.shape == (275, 225, 3)


def _pillow_reads_heic() -> bool:
    from landmarker.io import decode

    return decode._HEIF


# ---- finding files -------------------------------------------------------------------------


def test_find_images_walks_nested_spaces_non_ascii_upper_case(tmp_path, src):
    names = ["a.jpg", "UPPER.JPG", "Mixed.Png", "with space.webp", "Zoë Ω 照片.jpeg", "x/y/z/deep.tif",
             "x/old.BMP", "x/anim.GIF", "camera.JFIF"]
    for n in names:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_bytes(b"x")
    for skipped in ["notes.txt", ".hidden.jpg", ".cache/in hidden folder.jpg", "README"]:
        (tmp_path / skipped).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / skipped).write_bytes(b"x")
    found = find_images([tmp_path])
    assert sorted(n for _, n in found) == sorted(names)
    assert all(p.is_file() and p == tmp_path / n for p, n in found)
    # a file given directly is taken whatever its extension
    assert find_images([tmp_path / "notes.txt"]) == [(tmp_path / "notes.txt", (tmp_path / "notes.txt").as_posix())]


# ---- the whole job: python -m jobs bulk-label ------------------------------------------------


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, src):
    arch = tmp_path_factory.mktemp("hostile") / "archive"
    arch.mkdir()
    good = ["plain.jpg", "deep gray 16-bit.png", "deep rgb 16-bit.tif", "alpha.png", "palette.gif", "print cmyk.jpg",
            "lossy.webp", "old.bmp", "UPPER.JPG", "really a png.jpg", "Zoë Ω 照片.jpg",
            "nested/deeper/still deeper/face.png", "phone/IMG_0006 orientation 6.jpg",
            "phone/IMG_0008 orientation 8.jpg", "phone/IMG_0003 orientation 3.jpg"]
    for name in good:
        (arch / name).parent.mkdir(parents=True, exist_ok=True)
        GOOD[name](src, arch / name)
    bad = [n for n in BAD if not (n.endswith(".heic") and _pillow_reads_heic())]
    for name in bad:
        (arch / name).write_bytes(BAD[name][0](src))
    (arch / "readme.txt").write_text("not looked at")
    if sys.platform == "linux":  # a Latin-1 file name from an old archive
        with open(os.fsencode(arch) + b"/Jos\xe9.jpg", "wb") as fh:
            fh.write(_jpeg_bytes(src))
        good.append("Jos\\xe9.jpg")
    out = arch.parent / "out"
    code = jobs_main(["bulk-label", str(arch), "--out", str(out)])
    with open(out / "report.csv", newline="", encoding="utf-8") as fh:
        report = {r["image"]: r for r in csv.DictReader(fh)}
    return code, report, good, bad


def test_bulk_label_exits_0_with_one_row_per_file(labelled):
    code, report, good, bad = labelled
    assert code == 0
    assert sorted(report) == sorted(good + bad)


def test_bulk_label_labels_every_good_file(labelled):
    _, report, good, _ = labelled
    for name in good:
        assert report[name]["status"] == "ok" and report[name]["faces"] == "1", (name, report[name])


def test_bulk_label_reports_bad_files_with_reasons(labelled):
    _, report, _, bad = labelled
    for name in bad:
        assert report[name]["status"] == "error", (name, report[name])
        assert BAD[name][1] in report[name]["message"], (name, report[name])
