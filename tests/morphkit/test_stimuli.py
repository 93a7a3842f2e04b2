"""Issue 21: stimuli a face researcher would publish.

Masks with the whole brows and a forehead; nothing under alpha 0 and alpha kept in strips and
grids; symmetrising the face only (single ears, hair and background) with a warning for turned
faces; texture means and texture/colour transforms that leave hair, neck and background alone.
"""

import csv
import logging

import cv2
import numpy as np
import pytest
from helpers import TESTS_DATA
from PIL import Image

from landmarker.inference.predictor import Landmarker
from landmarker.io.decode import read_image
from morphkit import CanonicalFrame, align_face, image_grid, mean_face
from morphkit.ibug68 import BROWS, NOSE_BRIDGE, eye_centres, inter_ocular_distance
from morphkit.masks import apply_mask, face_region, forehead_points, region_outline, transparent
from morphkit.research import MAX_YAW, estimate_yaw, mirror_landmarks, symmetrize, transform, yaw_note
from morphkit.texture import transfer_texture

PORTRAITS = ("A000360.jpg", "S000033.jpg")


@pytest.fixture(scope="module")
def photos():

    model = Landmarker()
    out = []
    for name in PORTRAITS:
        image = read_image(TESTS_DATA / "portraits" / name)
        out.append((image, model.predict(image)[0].landmarks))
    return out


@pytest.fixture(scope="module")
def faces(photos):
    """The two portraits aligned into the default 450 x 550 frame, with their landmarks there."""
    return [align_face(image, lm, CanonicalFrame()) for image, lm in photos]


def _up(lm):
    """Unit vector up the face (perpendicular to the eye line, towards the brows) and the eye-centre distance."""
    eyes = eye_centres(lm)
    across = (eyes[1] - eyes[0]) / np.linalg.norm(eyes[1] - eyes[0])
    return np.array([across[1], -across[0]]), float(np.linalg.norm(eyes[1] - eyes[0]))


def _at(mask, points):
    return np.array([mask[int(round(y)), int(round(x))] for x, y in points])


def test_outline_mask_keeps_the_whole_brows_and_a_forehead(faces, photos):
    for image, lm in [*faces, *photos]:  # in the frame and in the 225 x 275 photos
        up, d = _up(lm)
        brows = lm[BROWS].astype(np.float64)
        above = [brows + up * k * d for k in (0.1, 0.2)] + [brows[2:8] + up * 0.25 * d]
        rgba = apply_mask(image, lm, "outline", color=None)
        alpha = rgba[..., 3].astype(np.float64) / 255
        assert _at(alpha, brows).min() > 0.9, _at(alpha, brows)  # every brow landmark
        for pts in above:  # and points above every one of them (the forehead)
            assert _at(alpha, pts).min() > 0.9, _at(alpha, pts)
        assert _at(alpha, brows + up * 1.5 * d).max() < 0.05  # but not the hair above the forehead
        white = apply_mask(image, lm, "outline", color=(255, 255, 255))
        assert np.array_equal(white[int(brows[2, 1]), int(brows[2, 0])], image[int(brows[2, 1]), int(brows[2, 0])])
    fh = forehead_points(lm)
    assert fh.shape == (12, 2) and ((fh[:10] - lm[BROWS]) @ up).min() > 0.3 * d  # above the brows
    hull = region_outline(lm)
    assert cv2.pointPolygonTest(hull.astype(np.float32), tuple(map(float, lm[BROWS][0])), True) > 0.2 * d
    with pytest.raises(ValueError, match="forehead"):
        forehead_points(lm, -1)


def test_mean_faces_on_face_background_keep_the_brows(photos):
    images = [im for im, _ in photos]
    lms = np.stack([lm for _, lm in photos])
    mean = mean_face(images, lms, frame=CanonicalFrame(), background="face", background_color=(0, 255, 0))
    up, d = _up(mean.shape)
    for pts in (mean.shape[BROWS], mean.shape[BROWS] + up * 0.2 * d):
        px = np.array([mean.image[int(round(y)), int(round(x))] for x, y in pts]).astype(int)
        assert (px[:, 1] - px[:, 0] < 60).all()  # not the green background


