"""Issue 18: the face tools (transform, caricature, continuum, symmetrize) for a new user.

Folders as inputs, --n-jobs with identical outputs, symmetrize's size, readable names for
negative percentages, --mask-color without --mask refused, group photos reported.
"""

import csv
import re
import shutil
import threading

from PIL import Image

from jobs.__main__ import main as jobs_main

PORTRAITS = ("A000360.jpg", "S000033.jpg")


def _report(folder):
    with open(folder / "report.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _folder_of_faces(root, data_dir):
    """root/a/x.jpg, root/b/x.jpg (two portraits of the same name), root/b/c/y.jpg, root/b/bad.jpg, root/empty/."""
    portraits = data_dir / "portraits"
    (root / "a").mkdir(parents=True)
    (root / "b" / "c").mkdir(parents=True)
    (root / "empty").mkdir()
    shutil.copy(portraits / PORTRAITS[0], root / "a" / "x.jpg")
    shutil.copy(portraits / PORTRAITS[1], root / "b" / "x.jpg")
    shutil.copy(portraits / PORTRAITS[0], root / "b" / "c" / "y.jpg")
    (root / "b" / "bad.jpg").write_bytes(b"not a jpeg")
    return root


def test_face_tools_take_folders_walked_recursively_with_unique_names(tmp_path, data_dir):
    photos = _folder_of_faces(tmp_path / "photos", data_dir)
    out = photos / "sym"  # inside the folder given: must not be taken as input on a second run
    assert jobs_main(["symmetrize", str(photos), str(tmp_path / "empty-too"), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["x-symmetric-both-2.png", "x-symmetric-both.png", "y-symmetric-both.png"]
    rows = _report(out)
    by_output = {r["output"]: r["input"] for r in rows if r["status"] == "ok"}
    assert by_output["x-symmetric-both.png"].endswith("a/x.jpg")  # walk order: a/ before b/
    assert by_output["x-symmetric-both-2.png"].endswith("b/x.jpg")
    skipped = {r["input"]: r["message"] for r in rows if r["status"] == "skipped"}
    assert any(k.endswith("bad.jpg") for k in skipped)  # unreadable file: reported, the batch goes on
    assert skipped[str(tmp_path / "empty-too")] == "no such file or folder"
    assert jobs_main(["symmetrize", str(photos), "--out", str(out)]) == 0  # again: its own outputs are skipped
    assert sorted(p.name for p in out.glob("*.png")) == names


def test_n_jobs_1_and_2_give_identical_outputs_and_2_warps_on_worker_threads(tmp_path, data_dir, monkeypatch):
    import jobs.face_tools as face_tools

    photos = _folder_of_faces(tmp_path / "photos", data_dir)
    threads = set()
    real = face_tools.symmetrize

    def spy(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(face_tools, "symmetrize", spy)
    outs = {}
    for n in ("1", "2"):
        threads.clear()
        outs[n] = tmp_path / f"out{n}"
        assert jobs_main(["symmetrize", str(photos), "--out", str(outs[n]), "--n-jobs", n, "--mask", "oval"]) == 0
        if n == "2":
            assert threads and all(t.startswith("worker") for t in threads), threads
        else:
            assert threads == {threading.main_thread().name}
    files = sorted(p.name for p in outs["1"].iterdir())
    assert files == sorted(p.name for p in outs["2"].iterdir()) and len(files) == 5  # 3 PNG, report, marker
    for name in files:
        assert (outs["1"] / name).read_bytes() == (outs["2"] / name).read_bytes(), name


def test_symmetrize_keeps_the_photo_size_by_default_and_takes_width_and_height(tmp_path, data_dir, capsys):
    face = str(data_dir / "dlib-faces" / "2009_004587.jpg")  # 400 x 500
    assert jobs_main(["symmetrize", face, "--out", str(tmp_path / "keep")]) == 0
    with Image.open(tmp_path / "keep" / "2009_004587-symmetric-both.png") as im:
        assert im.size == (400, 500)
    assert jobs_main(["symmetrize", face, "--out", str(tmp_path / "fixed"), "--width", "300", "--height", "360"]) == 0
    with Image.open(tmp_path / "fixed" / "2009_004587-symmetric-both.png") as im:
        assert im.size == (300, 360)
    capsys.readouterr()
    assert jobs_main(["symmetrize", face, "--out", str(tmp_path / "small"), "--width", "8", "--height", "360"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--width 8: must be 16 pixels or more" in err and len(err.splitlines()) == 1
    assert jobs_main(["symmetrize", face, "--out", str(tmp_path / "half"), "--width", "300"]) == 2
    assert "--height" in capsys.readouterr().err
    assert not (tmp_path / "small").exists() and not (tmp_path / "half").exists()


def test_negative_percentages_give_readable_file_names(tmp_path, data_dir):
    face, mean = (str(data_dir / "portraits" / p) for p in PORTRAITS)
    assert jobs_main(["caricature", face, "--mean", mean, "--shape", "-50", "--out", str(tmp_path / "k")]) == 0
    assert [p.name for p in (tmp_path / "k").glob("*.png")] == ["A000360-caricature-m50.png"]


def test_mask_color_without_mask_is_refused_in_one_line(tmp_path, data_dir, capsys):
    face = str(data_dir / "portraits" / PORTRAITS[0])
    assert jobs_main(["symmetrize", face, "--mask-color", "black", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--mask-color black" in err and "--mask" in err.split("black", 1)[1]
    assert not (tmp_path / "s").exists()


def test_group_photo_says_the_largest_face_was_used(tmp_path, data_dir, capsys):
    group = data_dir / "dlib-faces" / "2008_002470.jpg"  # several people
    assert jobs_main(["symmetrize", str(group), "--out", str(tmp_path / "s")]) == 0
    said = re.search(r"2008_002470\.jpg: (\d+) faces, used the largest", capsys.readouterr().err)
    assert said and int(said.group(1)) > 1
    (row,) = _report(tmp_path / "s")
    assert row["status"] == "ok" and row["message"] == f"{said.group(1)} faces, used the largest"


def test_a_file_reached_twice_is_made_once(tmp_path, data_dir):
    """The same folder (or file) given twice gives one output per photo, not a '-2' copy of each."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((data_dir / "portraits" / "A000360.jpg").read_bytes())
    out = tmp_path / "sym"
    assert jobs_main(["symmetrize", str(folder), str(folder), str(folder / "a.jpg"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a-symmetric-both.png"]
