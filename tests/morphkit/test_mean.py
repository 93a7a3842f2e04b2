"""morphkit: alignment, mean shape, mean face, morphs and caricatures on real dlib/iBUG faces."""

import functools
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import TESTS_DATA, dlib_faces
from PIL import Image

from morphkit import (
    CanonicalFrame,
    align_face,
    align_landmarks,
    caricature,
    eye_centres,
    face_mask,
    mean_face,
    mean_shape,
    morph_pair,
)

DATA = TESTS_DATA / "dlib-faces"
SMALL = CanonicalFrame(width=150, height=184)




@functools.cache
def _read(path: Path) -> np.ndarray:
    arr = np.asarray(Image.open(path).convert("RGB"))
    arr.setflags(write=False)
    return arr


@pytest.fixture(scope="module")
def faces():
    """All real faces: list of (image, landmarks), largest faces first."""
    found = dlib_faces("testing_with_face_landmarks.xml") + dlib_faces("training_with_face_landmarks.xml")
    found.sort(key=lambda f: -np.ptp(f[1][:, 0]))
    return [(_read(p), lm) for p, lm in found]


def _random_similarity(rng):
    a, s = rng.uniform(-0.5, 0.5), rng.uniform(0.5, 2.0)
    return np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(-50, 50)],
                     [s * np.sin(a), s * np.cos(a), rng.uniform(-50, 50)]])


# --- alignment -------------------------------------------------------------------------

def test_alignment_puts_eye_centres_on_the_frame_eyes(faces):
    frame = CanonicalFrame()
    assert frame.size == (450, 550)
    assert frame.eye_left[1] == frame.eye_right[1] and frame.eye_left[0] < frame.eye_right[0]
    for image, lm in faces[:6]:
        aligned, alm = align_face(image, lm, frame)
        assert aligned.shape == (550, 450, 3) and aligned.dtype == np.uint8
        assert alm.shape == (68, 2) and alm.dtype == np.float32
        np.testing.assert_allclose(eye_centres(alm), frame.eyes, atol=1e-3)
        np.testing.assert_allclose(align_landmarks(lm, frame), alm, atol=1e-4)


def test_alignment_moves_image_and_landmarks_together(faces):
    image, lm = faces[0]
    marked = image.copy()
    tip = tuple(int(round(v)) for v in lm[30])  # nose tip
    cv2.circle(marked, tip, 1, (255, 0, 255), -1)
    aligned, alm = align_face(marked, np.round(lm).astype(np.float32), CanonicalFrame())
    magenta = (aligned[..., 0].astype(int) - aligned[..., 1]) > 120
    ys, xs = np.nonzero(magenta & ((aligned[..., 2].astype(int) - aligned[..., 1]) > 120))
    assert len(xs) > 0
    assert abs(xs.mean() - alm[30, 0]) < 2.0 and abs(ys.mean() - alm[30, 1]) < 2.0


def test_canonical_frame_rejects_bad_geometry():
    with pytest.raises(ValueError, match="width"):
        CanonicalFrame(width=0)
    with pytest.raises(ValueError, match="eye_y"):
        CanonicalFrame(eye_y=1.5)
    with pytest.raises(ValueError, match="border"):
        CanonicalFrame(border="wrap")


# --- mean shape ------------------------------------------------------------------------

def test_mean_shape_of_copies_is_that_shape_and_ignores_pose(faces):
    lm = faces[0][1].astype(np.float64)
    rng = np.random.default_rng(0)
    moved = []
    for _ in range(5):
        m = _random_similarity(rng)
        moved.append(lm @ m[:, :2].T + m[:, 2])
    frame = CanonicalFrame()
    expected = align_landmarks(lm, frame)
    np.testing.assert_allclose(mean_shape(np.stack(moved), frame=frame), expected, atol=1e-3)
    # Without a frame, copies of one shape in one frame give that shape back.
    np.testing.assert_allclose(mean_shape(np.stack([lm] * 4)), lm, atol=1e-3)


