"""Issue 18: what a new user met that exited 0 with a wrong result, or said it badly.

Mixed archives in one bulk-label folder, landmarks of other photos of the same
names, private output files, two movies in one folder, Ctrl-C, the distribution
name, and the smaller ones (a file as --out, --n-jobs 0, an unreachable
scheduler, "1 faces", labels no font can draw, an unwritable folder).
"""

import csv
import logging
import os
import stat
import tempfile
from importlib.metadata import distribution
from pathlib import Path

import cv2
import numpy as np
import pytest

import jobs.face_tools
import jobs.morph_movie
import jobs.team_means
import landmarker.inference.parallel
from jobs.__main__ import main as jobs_main
from landmarker.cli import main as landmarker_main
from landmarker.clihelp import DISTRIBUTION
from landmarker.inference.predictor import Landmarker
from landmarker.io.atomic import atomic_path, atomic_write
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import read_landmarks_csv, read_landmarks_table


def _archive(tmp_path: Path, data_dir: Path, name: str = "arch") -> Path:
    arch = tmp_path / name
    arch.mkdir()
    for p in sorted((data_dir / "portraits").glob("*.jpg")):
        (arch / p.name).write_bytes(p.read_bytes())
    return arch


def _collection(tmp_path: Path, data_dir: Path, scale: float = 1.0) -> Path:
    """``coll/g/`` with the two test portraits (scaled), one group ``g``."""
    group = tmp_path / f"coll{scale:g}" / "g"
    group.mkdir(parents=True)
    for p in sorted((data_dir / "portraits").glob("*.jpg")):
        image = cv2.imread(str(p))
        if scale != 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(group / p.name), image)
    return group.parent


def _report(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# 1. bulk-label mixes archives; a photo edited in place is skipped


def test_bulk_label_refuses_the_out_folder_of_another_archive(tmp_path, data_dir, capsys):
    a = _archive(tmp_path, data_dir, "a")
    b = _archive(tmp_path, data_dir, "b")  # the same file names, another archive
    out = tmp_path / "o"
    assert jobs_main(["bulk-label", str(a), "--out", str(out)]) == 0
    before = (out / "landmarks.csv").read_bytes()
    capsys.readouterr()
    assert jobs_main(["bulk-label", str(b), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another archive" in err[0] and str(a.resolve()) in err[0]
    assert (out / "landmarks.csv").read_bytes() == before
    assert jobs_main(["bulk-label", str(b), "--out", str(out), "--restart"]) == 0  # on purpose: allowed


def test_bulk_label_labels_a_photo_changed_since_again(tmp_path, data_dir, capsys):
    arch = _archive(tmp_path, data_dir)
    out = tmp_path / "o"
    assert jobs_main(["bulk-label", str(arch), "--out", str(out)]) == 0
    first = read_landmarks_csv(out / "landmarks.csv")
    edited = arch / "A000360.jpg"  # edited in place: now a mirror image, same name
    cv2.imwrite(str(edited), cv2.flip(cv2.imread(str(edited)), 1))
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 10**9))
    capsys.readouterr()
    assert jobs_main(["bulk-label", str(arch), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "changed since an earlier run" in captured.err and "A000360.jpg" in captured.err
    second = read_landmarks_csv(out / "landmarks.csv")
    want = Landmarker().predict(read_image(edited))[0].landmarks
    np.testing.assert_allclose(second["A000360.jpg"][0].landmarks, want, atol=0.01)
    assert np.abs(second["A000360.jpg"][0].landmarks - first["A000360.jpg"][0].landmarks).max() > 5
    np.testing.assert_array_equal(second["S000033.jpg"][0].landmarks, first["S000033.jpg"][0].landmarks)
    assert len(_report(out / "report.csv")) == 2  # one row per file, not three


# 2. --landmarks of other photos of the same names


def test_landmarks_of_smaller_photos_of_the_same_names_are_not_used(tmp_path, data_dir, capsys):
    small, big = _collection(tmp_path, data_dir), _collection(tmp_path, data_dir, scale=3)
    assert jobs_main(["bulk-label", str(small), "--out", str(tmp_path / "lab")]) == 0
    csv_path = tmp_path / "lab" / "landmarks.csv"
    assert set(read_landmarks_table(csv_path)[1].values()) == {(225, 275)}
    capsys.readouterr()
    assert jobs_main(["team-means", str(big), "--landmarks", str(csv_path), "--out", str(tmp_path / "m"),
                      "--min-faces", "2"]) == 0
    assert "not the images" in capsys.readouterr().err
    rows = _report(tmp_path / "m" / "report.csv")
    assert [r["status"] for r in rows] == ["used", "used"]
    assert all("225x275 image, this photo is 675x825: labelled again" in r["message"] for r in rows)
    mean = cv2.imread(str(tmp_path / "m" / "g.png"))
    assert mean.std() > 20  # a face, not the blank grey of landmarks in the wrong place


def test_old_landmarks_csv_without_sizes_is_checked_against_the_photo(tmp_path, data_dir, capsys):
    big, small = _collection(tmp_path, data_dir, scale=3), _collection(tmp_path, data_dir)
    assert jobs_main(["bulk-label", str(big), "--out", str(tmp_path / "lab")]) == 0
    old = tmp_path / "old.csv"  # as written before the width,height columns
    rows = list(csv.reader(open(tmp_path / "lab" / "landmarks.csv", newline="")))
    with open(old, "w", newline="") as fh:
        csv.writer(fh).writerows(r[:144] for r in rows)
    assert jobs_main(["team-means", str(small), "--landmarks", str(old), "--out", str(tmp_path / "m")]) == 0
    rows = _report(tmp_path / "m" / "report.csv")
    assert all("landmarks outside this 225x275 photo: labelled again" in r["message"] for r in rows)


# 4. private files


def test_outputs_take_the_mode_the_umask_gives(tmp_path, data_dir):
    old = os.umask(0o022)
    try:
        arch = _archive(tmp_path, data_dir)
        assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "o"), "--overlay"]) == 0
        for f in ("landmarks.csv", "report.csv", "bulk-label.json", "overlays/A000360.jpg.jpg"):
            assert stat.S_IMODE((tmp_path / "o" / f).stat().st_mode) == 0o644, f
        os.umask(0o002)
        with atomic_write(tmp_path / "a.txt") as fh:
            fh.write("x")
        with atomic_path(tmp_path / "b.png") as p:
            cv2.imwrite(str(p), np.zeros((4, 4), np.uint8))
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o664
        assert stat.S_IMODE((tmp_path / "b.png").stat().st_mode) == 0o664
    finally:
        os.umask(old)