def test_transparent_outputs_have_no_image_under_alpha_0(faces):
    img, lm = faces[0]
    for kind in ("outline", "oval"):
        rgba = apply_mask(img, lm, kind, color=None)
        assert rgba.shape[2] == 4 and (rgba[..., 3] == 0).mean() > 0.2
        assert not rgba[rgba[..., 3] == 0, :3].any()
        keep = rgba[..., 3] > 0
        assert np.array_equal(rgba[keep, :3], img[keep])  # straight alpha: the face itself is untouched
    out = transparent(img, np.full(img.shape[:2], 0.001, np.float32))  # rounds to alpha 0 everywhere
    assert not out.any()
    with pytest.raises(ValueError, match="size"):
        transparent(img, np.ones((3, 3)))


def test_image_grid_keeps_the_alpha_of_rgba_tiles(faces):
    img, lm = faces[0]
    rgba = apply_mask(img, lm, "outline", color=None)
    grid = image_grid([rgba, img], ["masked", "photo"], columns=2, tile_width=200, padding=10)
    assert grid.ndim == 3 and grid.shape[2] == 4
    assert grid[0, 0, 3] == 255  # padding opaque
    tile = grid[10:10 + 244, 10:210]
    assert (tile[..., 3] == 0).mean() > 0.2 and (tile[..., 3] == 255).any()  # the masked tile keeps its alpha
    assert (grid[10:10 + 244, 220:420, 3] == 255).all()  # the RGB tile is opaque
    assert not grid[grid[..., 3] == 0, :3].any()
    assert image_grid([img], ["x"]).shape[2] == 3  # RGB tiles: an RGB grid, as before


def test_continuum_strip_and_outputs_keep_alpha_in_a_transparent_run(tmp_path, data_dir):
    from jobs.__main__ import main as jobs_main

    a, b = (str(data_dir / "portraits" / n) for n in PORTRAITS)
    out = tmp_path / "c"
    assert jobs_main(["continuum", a, b, "--steps", "3", "--out", str(out), "--mask", "outline",
                      "--mask-color", "transparent"]) == 0
    for name in ("strip.png", "A000360-S000033-050.png"):
        with Image.open(out / name) as im:
            assert im.mode == "RGBA", name
            px = np.asarray(im)
        assert (px[..., 3] == 0).any() and not px[px[..., 3] == 0, :3].any(), name


def test_symmetrising_mirrors_only_the_face(faces):
    img, lm = faces[0]
    h, w = img.shape[:2]
    marked = img.copy()
    region = face_region(lm, w, h)
    # a red patch on one side of the head, beside the ear (outside the face region), nothing on the other side
    eyes = eye_centres(lm)
    x = int(eyes[0, 0] - 1.25 * np.linalg.norm(eyes[1] - eyes[0]))
    y = int(eyes[0, 1])
    marked[y - 8:y + 8, x - 8:x + 8] = (255, 0, 0)
    assert region[y - 8:y + 8, x - 8:x + 8].max() < 0.01
    sym, sym_lm = symmetrize(marked, lm)
    mx = w - 1 - x
    patch, mirror = sym[y - 4:y + 4, x - 4:x + 4].astype(int), sym[y - 4:y + 4, mx - 4:mx + 4].astype(int)
    assert (patch[..., 0] - patch[..., 1] > 150).all()  # the patch stays, whole and single
    assert (mirror[..., 0] - mirror[..., 1] < 60).all()  # and no ghost of it on the other side
    # inside the face region the colour is the mean of the face and its mirror image
    inner = face_region(sym_lm, w, h) > 0.999
    assert inner.mean() > 0.1
    mirrored = sym[:, ::-1]
    assert np.abs(sym[inner & inner[:, ::-1]].astype(int) - mirrored[inner & inner[:, ::-1]]).mean() < 4
    far = face_region(sym_lm, w, h, forehead=0.6) == 0  # well away from the face: the photo as it was warped
    assert np.abs(sym[far].astype(int) - symmetrize(marked, lm, color=False)[0][far]).max() <= 1


