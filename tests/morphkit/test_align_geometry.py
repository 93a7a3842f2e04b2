"""morphkit.align for `morphkit align` (issue 29): eyes, Procrustes and FFHQ similarities, warp_face's borders."""

import numpy as np
import pytest
from helpers import dlib_faces, red_centroids, red_dots
from PIL import Image

from morphkit import ffhq_quad, similarity_to_eyes, similarity_to_ffhq, similarity_to_shape, transform_points, warp_face
from morphkit.align import scale_of
from morphkit.errors import InvalidInput
from morphkit.ibug68 import eye_centres
from morphkit.masks import apply_mask


def _rotation(deg, scale=1.0, centre=(0.0, 0.0), shift=(0.0, 0.0)):
    a = np.radians(deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = r, np.asarray(shift) + np.asarray(centre) - r @ np.asarray(centre)
    return m


@pytest.fixture(scope="module")
def face():
    """The largest labelled face of tests/data/dlib-faces (2008_002506.jpg, 500 x 375, 43 px between the eyes)."""
    path, lm = max(dlib_faces("testing_with_face_landmarks.xml"), key=lambda f: np.ptp(f[1][:, 0]))
    return np.asarray(Image.open(path).convert("RGB")), lm.astype(np.float64)


@pytest.mark.parametrize("deg, scale", [(0, 1.0), (25, 0.3), (-40, 2.5)])
def test_warp_face_puts_the_photos_eyes_where_the_moved_landmarks_say(face, deg, scale):
    """The image and the landmarks move by one matrix in one pixel convention: red dots at the eye centres end
    within 0.3 px of the target, on the plain warp, the area-averaged minification (0.3) and an enlargement."""
    image, lm = face
    m = _rotation(deg, scale, centre=(380, 115), shift=(30, 40))
    size = (int(500 * max(1, scale)), int(375 * max(1, scale)))
    src = red_dots(image, eye_centres(lm), 0.1 * np.linalg.norm(np.subtract(*eye_centres(lm))))
    eyes = transform_points(eye_centres(lm), m) * [0.9, 1.0] + [20, 15]  # another similarity: eyes closer
    matrix = similarity_to_eyes(lm, eyes)
    out, moved = warp_face(src, lm, matrix, size)
    assert out.shape == (size[1], size[0], 3) and moved.dtype == np.float32 and moved.shape == (68, 2)
    assert np.abs(eye_centres(moved) - eyes).max() < 1e-3
    assert np.abs(red_centroids(out) - eyes).max() < 0.3  # measured 0.08-0.15; a half-pixel slip gives 0.5


def test_similarity_to_eyes_refuses_eyes_at_one_place(face):
    _, lm = face
    with pytest.raises(InvalidInput, match="one place"):
        similarity_to_eyes(lm, [[10, 10], [10, 10]])
    flat = lm.copy()
    flat[36:48] = 5.0
    with pytest.raises(InvalidInput, match="coincide"):
        similarity_to_eyes(flat, [[10, 10], [50, 10]])


def test_procrustes_fits_all_points_and_keeps_the_roll_without_rotation(face):
    _, lm = face
    target = transform_points(lm, _rotation(0, 1.7, shift=(-300, -40)))
    turned = transform_points(lm, _rotation(12, 0.6, centre=(250, 190), shift=(5, 9)))
    fitted = transform_points(turned, similarity_to_shape(turned, target))
    assert np.abs(fitted - target).max() < 1e-6
    kept = similarity_to_shape(turned, target, rotation=False)
    e = eye_centres(transform_points(turned, kept))
    assert np.degrees(np.arctan2(*(e[1] - e[0])[::-1])) == pytest.approx(
        np.degrees(np.arctan2(*(eye_centres(turned)[1] - eye_centres(turned)[0])[::-1])), abs=1e-6)
    assert kept[0, 1] == 0 and kept[1, 0] == 0  # no rotation; the least-squares scale of a turned shape:
    assert scale_of(kept) == pytest.approx(1.7 / 0.6 * np.cos(np.radians(12)))


def test_ffhq_quad_follows_karras_et_al():
    """Eyes at (40, 50), (60, 50), mouth corners at (45, 70), (55, 70): x = (20, 0) + (20, 0), scaled to
    max(2 * 20, 1.8 * 20) = 40; y = (0, 40); centre (50, 50) + 0.1 * (0, 20)."""
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48] = (40, 50), (60, 50)
    lm[48], lm[54] = (45, 70), (55, 70)
    assert ffhq_quad(lm) == pytest.approx(np.array([[10, 12], [10, 92], [90, 92], [90, 12]]))
    m = similarity_to_ffhq(lm, 64)
    assert transform_points(ffhq_quad(lm), m) == pytest.approx(
        np.array([[-0.5, -0.5], [-0.5, 63.5], [63.5, 63.5], [63.5, -0.5]]))


def test_ffhq_warp_matches_pils_quad_transform_of_the_ffhq_script(face):
    """FFHQ's recreate_aligned_images ends with img.transform(QUAD, (quad + 0.5).flatten(), BILINEAR): our one
    affine warp gives the same pixels (a face wholly inside the photo, no resampling of the photo first)."""
    image, lm = face
    quad = ffhq_quad(lm)
    assert quad.min() > 0 and quad[:, 0].max() < 499 and quad[:, 1].max() < 374
    side = int(round(np.hypot(*(quad[3] - quad[0]))))  # about the quad's own size: bilinear both ways
    pil = np.asarray(Image.fromarray(image).transform((side, side), Image.Transform.QUAD, tuple((quad + 0.5).ravel()),
                                                      Image.Resampling.BILINEAR))
    ours, moved = warp_face(image, lm, similarity_to_ffhq(lm, side), (side, side))
    diff = np.abs(ours[2:-2, 2:-2].astype(int) - pil[2:-2, 2:-2].astype(int))
    assert diff.mean() < 1.5 and np.percentile(diff, 99) < 12
    assert ffhq_quad(moved) == pytest.approx(
        np.array([[-0.5, -0.5], [-0.5, side - 0.5], [side - 0.5, side - 0.5], [side - 0.5, -0.5]]), abs=1e-3)


def test_borders_replicate_reflect_colour_and_transparent(face):
    image, lm = face
    m = _rotation(0, 1.0, shift=(100, 100))  # the photo moved 100 px right and down: a 100 px border
    size = (700, 575)
    outs = {b: warp_face(image, lm, m, size, b, (255, 0, 255))[0] for b in ("replicate", "reflect", "constant",
                                                                            "transparent")}
    assert (outs["constant"][:100, :100] == (255, 0, 255)).all()
    assert (outs["replicate"][:100, 100 + 7] == image[0, 7]).all()  # the photo's top row, stretched up
    assert (outs["reflect"][100 - 7, 100:600] == image[7]).all()  # the photo mirrored at its edge
    rgba = outs["transparent"]
    assert rgba.shape == (575, 700, 4)
    assert (rgba[:99, :, 3] == 0).all() and (rgba[:99, :, :3] == 0).all()  # nothing of the photo under alpha 0
    assert (rgba[101:474, 101:599, 3] == 255).all() and (rgba[101:474, 101:599, :3] == image[1:374, 1:499]).all()
    masked = apply_mask(rgba, transform_points(lm, m), "oval", None)
    assert (masked[..., 3] <= rgba[..., 3]).all() and masked[..., 3].max() == 255  # the border's alpha kept
    with pytest.raises(InvalidInput, match="border"):
        warp_face(image, lm, m, size, "wrap")
    with pytest.raises(InvalidInput, match="invertible"):
        warp_face(image, lm, np.zeros((3, 3)), size)
