"""Issue 29 (part 3): texture means restore the texture most faces share, not what a minority has; the
default frame follows the collection's faces."""

import cv2
import numpy as np
import pytest
from helpers import dlib_faces

from morphkit import CanonicalFrame, align_landmarks, mean_face
from morphkit.frame import MAX_WIDTH, MIN_WIDTH, collection_frame, eye_distance
from morphkit.masks import face_region
from morphkit.texture import local_energy, texture_prototype, texture_target

FRAME = CanonicalFrame(width=160, height=196)
PERIOD = 4  # rows per stripe cycle


@pytest.fixture(scope="module")
def synthetic():
    """Seven faces already in FRAME with one real shape: a smooth face, each with its own fine skin texture
    (noise), and horizontal stripes on the forehead of two of them (a fringe of a minority)."""
    lm = align_landmarks(dlib_faces("testing_with_face_landmarks.xml")[0][1][None], FRAME)[0]
    h, w = FRAME.height, FRAME.width
    region = face_region(lm, w, h)
    brow_top = int(lm[17:27, 1].min())
    forehead = (region > 0.9) & (np.arange(h)[:, None] < brow_top - 2)
    stripes = np.where((np.arange(h) // (PERIOD // 2)) % 2 == 0, 1.0, -1.0)[:, None] * np.ones((1, w))
    rng = np.random.default_rng(0)
    base = 110 + 60 * region
    images = []
    for i in range(7):
        skin = cv2.GaussianBlur(rng.normal(0, 14, (h, w)), (0, 0), 0.8)
        gray = base + skin + (40 * stripes * forehead if i < 2 else 0)
        images.append(np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=2))
    cheeks = (region > 0.9) & (np.arange(h)[:, None] > lm[30, 1]) & (np.arange(h)[:, None] < lm[48, 1])
    return images, np.repeat(lm[None], 7, axis=0), forehead, cheeks, stripes


def _stripe_amplitude(image, forehead, stripes):
    """The amplitude of the stripe pattern in the forehead of ``image`` (its projection on the pattern)."""
    gray = image[..., 0].astype(np.float64)
    high = gray - cv2.GaussianBlur(gray, (0, 0), 3)
    return float(np.abs((high * stripes)[forehead].mean()))


def _texture(image, where):
    gray = image[..., 0].astype(np.float64)
    return float((gray - cv2.GaussianBlur(gray, (0, 0), 3))[where].std())


def test_the_robust_target_leaves_out_a_minority_pattern_and_keeps_the_shared_texture(synthetic):
    images, lms, forehead, cheeks, stripes = synthetic
    plain = mean_face(images, lms, frame=FRAME)
    now = mean_face(images, lms, frame=FRAME, texture=True)
    # as until issue 29 (Tiddeman et al.'s target: the mean energy; the mean's own detail), on the same faces
    levels = [np.stack(x) for x in zip(*(local_energy(im) for im in images))]
    mean_image = np.mean([im.astype(np.float64) for im in images], axis=0)
    before = texture_prototype(mean_image, texture_target(levels, "mean"),
                               face_region(plain.shape, FRAME.width, FRAME.height))
    stripes_plain = _stripe_amplitude(plain.image, forehead, stripes)
    assert stripes_plain > 5  # 2 of 7 faces' 40-level stripes, averaged
    assert _stripe_amplitude(before, forehead, stripes) > 1.5 * stripes_plain  # the minority amplified
    assert _stripe_amplitude(now.image, forehead, stripes) < 0.3 * stripes_plain  # not even the faint trace
    # the texture every face has is still restored (the interior restoration of issue 21)
    assert _texture(now.image, cheeks) > 2 * _texture(plain.image, cheeks)
    assert _texture(now.image, cheeks) > 0.7 * _texture(before, cheeks)
    assert _texture(now.image, forehead) > 0.6 * _texture(now.image, cheeks)  # skin under the stripes too


def test_texture_target_is_a_per_place_trimmed_mean():
    levels = [np.stack([np.full((3, 2, 2), v, np.float32) for v in (1, 2, 3, 15, 30)])] * 4
    # median 3: 30 is an outlier (more than 2x its amplitude, twice over: weight 0), 15 half of one (weight 0.75)
    assert np.allclose(texture_target(levels)[0], (1 + 2 + 3 + 0.75 * 15) / 3.75)
    assert np.allclose(texture_target(levels, "median")[0], 3) and np.allclose(texture_target(levels, "mean")[0], 10.2)
    with pytest.raises(ValueError, match="statistic"):
        texture_target(levels, "mode")
    with pytest.raises(ValueError, match="target"):
        texture_prototype(np.zeros((40, 40, 3)), texture_target(levels))


def test_the_collection_frame_follows_the_faces_size():
    lm = dlib_faces("testing_with_face_landmarks.xml")[0][1].astype(np.float64)
    d = eye_distance(lm[None])
    for k in (60.0 / d, 90.0 / d, 150.0 / d):  # faces with eye centres 60, 90 and 150 px apart
        frame = collection_frame(np.stack([lm * k * s for s in (0.9, 1.0, 1.3)]))  # the median face decides
        assert abs(frame.eye_distance * frame.width - d * k) <= 1.0  # the median face at scale 1
        assert frame.width % 2 == 0 and frame.height % 2 == 0
        assert abs(frame.height / frame.width - 550 / 450) < 0.01
        assert (frame.eye_y, frame.eye_distance) == (CanonicalFrame().eye_y, CanonicalFrame().eye_distance)
    assert collection_frame(lm[None] * 5 / d).width == MIN_WIDTH  # tiny faces: not a thumbnail
    assert collection_frame(lm[None] * 2000 / d).width == MAX_WIDTH  # huge portraits: bounded
    with pytest.raises(ValueError):
        collection_frame(np.zeros((0, 68, 2)))
