"""bulk-label --format dlib-xml: the XML reads back (our loader and dlib's) and trains."""


import dlib
import numpy as np
import pytest
from helpers import TESTS_DATA

from jobs.__main__ import main as jobs_main
from landmarker.cli import main as landmarker_main
from landmarker.io.datasets import load_dlib_xml
from landmarker.io.dlib_xml import write_dlib_xml, xml_safe
from landmarker.io.landmarks_csv import read_landmarks_csv

# dlib stores integer pixels: a round trip moves a coordinate by at most half a pixel
HALF_PX = 0.5 + 1e-4
DATA = TESTS_DATA


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A dataset folder ``ds/`` with ``images/`` labelled by bulk-label into ``ds/`` itself."""
    ds = tmp_path_factory.mktemp("xml") / "ds"
    (ds / "images" / "team's é").mkdir(parents=True)
    for src in ("portraits/A000360.jpg", "portraits/S000033.jpg", "dlib-faces/2008_001009.jpg"):
        (ds / "images" / src.split("/")[1]).write_bytes((DATA / src).read_bytes())
    (ds / "images" / "team's é" / "it's.jpg").write_bytes((DATA / "portraits/A000360.jpg").read_bytes())
    (ds / "images" / "broken.jpg").write_bytes(b"not an image")
    assert jobs_main(["bulk-label", str(ds / "images"), "--out", str(ds), "--format", "dlib-xml"]) == 0
    return ds


def test_xml_reads_back_with_the_csv_landmarks(labelled):
    csv_faces = read_landmarks_csv(labelled / "landmarks.csv")
    samples = load_dlib_xml(labelled / "landmarks.xml")
    assert len(samples) == sum(len(f) for f in csv_faces.values()) >= 5
    by_image: dict = {}
    for s in samples:
        by_image.setdefault(s.image_path.relative_to(labelled / "images").as_posix(), []).append(s)
    assert set(by_image) == set(csv_faces)  # the broken file has no faces, so no <image>
    assert "team's é/it's.jpg" in by_image  # paths relative to the XML
    for name, faces in csv_faces.items():
        assert len(by_image[name]) == len(faces)
        for face, sample in zip(faces, by_image[name]):  # same order: largest first
            assert np.abs(sample.landmarks - face.landmarks).max() <= HALF_PX
            assert np.abs(np.subtract(sample.box, face.box)).max() <= HALF_PX
            assert np.array_equal(sample.landmarks, np.round(sample.landmarks))  # integers, as dlib stores


def test_dlib_itself_reads_the_xml(labelled):
    csv_faces = read_landmarks_csv(labelled / "landmarks.csv")
    meta = dlib.image_dataset_metadata.load_image_dataset_metadata(str(labelled / "landmarks.xml"))
    assert {im.filename for im in meta.images} == {f"images/{n}" for n in csv_faces}
    for im in meta.images:
        faces = csv_faces[im.filename.removeprefix("images/")]
        assert len(im.boxes) == len(faces)
        for box, face in zip(im.boxes, faces):
            pts = np.array([[box.parts[f"{i:02d}"].x, box.parts[f"{i:02d}"].y] for i in range(68)])
            assert np.abs(pts - face.landmarks).max() <= HALF_PX
            # dlib rectangles are inclusive: right = left + width - 1
            assert abs(box.rect.left() - face.box[0]) <= HALF_PX and abs(box.rect.right() + 1 - face.box[2]) <= HALF_PX


@pytest.mark.slow
@pytest.mark.train
def test_xml_trains_a_model(labelled, tmp_path):
    xml = f"dlib-xml:{labelled / 'landmarks.xml'}"
    run = tmp_path / "run"
    argv = ["train", "--data", xml, "--val", xml, "--out", str(run), "--epochs", "1", "--img-size", "32",
            "--detector", "none", "--batch-size", "4"]
    assert landmarker_main(argv) == 0
    assert (run / "best.safetensors").is_file()


def test_xml_regenerated_on_resume_covers_every_image(labelled, tmp_path):
    """A resumed run rewrites the XML from landmarks.csv, so it holds the earlier run's faces too."""
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    for p in (labelled / "images").glob("*.jpg"):
        (ds / "images" / p.name).write_bytes(p.read_bytes())
    assert jobs_main(["bulk-label", str(ds / "images"), "--out", str(ds)]) == 0
    assert not (ds / "landmarks.xml").exists()
    (ds / "images" / "S000033 copy.jpg").write_bytes((ds / "images" / "S000033.jpg").read_bytes())
    assert jobs_main(["bulk-label", str(ds / "images"), "--out", str(ds), "--format", "dlib-xml"]) == 0
    names = {s.image_path.name for s in load_dlib_xml(ds / "landmarks.xml")}
    assert names == {"A000360.jpg", "S000033.jpg", "2008_001009.jpg", "S000033 copy.jpg"}


def test_writer_is_atomic_and_names_the_bad_file(tmp_path):
    xml = tmp_path / "faces.xml"
    xml.write_text("old")
    bad = [("a.jpg", [((0, 0, 10, 10), np.zeros((68, 2)))]), ("b.jpg", [((0, 0, 10, 10), np.full((68, 2), np.nan))])]
    with pytest.raises(ValueError, match="b.jpg"):
        write_dlib_xml(xml, bad)
    assert xml.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["faces.xml"]
    with pytest.raises(ValueError, match="shape"):
        write_dlib_xml(xml, [("a.jpg", [((0, 0, 10, 10), np.zeros((5, 2)))])])


def test_writer_escapes_file_names(tmp_path):
    """``&``, ``<``, ``"`` are escaped (valid XML; dlib's parser, which decodes no entities, cannot read them)."""
    name = 'a & <b> "c".jpg'
    (tmp_path / name).write_bytes(b"")
    write_dlib_xml(tmp_path / "f.xml", [(name, [((0, 0, 9, 9), np.ones((68, 2)))])])
    assert load_dlib_xml(tmp_path / "f.xml")[0].image_path.name == name


def test_writer_rounds_to_nearest_pixel(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    pts = np.linspace(-3.4, 80.6, 136).reshape(68, 2)
    assert write_dlib_xml(tmp_path / "f.xml", [("a.jpg", [((1.4, 2.6, 50.5, 61.49), pts)])]) == (1, 1)
    (sample,) = load_dlib_xml(tmp_path / "f.xml")
    np.testing.assert_array_equal(sample.landmarks, np.rint(pts).astype(np.float32))
    assert sample.box == (1.0, 3.0, 50.0, 61.0)  # rint(50.5) = 50 (half to even)


def test_xml_safe():
    assert xml_safe("team & co/it's <1>.jpg")
    assert not xml_safe("bell\x07.jpg")
    assert not xml_safe("latin1-\udce9.jpg")  # a non-UTF-8 file name as Python sees it
