"""``landmarker predict --boxes``: user-given face boxes instead of the detector."""

import math
from pathlib import Path

import numpy as np
import pytest

from landmarker.cli import main as landmarker_main
from landmarker.inference.predictor import Landmarker
from landmarker.io.boxes_csv import match_boxes, read_boxes_csv
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import read_landmarks_csv


@pytest.fixture(scope="module")
def model():
    return Landmarker()


def _folder(tmp_path, data_dir):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "A000360.jpg").write_bytes((data_dir / "portraits" / "A000360.jpg").read_bytes())
    (folder / "sub" / "S000033.jpg").write_bytes((data_dir / "portraits" / "S000033.jpg").read_bytes())
    return folder


def _row(name, box):
    return f"{name}," + ",".join(f"{v:.1f}" for v in box) + "\n"


def test_predict_uses_given_boxes(tmp_path, data_dir, model):
    folder = _folder(tmp_path, data_dir)
    img_a, img_s = read_image(folder / "A000360.jpg"), read_image(folder / "sub" / "S000033.jpg")
    box_a, box_s = model.predict(img_a)[0].box, model.predict(img_s)[0].box
    corner = (2.0, 2.0, 40.0, 40.0)  # no face there: only a given box puts a face row here
    boxes = tmp_path / "boxes.csv"
    # an extra column; the small box comes first in the file
    boxes.write_text("image,left,top,right,bottom,note\n"
        + _row("A000360.jpg", corner).rstrip("\n") + ",x\n"
        + _row("A000360.jpg", box_a).rstrip("\n") + ",y\n"
        + _row("S000033.jpg", box_s).rstrip("\n") + ",z\n")
    out = tmp_path / "landmarks.csv"
    assert landmarker_main(["predict", str(folder), "--out", str(out), "--boxes", str(boxes)]) == 0
    faces = read_landmarks_csv(out)
    assert sorted(faces) == ["A000360.jpg", "sub/S000033.jpg"]  # matched by file name
    a = faces["A000360.jpg"]
    assert len(a) == 2
    assert np.allclose(a[0].box, box_a, atol=0.06) and np.allclose(a[1].box, corner)  # largest first
    assert all(math.isnan(f.score) for fs in faces.values() for f in fs)
    want = model.predict_boxes(img_a, [np.round(box_a, 1), corner])
    np.testing.assert_allclose(np.stack([f.landmarks for f in a]), want, atol=0.02)


def test_boxes_matched_by_relative_path_and_images_without_boxes_skipped(tmp_path, data_dir, model):
    folder = _folder(tmp_path, data_dir)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("image,left,top,right,bottom\n" + _row("sub/S000033.jpg", (50, 60, 250, 260)))
    out = tmp_path / "landmarks.csv"
    assert landmarker_main(["predict", str(folder), "--out", str(out), "--boxes", str(boxes)]) == 0
    faces = read_landmarks_csv(out)
    assert list(faces) == ["sub/S000033.jpg"] and len(faces["sub/S000033.jpg"]) == 1


@pytest.mark.parametrize(
    "text, problem",
    [
        ("image,left,top,right\nA000360.jpg,1,2,3\n", "bottom"),
        ("image,left,top,right,bottom\nA000360.jpg,1,2,abc,40\n", "non-numeric"),
        ("image,left,top,right,bottom\nnobody.jpg,1,2,30,40\n", "nobody.jpg"),
        ("image,left,top,right,bottom\nA000360.jpg,30,2,10,40\n", "no area"),
        ("image,left,top,right,bottom\n", "no boxes"),
    ],
)
def test_bad_boxes_file_exits_2_naming_file_and_problem(tmp_path, data_dir, capsys, text, problem):
    folder = _folder(tmp_path, data_dir)
    boxes = tmp_path / "my_boxes.csv"
    boxes.write_text(text)
    code = landmarker_main(["predict", str(folder), "--out", str(tmp_path / "o.csv"), "--boxes", str(boxes)])
    err = capsys.readouterr().err
    assert code == 2
    assert "my_boxes.csv" in err and problem in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


def test_missing_boxes_file_exits_2(tmp_path, data_dir, capsys):
    folder = _folder(tmp_path, data_dir)
    code = landmarker_main(["predict", str(folder), "--out", str(tmp_path / "o.csv"),
                            "--boxes", str(tmp_path / "none.csv")])
    assert code == 2 and "none.csv" in capsys.readouterr().err


def test_ambiguous_file_name_is_refused(tmp_path):
    boxes = tmp_path / "b.csv"
    boxes.write_text("image,left,top,right,bottom\na.jpg,1,2,30,40\n")
    images = [(Path("x/a.jpg"), "x/a.jpg"), (Path("y/a.jpg"), "y/a.jpg")]
    with pytest.raises(ValueError, match="several"):
        match_boxes(boxes, read_boxes_csv(boxes), images)
    assert match_boxes(boxes, {"./x/a.jpg": [(1, 2, 3, 4)]}, images) == {"x/a.jpg": [(1, 2, 3, 4)]}


def test_written_boxes_read_back(tmp_path):
    from landmarker.io.boxes_csv import write_boxes_csv

    rows = [("a.jpg", 1.25, 2.5, 30.0, 40.125), ("sub/b.jpg", 0, 0, 10, 10), ("a.jpg", 5, 6, 7, 8)]
    write_boxes_csv(tmp_path / "b.csv", rows)
    assert read_boxes_csv(tmp_path / "b.csv") == {
        "a.jpg": [(1.25, 2.5, 30.0, 40.125), (5.0, 6.0, 7.0, 8.0)],
        "sub/b.jpg": [(0.0, 0.0, 10.0, 10.0)],
    }
