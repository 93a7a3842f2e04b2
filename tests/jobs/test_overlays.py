"""Issue 28, part 6: overlays are JPEGs of bounded size (not full-size PNGs), drawn with marks scaled
to the face, on a background thread; a review save or reject redraws them in that format."""

import shutil

import cv2
import numpy as np
import pytest
from helpers import REPO_ROOT
from PIL import Image

from jobs.__main__ import main as jobs_main
from jobs.bulk_label import bulk_label
from landmarker.io.face import Face
from landmarker.io.landmarks_csv import iter_records
from landmarker.io.overlay import OVERLAY_SIDE, draw_faces, render_overlay

SAMPLE = REPO_ROOT / "sample_data" / "images"


def _ink(image: np.ndarray, face_size: float) -> float:
    """How much a drawing changed a plain gray image, per square pixel of the face."""
    return float(np.abs(image.astype(np.float64) - 128).sum() / 255 / face_size**2)


def test_marks_scale_with_the_face(data_dir):
    pts = next(iter_records(data_dir / "golden" / "landmarks.csv")).face.landmarks.astype(np.float64)
    pts = (pts - pts.min(axis=0)) / (pts.max(axis=0) - pts.min(axis=0)).max()  # a unit-sized face
    inks = []
    for side in (60, 480):  # a face of a 150 px photo, and of a large one
        canvas = np.full((side * 2, side * 2, 3), 128, np.uint8)
        lm = pts * side + side / 2
        inks.append(_ink(draw_faces(canvas, [Face((side / 2, side / 2, side * 1.5, side * 1.5), 1.0, lm)]), side))
    assert 0.6 < inks[0] / inks[1] < 1.6, inks  # the same share of the face, small or large


def test_render_overlay_bounds_the_long_side_and_keeps_the_faces_in_place():
    image = np.full((900, 3000, 3), 100, np.uint8)
    lm = np.full((68, 2), (1500.0, 450.0), np.float32)
    out = render_overlay(image, [Face((1400, 350, 1600, 550), 1.0, lm)])
    assert out.shape == (307, 1024, 3)
    changed = np.abs(out.astype(int) - 100).sum(axis=2) > 30
    ys, xs = np.nonzero(changed[130:178, 488:536])  # inside the box: the points, moved with the photo
    assert abs(xs.mean() + 488 - 511.5) < 1.5 and abs(ys.mean() + 130 - 153.5) < 1.5
    assert changed[119, 477:547].mean() > 0.9  # the box's top edge: 350 px * 1024 / 3000
    assert render_overlay(image[:200, :300], []).shape == (200, 300, 3)  # never enlarged
    with pytest.raises(ValueError, match="16 px"):
        render_overlay(image, [], max_side=8)


def test_bulk_label_overlays_are_bounded_jpegs_smaller_than_the_photos(tmp_path):
    out = tmp_path / "run"
    assert bulk_label(SAMPLE, out, n_jobs=1, progress=False, overlay=True).files == 30
    overlays = sorted((out / "overlays").iterdir())
    assert len(overlays) == 30 and all(p.name.endswith(".jpg.jpg") for p in overlays)
    for p in overlays:
        with Image.open(p) as im:
            assert im.format == "JPEG" and max(im.size) <= OVERLAY_SIDE
    photos = sum(p.stat().st_size for p in SAMPLE.glob("*.jpg"))
    assert sum(p.stat().st_size for p in overlays) <= photos


def test_large_photos_get_overlays_of_the_size_asked(tmp_path, capsys):
    arch = tmp_path / "arch"
    arch.mkdir()
    photo = cv2.imread(str(SAMPLE / "B001242.jpg"))
    cv2.imwrite(str(arch / "big.png"), cv2.resize(photo, (1800, 2200), interpolation=cv2.INTER_CUBIC))
    out = tmp_path / "run"
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--overlay"]) == 0
    with Image.open(out / "overlays" / "big.png.jpg") as im:
        assert im.format == "JPEG" and im.size == (838, 1024)
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "r2"), "--overlay", "--overlay-size",
                      "2000"]) == 0
    with Image.open(tmp_path / "r2" / "overlays" / "big.png.jpg") as im:
        assert im.size == (1636, 2000)
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "r3"), "--overlay-size", "4"]) == 2
    assert "--overlay-size 4" in capsys.readouterr().err