# 5. two movies in one folder


def test_two_movies_in_one_folder_keep_their_own_reports(tmp_path, data_dir):
    coll = _collection(tmp_path, data_dir)
    out = tmp_path / "movies"
    for name in ("democrats.mp4", "aba.gif"):
        assert jobs_main(["morph-movie", str(coll), "--out", str(out / name), "--fps", "5",
                          "--seconds-per-face", "0.4", "--width", "90", "--height", "110"]) == 0
    for stem, movie in (("democrats", "democrats.mp4"), ("aba", "aba.gif")):
        html = (out / f"{stem}.html").read_text()
        assert movie in html and f"{stem}.faces/" in html
        assert len(list((out / f"{stem}.faces").glob("*.jpg"))) == 2
        assert (out / f"{stem}.report.csv").is_file()
    assert not (out / "index.html").exists()
    # a later job over the folder does not take the thumbnails for photos
    assert jobs_main(["team-means", str(out), "--out", str(tmp_path / "m")]) == 2


# 6. Ctrl-C


@pytest.mark.parametrize("job", ["team-means", "morph-movie", "symmetrize"])
def test_ctrl_c_is_one_line_exit_130_and_leaves_no_half_output(tmp_path, data_dir, monkeypatch, capsys, job):
    coll = _collection(tmp_path, data_dir)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if job == "team-means":
        monkeypatch.setattr(jobs.team_means, "write_shapes", interrupted)  # after the means and report.csv
        out = tmp_path / "means"
        args = ["team-means", str(coll), "--out", str(out)]
    elif job == "symmetrize":
        monkeypatch.setattr(jobs.face_tools, "_write_report", interrupted)  # after the PNGs
        out = tmp_path / "sym"
        args = ["symmetrize", str(coll), "--out", str(out)]
    else:
        monkeypatch.setattr(jobs.morph_movie, "write_video", interrupted)  # after report.csv
        (tmp_path / "movies").mkdir()
        out = tmp_path / "movies" / "m.mp4"
        args = ["morph-movie", str(coll), "--out", str(out), "--fps", "5", "--seconds-per-face", "0.4"]
    capsys.readouterr()
    assert jobs_main(args) == 130
    err = capsys.readouterr().err
    assert f"morphkit {job}: interrupted (none of this run's outputs kept)\n" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    if job in ("team-means", "symmetrize"):
        assert not out.exists()  # the run made the folder: gone whole
    else:
        assert list((tmp_path / "movies").iterdir()) == []  # no m.report.csv for a movie never written


