import csv

import numpy as np
import pytest

from landmarker.cli import main as landmarker_main
from landmarker.inference.predictor import Landmarker
from landmarker.io.datasets import load_ytf68
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import HEADER, read_landmarks_csv
from landmarker.training.evaluate import evaluate_samples
from morphkit.ibug68 import MIRROR


@pytest.fixture(scope="module")
def model():
    return Landmarker()


def _plausible(lm, box):
    l, t, r, b = box
    size = r - l
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    # every point near the face box
    assert (lm[:, 0] > l - 0.5 * size).all() and (lm[:, 0] < r + 0.5 * size).all()
    assert (lm[:, 1] > t - 0.5 * size).all() and (lm[:, 1] < b + 0.7 * size).all()
    left_eye, right_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    assert left_eye[0] < lm[30, 0] < right_eye[0]  # nose tip between the eyes
    assert max(left_eye[1], right_eye[1]) < lm[30, 1] < lm[62, 1] < lm[8, 1]  # eyes, nose, mouth, chin


def test_portraits_get_one_plausible_face(model, data_dir):
    for path in sorted((data_dir / "portraits").glob("*.jpg")):
        faces = model.predict(read_image(path))
        assert len(faces) == 1, path
        _plausible(faces[0].landmarks, faces[0].box)


def test_group_photo_faces_sorted_by_area_and_batched_consistently(model, data_dir):
    image = read_image(data_dir / "dlib-faces" / "2008_002470.jpg")
    faces = model.predict(image)
    assert len(faces) >= 3
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)
    one_by_one = np.stack([model.predict_boxes(image, [f.box])[0] for f in faces])
    np.testing.assert_allclose(np.stack([f.landmarks for f in faces]), one_by_one, atol=1e-2)


def test_accuracy_on_labelled_frames(model, data_dir):
    res = evaluate_samples(model, load_ytf68(data_dir / "ytf68-mini"))
    assert res["detected"].all()
    assert res["nme"].mean() < 0.08, res["nme"]


def test_blank_image_has_no_face(model):
    assert model.predict(np.full((300, 300, 3), 128, np.uint8)) == []


def test_haar_detector_finds_portrait(data_dir):
    faces = Landmarker(detector="haar").predict(read_image(data_dir / "portraits" / "A000360.jpg"))
    assert len(faces) >= 1
    _plausible(faces[0].landmarks, faces[0].box)


def test_predict_cli_writes_csv_and_overlays(tmp_path, data_dir):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    for p in (data_dir / "portraits").glob("*.jpg"):
        (folder / "nested" / p.name).write_bytes(p.read_bytes())
    (folder / "broken.jpg").write_text("not an image")
    out = tmp_path / "landmarks.csv"
    assert landmarker_main(["predict", str(folder), "--out", str(out), "--overlay", str(tmp_path / "ov")]) == 0
    with open(out) as fh:
        assert next(csv.reader(fh)) == HEADER
    faces = read_landmarks_csv(out)
    assert sorted(faces) == ["nested/A000360.jpg", "nested/S000033.jpg"]
    assert (tmp_path / "ov" / "nested" / "A000360.jpg.jpg").is_file()


def test_predict_cli_missing_path_exits_2(tmp_path, capsys):
    assert landmarker_main(["predict", str(tmp_path / "nope"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "nope" in capsys.readouterr().err


def test_flip_average_equals_mean_with_prediction_on_mirrored_image(data_dir):
    image = read_image(data_dir / "portraits" / "A000360.jpg")
    plain = Landmarker(detector="hog")
    flip = Landmarker(detector="hog", flip_average=True)
    box = plain.detector(image)[0].box
    p = plain.predict_boxes(image, [box])
    # the same face in the mirrored image (boxes in edge coordinates), mapped back
    w = image.shape[1]
    m = plain.predict_boxes(np.ascontiguousarray(image[:, ::-1]), [(w - box[2], box[1], w - box[0], box[3])])
    m[..., 0] = w - 1 - m[..., 0]
    m = m[:, MIRROR]
    assert np.abs(p - m).max() > 0.05  # the two predictions differ, so the test can tell
    np.testing.assert_allclose(flip.predict_boxes(image, [box]), (p + m) / 2, atol=0.02)


def test_same_names_in_two_folders_and_repeated_files_stay_apart(tmp_path, data_dir):
    import shutil

    for folder, src in (("a", "A000360.jpg"), ("b", "S000033.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copy(data_dir / "portraits" / src, tmp_path / folder / "same.jpg")
    out, overlays = tmp_path / "p.csv", tmp_path / "ov"
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert landmarker_main(["predict", a, b, a + "/same.jpg", "--out", str(out), "--overlay", str(overlays)]) == 0
    rows = list(csv.DictReader(open(out)))
    names = [r["image"] for r in rows]
    assert sorted(names) == sorted(["same.jpg", f"{tmp_path.as_posix()}/b/same.jpg"])  # unique; repeat once
    assert [rows[0][k] for k in ("top", "x0", "y0")] != [rows[1][k] for k in ("top", "x0", "y0")]  # not one twice
    assert len(list(overlays.rglob("*.jpg"))) == 2  # neither overlay overwrote the other