def test_mean_shape_lies_between_the_faces(faces):
    frame = CanonicalFrame()
    aligned = align_landmarks(np.stack([f[1] for f in faces]), frame)
    mean = mean_shape(aligned, frame=frame)
    assert mean.shape == (68, 2) and mean.dtype == np.float32
    np.testing.assert_allclose(eye_centres(mean), frame.eyes, atol=1e-3)
    # Closer to the plain average of the aligned shapes than any single face is.
    avg = aligned.mean(axis=0)
    err = np.linalg.norm(mean - avg, axis=1).mean()
    assert err < min(np.linalg.norm(a - avg, axis=1).mean() for a in aligned)


# --- mean face -------------------------------------------------------------------------

def test_mean_of_copies_of_one_face_is_that_face(faces):
    image, lm = faces[1]
    result = mean_face([image] * 3, np.stack([lm] * 3), frame=CanonicalFrame())
    aligned, alm = align_face(image, lm, CanonicalFrame())
    assert result.count == 3
    assert result.image.shape == (550, 450, 3) and result.image.dtype == np.uint8
    np.testing.assert_allclose(result.shape, alm, atol=1e-3)
    diff = np.abs(result.image.astype(int) - aligned.astype(int))
    assert diff.mean() < 0.2 and np.mean(diff <= 1) > 0.999


def test_mean_face_is_identical_for_any_n_jobs(faces, tmp_path):
    # Ten faces = two fixed chunks; half given as arrays, half as picklable loaders.
    sources, lms = [], []
    for i, (image, lm) in enumerate(faces[:10]):
        if i % 2:
            path = tmp_path / f"face{i}.npy"
            np.save(path, image)
            sources.append(functools.partial(np.load, path))
        else:
            sources.append(image)
        lms.append(lm)
    lms = np.stack(lms)
    one = mean_face(sources, lms, frame=SMALL, n_jobs=1)
    two = mean_face(sources, lms, frame=SMALL, n_jobs=2)
    assert one.count == two.count == 10
    assert np.array_equal(one.image, two.image)
    assert np.array_equal(one.shape, two.shape)
    # It is a real average: differs from every single aligned face.
    for image, lm in faces[:2]:
        assert np.abs(one.image.astype(int) - align_face(image, lm, SMALL)[0]).mean() > 5


def test_face_only_background(faces):
    imgs = [f[0] for f in faces[:4]]
    lms = np.stack([f[1] for f in faces[:4]])
    whole = mean_face(imgs, lms, frame=SMALL)
    face = mean_face(imgs, lms, frame=SMALL, background="face", background_color=(0, 255, 0))
    assert np.array_equal(whole.shape, face.shape)
    mask = face_mask(face.shape, SMALL.width, SMALL.height)
    assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
    assert np.all(face.image[mask < 1e-3] == (0, 255, 0))
    core = mask > 0.999
    assert core.sum() > 500
    assert np.abs(face.image[core].astype(int) - whole.image[core]).max() <= 1


def test_mean_face_rejects_bad_input(faces):
    image, lm = faces[0]
    with pytest.raises(ValueError, match="counts must match"):
        mean_face([image, image], lm[None])
    nan = lm.copy()
    nan[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mean_face([image], nan[None])
    with pytest.raises(ValueError, match=r"\(n, 68, 2\)"):
        mean_face([image], lm[:60][None])
    with pytest.raises(ValueError, match="uint8"):
        mean_face([image.astype(np.float32)], lm[None])
    with pytest.raises(ValueError, match="background"):
        mean_face([image], lm[None], background="sky")
    with pytest.raises(ValueError, match="n_jobs"):
        mean_face([image], lm[None], n_jobs=0)
    with pytest.raises(ValueError, match="returned by"):
        mean_face([lambda: np.zeros((4, 4), np.uint8)], lm[None])
    with pytest.raises(ValueError, match="coincide"):
        mean_face([image], np.zeros((1, 68, 2), np.float32))


# --- morphs and caricatures -------------------------------------------------------------

@pytest.fixture(scope="module")
def aligned_pair(faces):
    (ia, la), (ib, lb) = faces[0], faces[2]
    a, pa = align_face(ia, la, CanonicalFrame())
    b, pb = align_face(ib, lb, CanonicalFrame())
    return a, pa, b, pb


def test_morph_endpoints_are_the_aligned_faces(aligned_pair):
    a, pa, b, pb = aligned_pair
    for w, d, ref in ((0, 0, a), (1, 1, b)):
        out = morph_pair(a, pa, b, pb, w, d)
        assert out.shape == a.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - ref).max() <= 1
    mid = morph_pair(a, pa, b, pb, 0.5, 0.5).astype(int)
    assert np.abs(mid - a).mean() > 5 and np.abs(mid - b).mean() > 5
    # A frame is the pixel-wise blend of both faces warped to the same intermediate shape.
    for w, d in ((0.5, 0.5), (0.3, 0.6), (0.85, 0.2)):
        wa = morph_pair(a, pa, b, pb, w, 0.0).astype(int)
        wb = morph_pair(a, pa, b, pb, w, 1.0).astype(int)
        frame = morph_pair(a, pa, b, pb, w, d).astype(int)
        assert np.abs(frame - ((1 - d) * wa + d * wb)).max() <= 1.5