def test_yaw_from_the_landmarks_and_the_warning(faces, caplog):
    img, lm = faces[0]
    yaw = estimate_yaw(lm)
    assert abs(yaw) < MAX_YAW and yaw_note(lm) == ""
    assert estimate_yaw(mirror_landmarks(lm, img.shape[1])) == pytest.approx(-yaw, abs=1e-3)
    turned = lm.copy()
    tip = NOSE_BRIDGE.stop - 1
    turned[tip, 0] += 0.25 * float(np.linalg.norm(eye_centres(lm)[1] - eye_centres(lm)[0]))  # nose tip moved right
    assert estimate_yaw(turned) > MAX_YAW and "turned about" in yaw_note(turned)
    with caplog.at_level(logging.WARNING, logger="morphkit.research"):
        symmetrize(img, turned)
    assert any("turned about" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="morphkit.research"):
        symmetrize(img, turned, max_yaw=None)
    assert not caplog.records


def test_symmetrize_job_notes_a_turned_face_in_the_report(tmp_path, data_dir, monkeypatch):
    from jobs import face_tools
    from jobs.__main__ import main as jobs_main

    monkeypatch.setattr(face_tools, "yaw_note", lambda lm: "face turned about 20 degrees (more than 10)")
    out = tmp_path / "s"
    assert jobs_main(["symmetrize", str(data_dir / "portraits" / PORTRAITS[0]), "--out", str(out)]) == 0
    with open(out / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["status"] == "ok" and "turned about 20 degrees" in rows[0]["message"]


def _detail(image, mask):
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))[mask].mean())


def _regions(lm, shape):
    """Face interior (hull of points 17-67) and the band 0.1-0.6 inter-ocular distances outside the 68-point hull."""
    def hull(points):
        m = np.zeros(shape, np.uint8)
        cv2.fillConvexPoly(m, cv2.convexHull(np.round(points).astype(np.int32)), 1)
        return m.astype(bool)
    outside = cv2.distanceTransform((~hull(lm)).astype(np.uint8), cv2.DIST_L2, 5)
    iod = float(inter_ocular_distance(lm))
    return hull(lm[BROWS.start:]), (outside > 0.1 * iod) & (outside <= 0.6 * iod)


def test_texture_mean_restores_detail_inside_the_face_only(photos):
    images = [im for im, _ in photos] + [np.ascontiguousarray(im[:, ::-1]) for im, _ in photos]
    lms = np.stack([lm for _, lm in photos] + [mirror_landmarks(lm, im.shape[1]) for im, lm in photos])
    plain = mean_face(images, lms)
    tex = mean_face(images, lms, texture=True)
    interior, band = _regions(plain.shape.astype(np.float64), plain.image.shape[:2])
    assert _detail(tex.image, interior) > 1.15 * _detail(plain.image, interior)
    assert _detail(tex.image, band) <= 1.3 * _detail(plain.image, band)  # the rule: no scribbles
    far = face_region(plain.shape, 450, 550, forehead=0.6) == 0
    assert np.abs(tex.image[far].astype(int) - plain.image[far]).max() <= 1  # the plain mean outside the face


def test_texture_and_colour_transforms_leave_the_background_alone(faces):
    (img, lm), (other, other_lm) = faces
    smooth = cv2.GaussianBlur(img, (0, 0), 2.0)
    busy = img.copy()
    busy[::4] = 255  # prototype B: stripes everywhere, on its background too
    out, new_lm = transform(img, lm, smooth, lm, busy, lm, shape_pct=0, color_pct=50, texture_pct=100)
    region = face_region(new_lm, img.shape[1], img.shape[0])
    assert np.abs(out[region == 0].astype(int) - img[region == 0]).max() <= 1
    assert np.abs(out[region > 0.99].astype(int) - img[region > 0.99]).mean() > 5
    weight = np.zeros(img.shape[:2])
    assert np.abs(transfer_texture(img, smooth, img, 100, weight).astype(int) - img).max() <= 1
    with pytest.raises(ValueError, match="weight"):
        transfer_texture(img, smooth, img, 100, np.full(img.shape[:2], 2.0))