def test_review_redraws_the_overlay_as_a_bounded_jpeg_and_replaces_an_old_png(tmp_path):
    pytest.importorskip("fastapi", reason="morphkit review needs the serve extra")
    from jobs.review.store import ReviewStore

    arch = tmp_path / "arch"
    arch.mkdir()
    for name in ("B001242.jpg", "B001256.jpg"):
        shutil.copy(SAMPLE / name, arch / name)
    out = tmp_path / "run"
    bulk_label(arch, out, n_jobs=1, progress=False, overlay=True)
    jpg = out / "overlays" / "B001242.jpg.jpg"
    old = out / "overlays" / "B001242.jpg.png"  # what an earlier version wrote
    Image.new("RGB", (225, 275)).save(old)
    drawn = jpg.read_bytes()
    with ReviewStore(out) as store:
        f = next(f for f in store.faces() if f.image == "B001242.jpg")
        moved = np.asarray(f.landmarks).copy()
        moved[36:42] += (6, 0)
        store.save(f.id, moved.tolist())
        assert jpg.read_bytes() != drawn and not old.exists()
        with Image.open(jpg) as im:
            assert im.format == "JPEG" and im.size == (225, 275)
        saved = np.asarray(Image.open(jpg).convert("RGB"), np.int16)
        store.reject(f.id)  # not a face: the overlay no longer shows it
        bare = np.asarray(Image.open(jpg).convert("RGB"), np.int16)
        photo = np.asarray(Image.open(arch / "B001242.jpg").convert("RGB"), np.int16)
        l, t, r, b = (int(v) for v in f.box)
        drawn_there, bare_there = (np.abs(x - photo)[t:b, l:r].mean() for x in (saved, bare))
        assert bare_there < drawn_there / 2  # only JPEG's noise is left where the face was drawn


def test_a_resumed_run_replaces_old_png_overlays(tmp_path):
    arch = tmp_path / "arch"
    arch.mkdir()
    shutil.copy(SAMPLE / "B001242.jpg", arch / "B001242.jpg")
    out = tmp_path / "run"
    bulk_label(arch, out, n_jobs=1, progress=False)
    (out / "overlays").mkdir()
    Image.new("RGB", (225, 275)).save(out / "overlays" / "B001242.jpg.png")
    r = bulk_label(arch, out, n_jobs=1, progress=False, overlay=True)
    assert r.overlays_added == 1
    assert [p.name for p in (out / "overlays").iterdir()] == ["B001242.jpg.jpg"]


def test_overlays_are_drawn_from_the_decoded_photo_as_from_the_file(tmp_path, monkeypatch):
    """bulk-label hands the writer the photo it decoded (no second decode); the overlay is the one a redraw
    from the file makes, for a small photo and for one reduced to the overlay size."""
    from jobs import bulk_label as bl

    arch = tmp_path / "arch"
    arch.mkdir()
    shutil.copy(SAMPLE / "B001242.jpg", arch / "small.jpg")
    photo = cv2.imread(str(SAMPLE / "B001242.jpg"))
    cv2.imwrite(str(arch / "big.png"), cv2.resize(photo, (1800, 2200), interpolation=cv2.INTER_CUBIC))
    from landmarker.inference import labelling
    from landmarker.io import decode

    decoded = []
    real = decode.read_image_reduced

    def counting(path, *args, **kwargs):
        decoded.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(decode, "read_image_reduced", counting)  # overlays drawn from the file decode here
    monkeypatch.setattr(labelling, "read_image_reduced", counting)
    out = tmp_path / "run"
    assert bulk_label(arch, out, n_jobs=1, progress=False, overlay=True).faces == 2
    assert sorted(decoded) == sorted(str(p) for p in arch.iterdir())  # each photo decoded once, for labelling
    for name in ("small.jpg", "big.png"):
        drawn = cv2.imread(str(out / "overlays" / f"{name}.jpg")).astype(int)
        faces = [r.face for r in iter_records(out / "landmarks.csv") if r.image == name]
        again = bl.redraw_overlay(arch / name, name, faces, tmp_path / "again")
        assert np.abs(drawn - cv2.imread(str(again)).astype(int)).mean() < 0.5


def test_a_resumed_run_redraws_an_empty_overlay(tmp_path):
    arch = tmp_path / "arch"
    arch.mkdir()
    shutil.copy(SAMPLE / "B001242.jpg", arch / "B001242.jpg")
    out = tmp_path / "run"
    bulk_label(arch, out, n_jobs=1, progress=False, overlay=True)
    (out / "overlays" / "B001242.jpg.jpg").write_bytes(b"")  # what a power cut can leave of an un-synced file
    assert bulk_label(arch, out, n_jobs=1, progress=False, overlay=True).overlays_added == 1
    with Image.open(out / "overlays" / "B001242.jpg.jpg") as im:
        assert im.format == "JPEG" and im.size == (225, 275)
