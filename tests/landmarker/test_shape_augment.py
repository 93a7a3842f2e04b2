"""Shape augmentation: warped faces carry exact labels, folds are refused, the dataset uses donors."""

import numpy as np
import pytest

from landmarker.model import crop as C
from landmarker.training.config import Augment
from landmarker.training.data import augmented_crop
from landmarker.training.shape_augment import MAX_FOLD, blended_shape, shape_warped_crop
from morphkit.procrustes import fit_similarity

N = 64


def _shape(rng, jitter=1.5):
    """A plausible 68-point shape in a (2N, 2N) context crop: the mean-ish face, jittered."""
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([64 + 30 * np.cos(np.pi - t), 60 + 34 * np.sin(t)], 1)
    brows = np.stack([np.r_[np.linspace(40, 58, 5), np.linspace(70, 88, 5)], np.full(10, 48.0)], 1)
    nose = np.stack([np.r_[np.full(4, 64.0), np.linspace(56, 72, 5)],
                     np.r_[np.linspace(52, 70, 4), np.full(5, 76.0)]], 1)
    eye = np.array([[-9, 0], [-5, -3], [-1, -3], [3, 0], [-1, 2], [-5, 2]], float)
    eyes = np.r_[eye + [50, 56], eye + [78, 56]]
    mouth_out = np.stack([64 + 13 * np.cos(np.linspace(np.pi, -np.pi, 13)[:12]),
                          86 + 5 * np.sin(np.linspace(np.pi, -np.pi, 13)[:12])], 1)
    mouth_in = np.stack([64 + 8 * np.cos(np.linspace(np.pi, -np.pi, 9)[:8]),
                         86 + 2 * np.sin(np.linspace(np.pi, -np.pi, 9)[:8])], 1)
    pts = np.concatenate([jaw, brows, nose, eyes, mouth_out, mouth_in])
    assert pts.shape == (68, 2)
    # whole pixels, so the dots of _marked_context are centred on the landmarks
    return np.round(pts + rng.normal(0, jitter, pts.shape)).astype(np.float32)


def _other_face(pts):
    """Another plausible face: wider jaw, raised brows, a wider, lower mouth, a longer nose."""
    out = pts.copy()
    out[0:17, 0] = 64 + (out[0:17, 0] - 64) * 1.3
    out[17:27, 1] -= 5.0
    out[48:68, 0] = 64 + (out[48:68, 0] - 64) * 1.35
    out[48:68, 1] += 4.0
    out[31:36, 1] += 3.0
    return out


def _marked_context(pts):
    """A dark context crop with a bright 3x3 dot at each of a few landmarks (well apart)."""
    img = np.full((2 * N, 2 * N), 30, np.uint8)
    for x, y in np.round(pts[MARKED]).astype(int):
        img[y - 1:y + 2, x - 1:x + 2] = 250
    return img


MARKED = [0, 8, 16, 19, 24, 30, 36, 45, 48, 54]


