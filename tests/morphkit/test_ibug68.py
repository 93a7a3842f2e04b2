"""The one description of the iBUG 300-W markup that both packages use."""

import numpy as np

from landmarker.io.datasets import load_dlib_xml
from morphkit import ibug68
from morphkit.research import mirror_landmarks


def test_contours_and_regions_cover_each_point_once():
    drawn = np.concatenate([np.arange(68)[s] for _, s, _ in ibug68.CONTOURS])
    assert sorted(drawn) == list(range(68))
    assert sorted(i for r in ibug68.REGIONS.values() for i in r) == list(range(68))


def test_mirror_permutation_maps_a_real_face_onto_its_mirror_image(data_dir):
    lm = load_dlib_xml(data_dir / "dlib-faces" / "testing_with_face_landmarks.xml")[0].landmarks
    assert np.array_equal(ibug68.MIRROR[ibug68.MIRROR], np.arange(68))
    flipped = mirror_landmarks(lm, 1000)
    # the mirrored face's image-left eye is the original's image-right eye, moved across
    assert np.allclose(ibug68.eye_centres(flipped)[0],
                       [999 - ibug68.eye_centres(lm)[1][0], ibug68.eye_centres(lm)[1][1]])
    assert np.isclose(ibug68.inter_ocular_distance(flipped), ibug68.inter_ocular_distance(lm))
    # points on the midline stay themselves
    for i in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert ibug68.MIRROR[i] == i


def test_eye_centres_and_iod_take_many_faces():
    lm = np.random.default_rng(0).uniform(0, 100, (5, 68, 2)).astype(np.float32)
    assert ibug68.eye_centres(lm).shape == (5, 2, 2) and ibug68.eye_centres(lm).dtype == np.float64
    assert np.allclose(ibug68.inter_ocular_distance(lm), np.linalg.norm(lm[:, 36] - lm[:, 45], axis=1))
