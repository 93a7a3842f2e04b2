"""``morphkit export``: a bulk-label run's labels (corrections in, rejected faces out) as .tem, .pts,
COCO keypoints, dlib XML and JSON lines, read back by our loaders."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT

from jobs.__main__ import main as jobs_main
from jobs.bulk_label import bulk_label
from jobs.export import FORMATS, _Face, face_file_names
from jobs.review.store import ReviewStore
from landmarker.io.datasets import load_dlib_xml, read_pts, read_tem, tem_landmarks
from landmarker.io.landmarks_csv import iter_records
from morphkit.ibug68 import CONTOURS

SAMPLE = REPO_ROOT / "sample_data" / "images"
PHOTOS = ("B001242.jpg", "sub/B001256.jpg", "B001259.jpg")


@pytest.fixture(scope="module")
def reviewed_run(tmp_path_factory) -> tuple[Path, dict, str]:
    """A bulk-label run of three portraits (one in a sub-folder), one face corrected (points moved
    by (3.25, -1.5) px) and one rejected; returns ``(run, image -> corrected or kept points, rejected image)``."""
    root = tmp_path_factory.mktemp("export")
    archive = root / "data" / "photos"
    for name in PHOTOS:
        (archive / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / Path(name).name, archive / name)
    run = root / "run"
    bulk_label(archive, run, n_jobs=1, progress=False)
    with ReviewStore(run) as store:
        faces = {f.image: f for f in store.faces()}
        assert sorted(faces) == sorted(PHOTOS) and all(f.face == 0 for f in faces.values())
        store.save(faces["sub/B001256.jpg"].id, (faces["sub/B001256.jpg"].landmarks + [3.25, -1.5]).tolist())
        store.reject(faces["B001259.jpg"].id)
    expected = {r.image: r.face.landmarks for r in iter_records(run / "landmarks.csv")}
    moved = faces["sub/B001256.jpg"].landmarks + [3.25, -1.5]
    np.testing.assert_allclose(expected["sub/B001256.jpg"], moved, atol=0.006)  # the CSV holds 0.01 px
    return run, expected, "B001259.jpg"


def _export(run: Path, fmt: str, out: Path, capsys) -> str:
    capsys.readouterr()
    assert jobs_main(["export", str(run), "--format", fmt, "--out", str(out)]) == 0
    return capsys.readouterr().out


def test_pts_and_tem_round_trip_through_our_loaders_with_the_correction_and_without_the_rejected(
        reviewed_run, tmp_path, capsys):
    run, expected, rejected = reviewed_run
    for fmt, read in (("pts", read_pts), ("tem", tem_landmarks)):
        out = tmp_path / fmt
        line = _export(run, fmt, out, capsys)
        assert line.startswith("export: 2 faces (1 reviewed), 2 files")
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob(f"*.{fmt}"))
        assert written == sorted([f"B001242_0.{fmt}", f"sub/B001256_0.{fmt}"])  # the archive's folders mirrored
        for name, points in expected.items():
            got = read(out / f"{Path(name).with_suffix('')}_0.{fmt}")
            np.testing.assert_allclose(got, points, atol=1e-3)
        assert not list(out.rglob(f"{Path(rejected).stem}*"))
    tem = (tmp_path / "tem" / "B001242_0.tem").read_text().splitlines()
    assert read_tem(tmp_path / "tem" / "B001242_0.tem").shape == (68, 2)
    assert int(tem[69]) == len(CONTOURS)  # the contour lines after the points: type, count, indices
    assert tem[70:73] == ["0", "17", " ".join(map(str, range(17)))]
    assert tem[-1].split() == ["60", "61", "62", "63", "64", "65", "66", "67", "60"]  # inner mouth, closed


def test_dlib_xml_jsonl_and_coco_carry_the_correction_and_the_reviewed_flag(reviewed_run, capsys):
    run, expected, rejected = reviewed_run
    data = run.parent / "data"  # above the archive: our loader refuses paths that leave the XML's folder
    _export(run, "dlib-xml", data, capsys)
    samples = load_dlib_xml(data / "labels.xml")
    got = {s.image_path.relative_to(data / "photos").as_posix(): s.landmarks for s in samples}
    assert sorted(got) == sorted(expected)
    for name, points in expected.items():
        assert np.abs(got[name] - points).max() <= 0.5  # dlib stores integer pixels

    out = run.parent / "exports"
    _export(run, "jsonl", out, capsys)
    lines = [json.loads(t) for t in (out / "labels.jsonl").read_text().splitlines()]
    assert {d["image"]: d["reviewed"] for d in lines} == {"B001242.jpg": False, "sub/B001256.jpg": True}
    for d in lines:
        np.testing.assert_allclose(d["landmarks"], expected[d["image"]], atol=1e-3)

    _export(run, "coco", out, capsys)  # a second format into the same folder
    coco = json.loads((out / "labels_coco.json").read_text())
    (cat,) = coco["categories"]
    assert len(cat["keypoints"]) == 68 and cat["keypoints"][36] == "left eye, outer corner"
    assert all(1 <= a <= 68 and 1 <= b <= 68 for a, b in cat["skeleton"]) and [1, 2] in cat["skeleton"]
    images = {im["id"]: im for im in coco["images"]}
    assert sorted(im["file_name"] for im in images.values()) == sorted(expected)
    assert all(im["width"] > 0 and im["height"] > 0 for im in images.values())
    assert len(coco["annotations"]) == 2 and len({a["id"] for a in coco["annotations"]}) == 2
    for a in coco["annotations"]:
        assert a["category_id"] == 1 and a["num_keypoints"] == 68 and len(a["keypoints"]) == 68 * 3
        kp = np.asarray(a["keypoints"]).reshape(68, 3)
        assert set(kp[:, 2]) == {2}
        name = images[a["image_id"]]["file_name"]
        np.testing.assert_allclose(kp[:, :2], expected[name], atol=1e-3)
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and a["area"] == pytest.approx(w * h, rel=1e-3)
        assert a["reviewed"] == (name == "sub/B001256.jpg") and a["face"] == 0
    assert (out / "labels.jsonl").is_file()  # the coco export left the jsonl one alone


def test_export_again_replaces_its_own_files_and_refuses_another_runs(reviewed_run, tmp_path, capsys):
    run, _, rejected = reviewed_run
    copy = Path(shutil.copytree(run, tmp_path / "copy"))
    out = tmp_path / "tem"
    _export(copy, "tem", out, capsys)
    with ReviewStore(copy) as store:
        store.restore(next(f.id for f in store.faces(rejected=True) if f.image == rejected))
    assert "3 files" in _export(copy, "tem", out, capsys)
    assert (out / "B001259_0.tem").is_file()
    with ReviewStore(copy) as store:
        store.reject(next(f.id for f in store.faces() if f.image == rejected))
    _export(copy, "tem", out, capsys)
    assert not (out / "B001259_0.tem").exists()  # the earlier export's file of a face now rejected: removed

    capsys.readouterr()
    assert jobs_main(["export", str(run), "--format", "tem", "--out", str(out)]) == 2  # another run's export
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "another run" in err


@pytest.mark.parametrize("case", ["not a run", "unknown format", "out is a file", "file not ours"])
def test_bad_input_exits_2_with_one_line(reviewed_run, tmp_path, capsys, case):
    run, _, _ = reviewed_run
    fmt, out = "pts", tmp_path / "out"
    if case == "not a run":
        run = tmp_path  # a folder without a journal
    elif case == "unknown format":
        fmt = "csv"
    elif case == "out is a file":
        out.write_text("x")
    else:
        (out / "sub").mkdir(parents=True)
        (out / "sub" / "B001256_0.pts").write_text("mine")
    capsys.readouterr()
    assert jobs_main(["export", str(run), "--format", fmt, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("morphkit export: error:")
    if case == "unknown format":
        assert all(f in err for f in FORMATS)
    if case == "file not ours":
        assert (out / "sub" / "B001256_0.pts").read_text() == "mine"


def test_file_names_cannot_collide(reviewed_run):
    row = next(iter_records(reviewed_run[0] / "landmarks.csv"))
    faces = [_Face(image, face, row) for image, face in
             (("a.jpg", 0), ("a.jpg", 1), ("a.png", 0), ("a_1.jpg", 0), ("d/a.jpg", 10), ("b.jpg", 2))]
    assert face_file_names(faces, ".pts") == ["a.jpg_0.pts", "a.jpg_1.pts", "a.png_0.pts", "a_1_0.pts",
                                              "d/a_10.pts", "b_2.pts"]
    with pytest.raises(ValueError, match="inside the archive"):
        face_file_names([_Face("../x.jpg", 0, row)], ".pts")


def test_out_may_name_the_file_of_a_single_file_format(reviewed_run, tmp_path, capsys):
    """``--out faces.json`` writes that file (not a folder called faces.json); a file of that name that no export
    of this run wrote is refused; a second file in the same folder leaves the first."""
    run, _, _ = reviewed_run
    out = tmp_path / "exports" / "faces.json"
    assert str(out) in _export(run, "coco", out, capsys)
    assert out.is_file() and json.loads(out.read_text())["annotations"]
    other = tmp_path / "exports" / "again.json"
    _export(run, "coco", other, capsys)
    assert out.is_file() and other.is_file()
    assert str(tmp_path / "exports" / "f.jsonl") in _export(run, "jsonl", tmp_path / "exports" / "f.jsonl", capsys)
    mine = tmp_path / "exports" / "mine.json"
    mine.write_text("{}")
    capsys.readouterr()
    assert jobs_main(["export", str(run), "--format", "coco", "--out", str(mine)]) == 2
    assert mine.read_text() == "{}"
    assert jobs_main(["export", str(run), "--format", "pts", "--out", str(mine)]) == 2  # pts needs a folder
    assert "give a folder" in capsys.readouterr().err
