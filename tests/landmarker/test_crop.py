import numpy as np
import pytest

from landmarker.model import crop as C
from landmarker.training.data import Augment, augmented_crop
from morphkit.ibug68 import MIRROR


def test_flip_permutation_is_an_involution_and_swaps_eye_corners():
    perm = MIRROR
    assert sorted(perm.tolist()) == list(range(68))
    assert np.array_equal(perm[perm], np.arange(68))
    assert perm[36] == 45 and perm[45] == 36
    assert perm[0] == 16 and perm[8] == 8 and perm[30] == 30 and perm[48] == 54 and perm[62] == 62


def test_flip_twice_is_identity_on_points():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (68, 2)).astype(np.float32)
    m = C.crop_matrix(50, 50, 100, 64, flip=True)
    once = C.apply_affine(pts, m)[MIRROR]
    m_back = C.crop_matrix(31.5, 31.5, 64, 64, flip=True)  # mirror the crop again
    twice = C.apply_affine(once, m_back)[MIRROR]
    np.testing.assert_allclose(twice, C.apply_affine(pts, C.crop_matrix(50, 50, 100, 64)), atol=1e-4)


def test_crop_matrix_maps_centre_and_scale_and_inverts():
    m = C.crop_matrix(120.0, 80.0, 64.0, 128, angle_deg=10)
    np.testing.assert_allclose(C.apply_affine(np.array([[120.0, 80.0]]), m), [[63.5, 63.5]], atol=1e-5)
    assert np.isclose(abs(np.linalg.det(m[:, :2])), (128 / 64) ** 2)
    pts = np.array([[100.0, 60.0], [140.0, 90.0]])
    back = C.apply_affine(C.apply_affine(pts, m), C.invert_affine(m))
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_targets_round_trip():
    pts = np.random.default_rng(1).uniform(0, 128, (68, 2))
    np.testing.assert_allclose(C.from_targets(C.to_targets(pts, 128), 128), pts)
    assert np.allclose(C.to_targets(np.array([[63.5, 63.5]]), 128), 0)


def test_box_from_landmarks_gives_crop_that_holds_the_face(data_dir):
    from landmarker.io.datasets import load_dlib_xml

    for s in load_dlib_xml(data_dir / "dlib-faces" / "training_with_face_landmarks.xml"):
        cx, cy, side = C.crop_square(C.box_from_landmarks(s.landmarks))
        inside = np.abs(s.landmarks - [cx, cy]) < side / 2
        assert inside.all()


def test_augmented_crop_moves_landmarks_with_pixels():
    # bright dots at the landmarks of a dark context crop: wherever augmentation
    # sends the points, the pixels there must still be bright.
    n = 64
    rng = np.random.default_rng(3)
    pts = rng.uniform(n * 0.7, n * 1.3, (68, 2)).astype(np.float32)
    pts = np.round(pts)
    ctx = np.zeros((2 * n, 2 * n), np.uint8)
    for x, y in pts.astype(int):
        ctx[y - 1 : y + 2, x - 1 : x + 2] = 255
    aug = Augment(brightness=0, contrast=0, blur_p=0, flip_p=0.5)
    for _ in range(10):
        img, out = augmented_crop(ctx, pts, n, rng, aug)
        xs = np.clip(np.round(out[:, 0]).astype(int), 0, n - 1)
        ys = np.clip(np.round(out[:, 1]).astype(int), 0, n - 1)
        inside = (out[:, 0] > 1) & (out[:, 0] < n - 2) & (out[:, 1] > 1) & (out[:, 1] < n - 2)
        assert inside.sum() > 30
        assert (img[ys[inside], xs[inside]] > 100).all()


def test_warp_crop_downscales_without_shifting():
    # a large image with one bright square: shrinking 8x must keep it where the matrix says
    big = np.zeros((800, 800), np.uint8)
    big[380:420, 380:420] = 255
    m = C.crop_matrix(399.5, 399.5, 800, 100)
    crop = C.warp_crop(big, m, 100)
    ys, xs = np.nonzero(crop > 100)
    assert abs(xs.mean() - 49.5) < 0.6 and abs(ys.mean() - 49.5) < 0.6


def _whole_image_crop(gray, m, n):
    """The reference: the whole image, its edge replicated to whole blocks of the integer factor, area-averaged,
    then warped."""
    import cv2

    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    f = int(1.0 / scale) if scale < 0.5 else 1
    if f > 1:
        h, w = gray.shape
        gray = cv2.copyMakeBorder(gray, 0, -h % f, 0, -w % f, cv2.BORDER_REPLICATE)
        gray = cv2.resize(gray, (gray.shape[1] // f, gray.shape[0] // f), interpolation=cv2.INTER_AREA)
        m = m @ np.array([[f, 0.0, (f - 1) / 2], [0.0, f, (f - 1) / 2], [0.0, 0.0, 1.0]])
    return cv2.warpAffine(gray, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("side, h, w", [(60.0, 1680, 1260), (300.0, 1680, 1260), (700.0, 1680, 1260),
                                         (1400.0, 1680, 1260), (700.0, 1683, 1262), (1400.0, 1687, 1261)])
def test_warp_crop_reads_only_the_face_region_and_gives_the_whole_image_crop(side, h, w):
    """Cutting the footprint (and the gray of the region only) changes no pixel of the crop, for crops inside the
    photo, across its edge and wholly outside it, at every area-averaging factor, for photo sides that are
    whole blocks of it and sides that are not (the last blocks replicate the edge)."""
    import cv2

    rng = np.random.default_rng(int(side) + h)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    centres = [(630.0, 840.0), (40.0, 900.0), (1250.0, 20.0), (-400.0, 300.0), (w + 900.0, h + 900.0)]
    for (cx, cy), angle, flip in zip(centres, (0.0, 17.0, -25.0, 5.0, 40.0), (False, True, False, True, False)):
        m = C.crop_matrix(cx, cy, side, 128, angle, flip)
        want = _whole_image_crop(gray, m, 128)
        got = C.warp_crop(rgb, m, 128)
        assert got.shape == (128, 128) and got.dtype == np.uint8
        assert np.abs(got.astype(int) - want).max() <= 1, (cx, cy, angle)
        np.testing.assert_array_equal(got, C.warp_crop(gray, m, 128))  # RGB in: the region's gray is the image's
