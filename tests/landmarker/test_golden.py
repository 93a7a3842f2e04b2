"""Golden landmarks: the shipped model gives the same faces and points as when they were recorded.

A silent change of the model (its weights, the crop rule, the detector, the
decoding or normalisation) moves these. Regenerate them with
``tools/make_golden.py`` only when the model changes on purpose.
"""

import sys

import numpy as np
import pytest
from helpers import REPO_ROOT

from landmarker.inference.predictor import Landmarker
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import read_landmarks_csv

ROOT = REPO_ROOT
sys.path.insert(0, str(ROOT / "tools"))
from make_golden import GOLDEN_CSV, GOLDEN_IMAGES, weights_sha256  # noqa: E402


@pytest.fixture(scope="module")
def golden():
    return read_landmarks_csv(GOLDEN_CSV)


def test_golden_file_belongs_to_the_shipped_weights(golden):
    recorded = (GOLDEN_CSV.parent / "weights.sha256").read_text().strip()
    assert recorded == weights_sha256(), (
        "the shipped weights changed since the golden landmarks were recorded: "
        "run tools/make_golden.py if the change is on purpose"
    )
    assert set(golden) == set(GOLDEN_IMAGES)


def test_shipped_model_reproduces_golden_landmarks(golden, data_dir):
    pytest.importorskip("torch")
    model = Landmarker(backend="torch")  # fp32: the golden file's own backend
    for name, faces in golden.items():
        got = model.predict(read_image(data_dir / name))
        assert len(got) == len(faces), f"{name}: {len(got)} faces, golden has {len(faces)}"
        for g, f in zip(got, faces):
            np.testing.assert_allclose(g.box, f.box, atol=0.01, err_msg=f"{name}: face box moved")
            # the CSV keeps 0.01 px; allow for float differences between CPUs
            np.testing.assert_allclose(g.landmarks, f.landmarks, atol=0.05, err_msg=f"{name}: landmarks moved")


def test_default_int8_onnx_model_stays_within_two_percent_of_iod_of_golden(golden, data_dir):
    model = Landmarker()  # the default: the shipped int8 ONNX model, no torch
    assert model.backend.name == "onnx"
    for name, faces in golden.items():
        got = model.predict(read_image(data_dir / name))
        assert len(got) == len(faces), f"{name}: {len(got)} faces, golden has {len(faces)}"
        for g, f in zip(got, faces):
            np.testing.assert_allclose(g.box, f.box, atol=0.01, err_msg=f"{name}: face box moved")
            iod = np.linalg.norm(f.landmarks[36] - f.landmarks[45])
            err = np.linalg.norm(g.landmarks - f.landmarks, axis=1).max() / iod
            assert err < 0.02, f"{name}: int8 landmarks {100 * err:.2f}% of IOD from the fp32 golden ones"