def _dot_centres(img, near):
    """Intensity-weighted centre of the bright pixels within 4 px of each expected point."""
    out = []
    ys, xs = np.mgrid[:img.shape[0], :img.shape[1]]
    for x, y in near:
        w = ((np.hypot(xs - x, ys - y) < 4) * np.clip(img.astype(float) - 100, 0, None))
        assert w.sum() > 0, f"no dot near ({x:.1f}, {y:.1f})"
        out.append([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    return np.array(out)


def _assert_dots_at(img, expected):
    """The dots sit at the expected points. A dot at a vertex where the triangles' affine maps differ
    much is stretched unevenly, so its centre moves off the vertex's image: up to about 2 px at the jaw
    against the border triangles, half a pixel typically (a wrong matrix, mirror or order is far more)."""
    err = np.linalg.norm(_dot_centres(img, expected) - expected, axis=1)
    assert np.median(err) < 0.6 and err.max() < 2.5, err


def test_an_unchanged_or_shifted_shape_is_cut_exactly():
    rng = np.random.default_rng(4)
    own = _shape(rng, jitter=0.3)
    m = C.crop_matrix(63.5, 63.5, N, N)
    for target in (own, own + np.float32([0.6, -0.4])):
        crop = shape_warped_crop(_marked_context(own), own, target, m, N)
        expected = C.apply_affine(target, m)[MARKED[1:-1]]  # the jaw's ends stretch against the border
        np.testing.assert_allclose(_dot_centres(crop, expected), expected, atol=0.2)  # a half-pixel slip fails
    np.testing.assert_array_equal(shape_warped_crop(_marked_context(own), own, own, m, N),
                                  C.warp_crop(_marked_context(own), m, N))


def test_blended_shape_runs_from_own_to_the_aligned_donor():
    rng = np.random.default_rng(0)
    own, donor = _shape(rng), _other_face(_shape(rng))
    # the donor turned, scaled and moved: alignment takes all of that out again
    a = np.deg2rad(20)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = (donor - 64) @ rot.T * 1.7 + [30, -12]
    np.testing.assert_allclose(blended_shape(own, moved, 0.0), own, atol=1e-5)
    aligned = fit_similarity(donor, own)[0]
    np.testing.assert_allclose(blended_shape(own, moved, 1.0), aligned, atol=1e-4)
    half = blended_shape(own, moved, 0.5)
    np.testing.assert_allclose(half, (own + aligned) / 2, atol=1e-4)


@pytest.mark.parametrize("angle,flip", [(0.0, False), (12.0, False), (-8.0, True)])
def test_the_warped_crop_puts_the_pixels_of_each_landmark_at_its_new_label(angle, flip):
    rng = np.random.default_rng(1)
    own = _shape(rng, jitter=0.3)
    target = blended_shape(own, _other_face(own), 0.9)
    assert np.abs(target - own).max() > 2.0  # the shape really moves
    m = C.crop_matrix(63.5, 63.5, 1.1 * N, N, angle, flip)
    crop = shape_warped_crop(_marked_context(own), own, target, m, N)
    assert crop is not None and crop.shape == (N, N) and crop.dtype == np.uint8
    expected = C.apply_affine(target, m)[MARKED]
    _assert_dots_at(crop, expected)


def test_a_target_that_folds_the_face_over_is_refused():
    rng = np.random.default_rng(2)
    own = _shape(rng, jitter=0.5)
    folded = own.copy()
    folded[36:42], folded[42:48] = own[42:48], own[36:42]  # the eyes swapped: their triangles turn over
    m = C.crop_matrix(63.5, 63.5, N, N)
    assert shape_warped_crop(_marked_context(own), own, folded, m, N) is None
    # a sliver fold between the inner lips is below MAX_FOLD and is taken
    own[61:64, 1], own[65:68, 1] = 85.8, 86.2  # lips all but closed
    sliver = own.copy()
    sliver[61:64, 1], sliver[65:68, 1] = 86.2, 85.8
    assert shape_warped_crop(_marked_context(own), own, own, m, N) is not None
    assert MAX_FOLD > 0 and shape_warped_crop(_marked_context(own), own, sliver, m, N) is not None


def test_augmented_crop_uses_donors_only_with_shape_p():
    rng0 = np.random.default_rng(3)
    own = _shape(rng0, jitter=0.3)
    donors = np.stack([_other_face(_shape(rng0, jitter=0.3)) for _ in range(5)])
    ctx = _marked_context(own)
    plain = Augment(0, 0, 0, 0, 0, 0, 0)
    with_shape = Augment(0, 0, 0, 0, 0, 0, 0, shape_p=1.0)
    img0, pts0 = augmented_crop(ctx, own, N, np.random.default_rng(9), plain, donors)
    img1, pts1 = augmented_crop(ctx, own, N, np.random.default_rng(9), with_shape, None)
    np.testing.assert_array_equal(pts0, pts1)  # no donors: nothing to warp onto
    np.testing.assert_array_equal(img0, img1)
    img2, pts2 = augmented_crop(ctx, own, N, np.random.default_rng(9), with_shape, donors)
    assert np.abs(pts2 - pts0).max() > 0.5
    inside = pts2[MARKED][(pts2[MARKED] > 4).all(1) & (pts2[MARKED] < N - 5).all(1)]  # dots the crop holds whole
    assert len(inside) >= 6
    _assert_dots_at(img2, inside)
    with pytest.raises(ValueError, match="shape_p"):
        Augment(shape_p=1.5)
