import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from landmarker.io.decode import ImageDecodeError, image_size, read_image


def _img(h=40, w=60):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4 % 256, y * 6 % 256, (x + y) % 256], -1).astype(np.uint8)


@pytest.mark.parametrize(
    "fmt,mode,name",
    [
        ("JPEG", "RGB", "a.jpg"),
        ("PNG", "RGB", "a.png"),
        ("PNG", "L", "gray.png"),
        ("PNG", "RGBA", "rgba.png"),
        ("GIF", "P", "pal.gif"),
        ("BMP", "RGB", "a.bmp"),
        ("TIFF", "RGB", "a.tif"),
        ("WEBP", "RGB", "a.webp"),
        ("JPEG", "CMYK", "cmyk.jpg"),
        ("PNG", "RGB", "wrong-extension.JPG"),
    ],
)
def test_formats_decode_to_rgb_uint8(tmp_path, fmt, mode, name):
    src = _img()
    Image.fromarray(src).convert(mode).save(tmp_path / name, format=fmt)
    out = read_image(tmp_path / name)
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    if fmt in ("PNG", "BMP", "TIFF") and mode == "RGB":
        assert np.array_equal(out, src)


def test_png_16bit_is_scaled_to_8bit(tmp_path):
    arr = (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 31).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png")
    assert out.shape == (32, 64, 3)
    expected = np.round(arr / 65535 * 255)
    assert np.abs(out[..., 0].astype(int) - expected).max() <= 1


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert (read_image(tmp_path / "clear.png") == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    src = _img(30, 50)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(src).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    out = read_image(tmp_path / "phone.jpg")
    assert out.shape == (50, 30, 3)
    rotated = np.rot90(src, k=-1)
    assert np.abs(out.astype(int) - rotated).mean() < 8


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match=r"empty\.jpg: empty file"):
        read_image(tmp_path / "empty.jpg")


def test_text_file_is_refused(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(ImageDecodeError, match=r"notes\.jpg: not an image"):
        read_image(tmp_path / "notes.jpg")


def test_truncated_jpeg_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_img(200, 200)).save(buf, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg: truncated"):
        read_image(tmp_path / "cut.jpg")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_decompression_bomb_is_refused(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
           + _png_chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(ImageDecodeError, match=r"bomb\.png: decompression bomb"):
        read_image(tmp_path / "bomb.png")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ImageDecodeError, match="nothere.png: no such file"):
        read_image(tmp_path / "nothere.png")


def test_decode_error_survives_a_worker_process():
    """Training and Dask workers send it back pickled: it must arrive as itself, path and reason intact."""
    import pickle

    err = pickle.loads(pickle.dumps(ImageDecodeError("/x/a.jpg", "truncated")))
    assert isinstance(err, ImageDecodeError) and (err.path, err.reason) == ("/x/a.jpg", "truncated")
    assert str(err) == "/x/a.jpg: truncated"


def test_image_size_of_a_missing_or_broken_file_is_a_decode_error_naming_it(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    for path in (tmp_path / "missing.jpg", broken):
        with pytest.raises(ImageDecodeError, match="cannot read the image size") as err:
            image_size(path)
        assert err.value.path == str(path)
