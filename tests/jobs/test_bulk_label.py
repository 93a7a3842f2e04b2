import csv

import numpy as np
from PIL import Image

from jobs.__main__ import main as jobs_main
from landmarker.io.landmarks_csv import read_landmarks_csv


def _archive(tmp_path, data_dir):
    arch = tmp_path / "archive"
    (arch / "staff" / "senate").mkdir(parents=True)
    for p in (data_dir / "portraits").glob("*.jpg"):
        (arch / "staff" / "senate" / p.name).write_bytes(p.read_bytes())
    Image.new("RGB", (200, 200), (90, 90, 90)).save(arch / "blank wall.png")
    (arch / "notes.jpg").write_text("this is text")
    (arch / "empty.JPG").write_bytes(b"")
    return arch


def _report(out):
    with open(out / "report.csv", newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


def test_bulk_label_reports_every_file_and_goes_on(tmp_path, data_dir, capsys):
    arch = _archive(tmp_path, data_dir)
    out = tmp_path / "out"
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--overlay"]) == 0
    report = _report(out)
    assert report["staff/senate/A000360.jpg"]["status"] == "ok"
    assert report["staff/senate/S000033.jpg"]["faces"] == "1"
    assert report["blank wall.png"]["status"] == "no_face"
    assert report["notes.jpg"]["status"] == "error" and "not an image" in report["notes.jpg"]["message"]
    assert report["empty.JPG"]["status"] == "error" and "empty" in report["empty.JPG"]["message"]
    faces = read_landmarks_csv(out / "landmarks.csv")
    assert set(faces) == {"staff/senate/A000360.jpg", "staff/senate/S000033.jpg"}
    assert (out / "overlays" / "staff" / "senate" / "A000360.jpg.jpg").is_file()
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "5 files, 2 ok, 1 no_face, 2 error, 2 faces" in summary


def test_bulk_label_parallel_equals_serial(tmp_path, data_dir):
    arch = _archive(tmp_path, data_dir)
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "one"), "--n-jobs", "1"]) == 0
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "two"), "--n-jobs", "2"]) == 0
    assert _report(tmp_path / "one") == _report(tmp_path / "two")
    a = read_landmarks_csv(tmp_path / "one" / "landmarks.csv")
    b = read_landmarks_csv(tmp_path / "two" / "landmarks.csv")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k][0].landmarks, b[k][0].landmarks, atol=0.02)


def test_bulk_label_missing_archive_exits_2(tmp_path, capsys):
    assert jobs_main(["bulk-label", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