def test_morph_rejects_bad_input(aligned_pair):
    a, pa, b, pb = aligned_pair
    with pytest.raises(ValueError, match="same size"):
        morph_pair(a, pa, b[:-2], pb, 0.5, 0.5)
    with pytest.raises(ValueError, match="warp_frac"):
        morph_pair(a, pa, b, pb, 1.5, 0.5)
    with pytest.raises(ValueError, match="dissolve_frac"):
        morph_pair(a, pa, b, pb, 0.5, -0.1)
    with pytest.raises(ValueError, match="68 points"):
        morph_pair(a, pa[:67], b, pb, 0.5, 0.5)


def test_caricature_exaggerates_shape_differences(aligned_pair, faces):
    a, pa, _, _ = aligned_pair
    mean = mean_shape(align_landmarks(np.stack([f[1] for f in faces]), CanonicalFrame()),
                      frame=CanonicalFrame())
    assert np.abs(caricature(a, pa, mean, 0.0)[0].astype(int) - a).max() <= 1
    # A face that already has the mean shape is left unchanged at any exaggeration.
    at_mean = caricature(a, mean, mean, 150.0)[0]
    assert np.abs(at_mean.astype(int) - a).max() <= 1
    # A dot at a landmark moves to mean + factor * (landmark - mean).
    canvas = np.zeros_like(a)
    k = 8  # chin
    cv2.circle(canvas, tuple(int(round(v)) for v in pa[k]), 2, (255, 255, 255), -1)
    lm = pa.copy()
    lm[k] = np.round(pa[k])
    out, moved = caricature(canvas, lm, mean, 100.0)
    ys, xs = np.nonzero(out[..., 0] > 100)
    from morphkit.procrustes import fit_similarity
    ref, _ = fit_similarity(mean, lm)
    expect = ref[k] + 2.0 * (lm[k] - ref[k])
    assert abs(xs.mean() - expect[0]) < 1.5 and abs(ys.mean() - expect[1]) < 1.5
    assert np.allclose(moved[k], expect, atol=1e-3)
    with pytest.raises(ValueError, match="shape_pct"):
        caricature(a, pa, mean, -100)
    with pytest.raises(ValueError, match="mean face"):
        caricature(a, pa, mean, 50, color_pct=50)


def test_alignment_and_mean_shape_reject_bad_input(faces):
    image, lm = faces[0]
    with pytest.raises(ValueError, match=r"\(68, 2\)|68 points"):
        align_face(image, lm[:, :1])
    with pytest.raises(ValueError, match="68 points"):
        align_face(image, lm[:40])
    nan = lm.copy()
    nan[40, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        align_face(image, nan)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        align_face(image[..., :2], lm)
    with pytest.raises(ValueError, match="CanonicalFrame"):
        align_face(image, lm, frame=(450, 550))
    with pytest.raises(ValueError, match=r"\(n, 68, 2\)"):
        mean_shape(lm)
    with pytest.raises(ValueError, match="no faces"):
        mean_shape(np.zeros((0, 68, 2)))
    with pytest.raises(ValueError, match="NaN"):
        mean_shape(np.stack([lm, nan]))