# 7. the distribution name


def test_installed_under_a_name_of_our_own():
    assert DISTRIBUTION not in ("morphkit", "landmarker")  # both names belong to other projects on the registry
    dist = distribution(DISTRIBUTION)
    scripts = {ep.name for ep in dist.entry_points if ep.group == "console_scripts"}
    assert {"morphkit", "landmarker"} <= scripts


# 10. the smaller ones


def test_a_file_where_the_output_folder_goes_is_one_clear_line(tmp_path, data_dir, capsys):
    arch = _archive(tmp_path, data_dir)
    taken = tmp_path / "existing.csv"
    taken.write_text("x")
    assert jobs_main(["bulk-label", str(arch), "--out", str(taken)]) == 2
    assert landmarker_main(["predict", str(arch), "--out", str(taken / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("is a file" in line and "Errno" not in line for line in err), err
    assert taken.read_text() == "x"


def test_an_unwritable_folder_is_named(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.csv.abc.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError, match="cannot write in this folder") as err:
        with atomic_write(tmp_path / "x.csv") as fh:
            fh.write("x")
    assert str(tmp_path) in str(err.value) and ".tmp" not in str(err.value)


def test_n_jobs_0_is_refused_before_anything_runs(tmp_path, data_dir, capsys):
    arch = _archive(tmp_path, data_dir)
    with pytest.raises(SystemExit) as exit_:
        jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "o"), "--n-jobs", "0"])
    assert exit_.value.code == 2 and "--n-jobs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_unreachable_scheduler_leaves_no_folder(tmp_path, data_dir, monkeypatch, capsys):
    pytest.importorskip("distributed")
    monkeypatch.setattr(landmarker.inference.parallel, "CONNECT_TIMEOUT", 1.0)
    arch = _archive(tmp_path, data_dir)
    for args in (["bulk-label", str(arch), "--out", str(tmp_path / "o")],
                 ["team-means", str(_collection(tmp_path, data_dir)), "--out", str(tmp_path / "m")]):
        assert jobs_main([*args, "--scheduler", "tcp://127.0.0.1:9"]) == 2
        assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "m").exists()


def test_one_face_is_one_face(tmp_path, data_dir, capsys):
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.jpg").write_bytes((data_dir / "portraits" / "A000360.jpg").read_bytes())
    assert jobs_main(["bulk-label", str(one), "--out", str(tmp_path / "o")]) == 0
    assert landmarker_main(["predict", str(one), "--out", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert "1 faces" not in out and "1 images" not in out and "1 files" not in out
    assert "1 face," in out and "1 file," in out


def test_a_label_no_font_can_draw_is_warned_about(caplog):
    from morphkit.grid import image_grid

    with caplog.at_level(logging.WARNING, logger="morphkit.grid"):
        image_grid([np.zeros((20, 20, 3), np.uint8)], ["\U0010fffd group"])  # a code point no font has
    assert any("no installed font has" in r.getMessage() for r in caplog.records)


def test_a_manifest_row_naming_no_photo_is_reported(tmp_path, data_dir, capsys):
    coll = _collection(tmp_path, data_dir)
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,party\nA000360.jpg,D\nS000033.jpg,D\nnobody.jpg,R\n")
    assert jobs_main(["team-means", str(coll), "--manifest", str(manifest), "--group-by", "party",
                      "--out", str(tmp_path / "m")]) == 0
    assert "1 row(s) name no image of the collection (line 4: 'nobody.jpg')" in capsys.readouterr().err
    rows = {r["image"]: r for r in _report(tmp_path / "m" / "report.csv")}
    assert rows["nobody.jpg"]["status"] == "skipped" and "no such image" in rows["nobody.jpg"]["message"]
    assert [rows[n]["status"] for n in ("g/A000360.jpg", "g/S000033.jpg")] == ["used", "used"]
