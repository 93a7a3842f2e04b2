"""bulk-label resumes: a run killed at any moment, then re-run, reports every file once
with the same faces as a run that was never stopped. The SQLite journal keeps whole chunks
through kills, one run at a time writes into an --out, and the CSV-only folders of the
versions before the journal are imported."""

import csv
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, TESTS_DATA

from jobs.__main__ import main as jobs_main
from jobs.bulk_output import HEADER, JOURNAL, REPORT_HEADER, Journal, OutputError
from landmarker.io.face import Face
from landmarker.io.landmarks_csv import REVIEWED_HEADER, face_row, read_landmarks_csv

pytestmark = [pytest.mark.slow]

DATA = TESTS_DATA
ROOT = REPO_ROOT


def _archive(root: Path, copies: int) -> Path:
    """Portraits (small, one face each) copied ``copies`` times, two group photos and two bad files."""
    arch = root / "archive"
    (arch / "group").mkdir(parents=True)
    for i in range(copies):
        for p in sorted((DATA / "portraits").glob("*.jpg")):
            (arch / f"{p.stem}_{i:02d}.jpg").write_bytes(p.read_bytes())
    for name in ("2008_001009.jpg", "2007_007763.jpg"):
        (arch / "group" / name).write_bytes((DATA / "dlib-faces" / name).read_bytes())
    (arch / "notes.jpg").write_text("this is text")
    (arch / "empty.png").write_bytes(b"")
    return arch


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))[1:]


def _assert_same_result(out: Path, ref: Path, atol: float) -> None:
    """Every file reported exactly once, as in ``ref``; the same faces within ``atol`` px."""
    rows, ref_rows = _rows(out / "report.csv"), _rows(ref / "report.csv")
    names = [r[0] for r in rows]
    assert len(names) == len(set(names)), "a file reported twice"
    assert sorted(rows) == sorted(ref_rows)
    lm_rows = _rows(out / "landmarks.csv")
    keys = [(r[0], r[1]) for r in lm_rows]
    assert len(keys) == len(set(keys)), "a face written twice"
    assert all(len(r) == len(REVIEWED_HEADER) for r in lm_rows), "a torn landmarks row"
    got, want = read_landmarks_csv(out / "landmarks.csv"), read_landmarks_csv(ref / "landmarks.csv")
    assert got.keys() == want.keys()
    for name in want:
        assert len(got[name]) == len(want[name])
        for a, b in zip(got[name], want[name]):
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=atol, err_msg=name)
            np.testing.assert_allclose(a.box, b.box, atol=atol, err_msg=name)


def _cli(arch: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jobs", "bulk-label", str(arch), "--out", str(out), "--n-jobs", "1", *extra]


def _report_lines(out: Path) -> int:
    try:
        return max(0, (out / "report.csv").read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def _run_until_more_rows_then_kill(cmd: list[str], out: Path) -> int:
    """Start ``cmd``, SIGKILL it as soon as report.csv has grown; returns the rows it had then."""
    before = _report_lines(out)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600  # generous: a loaded machine starts slowly
        while _report_lines(out) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return _report_lines(out)


def test_killed_twice_then_resumed_equals_uninterrupted(tmp_path, capsys):
    arch = _archive(tmp_path, copies=11)  # 26 files: 4 chunks of 8
    n_files = 26
    ref, out = tmp_path / "ref", tmp_path / "out"
    subprocess.run(_cli(arch, ref), cwd=ROOT, check=True, capture_output=True)
    seen = []
    for _ in range(2):
        seen.append(_run_until_more_rows_then_kill(_cli(arch, out), out))
    assert 0 < seen[0] < seen[1] < n_files, f"the kills did not land part-way: {seen}"
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--n-jobs", "1"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    resumed = int(re.search(r"\((\d+) done by an earlier run\)", summary).group(1))
    assert seen[1] <= resumed < n_files  # it went on from where the killed run stopped
    _assert_same_result(out, ref, atol=1e-3)
    # a finished run re-run does nothing and changes nothing
    before = ((out / "landmarks.csv").read_bytes(), (out / "report.csv").read_bytes())
    assert jobs_main(["bulk-label", str(arch), "--out", str(out)]) == 0
    assert before == ((out / "landmarks.csv").read_bytes(), (out / "report.csv").read_bytes())


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An archive of 12 files (2 chunks) and a finished, uninterrupted run over it."""
    root = tmp_path_factory.mktemp("resume")
    arch = _archive(root, copies=4)
    assert jobs_main(["bulk-label", str(arch), "--out", str(root / "ref"), "--n-jobs", "1"]) == 0
    return arch, root / "ref"


def _copy(ref: Path, out: Path) -> Path:
    shutil.copytree(ref, out)
    return out


def _tear(path: Path, keep_bytes_of_last_line: int, lines_to_drop: int = 0) -> None:
    """Cut ``path`` after ``lines_to_drop`` whole lines and part of the line before them."""
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    kept = b"".join(lines[: len(lines) - lines_to_drop - 1])
    path.write_bytes(kept + lines[len(lines) - lines_to_drop - 1][:keep_bytes_of_last_line])


def _old_version(out: Path) -> Path:
    """``out`` as a version before the journal left it: the CSV files (and bulk-label.json) only."""
    for p in out.glob(JOURNAL + "*"):
        p.unlink()
    return out


def test_an_old_csv_only_folder_resumes_without_labelling_again(finished, tmp_path, capsys):
    arch, ref = finished
    out = _old_version(_copy(ref, tmp_path / "out"))
    before = ((out / "landmarks.csv").read_bytes(), (out / "report.csv").read_bytes())
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--n-jobs", "1"]) == 0
    assert "(12 done by an earlier run)" in capsys.readouterr().out
    assert before == ((out / "landmarks.csv").read_bytes(), (out / "report.csv").read_bytes())
    assert (out / JOURNAL).is_file()


def test_an_old_folder_with_torn_lines_and_unreported_rows_resumes(finished, tmp_path, capsys):
    arch, ref = finished
    out = _old_version(_copy(ref, tmp_path / "out"))
    # an old version killed while writing: report torn in its 3rd-last row (2 rows never written),
    # landmarks holds rows of those 3 images, its last row torn mid-number
    _tear(out / "report.csv", keep_bytes_of_last_line=9, lines_to_drop=2)
    _tear(out / "landmarks.csv", keep_bytes_of_last_line=300)
    torn = _rows(ref / "report.csv")[-3][0]
    assert _rows(out / "report.csv")[-1][0] != torn  # its row is cut short
    whole = len(_rows(out / "report.csv")) - 1
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--n-jobs", "1"]) == 0
    assert f"({whole} done by an earlier run)" in capsys.readouterr().out
    # re-labelled images may go through the network in another batch: the same within rounding
    _assert_same_result(out, ref, atol=0.011)
    assert torn in {r[0] for r in _rows(out / "report.csv")}


def test_an_old_folder_with_a_row_missing_in_the_middle_labels_it_again(finished, tmp_path):
    arch, ref = finished
    out = _old_version(_copy(ref, tmp_path / "out"))
    lines = (out / "report.csv").read_bytes().splitlines(keepends=True)
    (out / "report.csv").write_bytes(b"".join(lines[:2] + lines[3:]))  # drop the 2nd file's row
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--n-jobs", "1"]) == 0
    _assert_same_result(out, ref, atol=0.011)


def test_restart_starts_over(finished, tmp_path, capsys):
    arch, ref = finished
    out = _copy(ref, tmp_path / "out")
    (out / "report.csv").write_bytes((out / "report.csv").read_bytes() + b"gone.jpg,ok,0,\n")
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--restart"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "earlier run" not in summary
    _assert_same_result(out, ref, atol=1e-3)


@pytest.mark.parametrize("old", [False, True], ids=["journal", "old-csv-only"])
def test_resume_with_other_settings_is_refused(finished, tmp_path, capsys, old):
    arch, ref = finished
    out = _copy(ref, tmp_path / "out")
    if old:
        _old_version(out)  # the settings come from bulk-label.json
    before = (out / "landmarks.csv").read_bytes()
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--detector", "haar"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--restart" in err[0] and "detector" in err[0]
    assert (out / "landmarks.csv").read_bytes() == before


def test_ctrl_c_leaves_whole_csv_files_of_what_was_done(finished, tmp_path, monkeypatch, capsys):
    import jobs.bulk_label

    arch, ref = finished
    calls, label_images = [], jobs.bulk_label.label_images

    def interrupted(chunk, **kwargs):  # Ctrl-C while the second chunk is labelled
        calls.append(chunk)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return label_images(chunk, **kwargs)

    monkeypatch.setattr(jobs.bulk_label, "label_images", interrupted)
    out = tmp_path / "out"
    assert jobs_main(["bulk-label", str(arch), "--out", str(out), "--n-jobs", "1"]) == 130
    assert "interrupted" in capsys.readouterr().err
    first = {name for _, name in calls[0]}
    assert {r[0] for r in _rows(out / "report.csv")} == first  # the first chunk, all of it
    want = {r[0] for r in _rows(ref / "landmarks.csv") if r[0] in first}
    assert {r[0] for r in _rows(out / "landmarks.csv")} == want
    assert all(len(r) == len(REVIEWED_HEADER) for r in _rows(out / "landmarks.csv"))


# --- the journal on hand-made results: kills, locks, imports ---------------------------

def _face(v: float) -> Face:
    return Face((v, v, v + 10, v + 10), 0.5, np.full((68, 2), v, np.float32))


SETTINGS = {"archive": "/photos"}

_WRITER = r"""
import os, signal, sys
import numpy as np
from jobs.bulk_output import Journal
from landmarker.inference.labelling import ImageResult
from landmarker.io.face import Face

def chunk(k, kill_at=None):  # 8 files of 2 faces each
    for i in range(8):
        if i == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # in the middle of the chunk's transaction
        faces = [Face((i, i, i + 10, i + 10), 0.5, np.full((68, 2), v, np.float32)) for v in (k, k + 0.5)]
        yield ImageResult(f"{k:04d}_{i}.jpg", "ok", faces, "", (100, 100))

with Journal(sys.argv[1], {"archive": "/photos"}) as journal:
    print("ready", flush=True)
    k = len(journal.done()) // 8
    if sys.argv[2] == "kill-in-second-chunk":
        journal.add(chunk(k), {})
        journal.add(chunk(k + 1, kill_at=5), {})
    elif sys.argv[2] == "hold":
        sys.stdin.read()
    else:
        while True:  # until killed
            journal.add(chunk(k), {})
            journal.write_csv(final=False)
            k += 1
"""


def _writer(out: Path, what: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out), what], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline() == "ready\n"
    return proc


def _check_whole_chunks(out: Path) -> int:
    """The journal holds whole chunks only, and the CSV files written from it agree; returns its files."""
    with Journal(out, SETTINGS) as journal:
        assert journal._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        done = journal.done()
        journal.write_csv()
    assert len(done) % 8 == 0 and all(d.faces == 2 for d in done.values())
    assert not list(out.glob(".*.tmp"))  # what a kill left of a CSV write is cleared
    assert [r[0] for r in _rows(out / "report.csv")] == list(done)
    lm = _rows(out / "landmarks.csv")
    assert [r[0] for r in lm] == [n for n in done for _ in range(2)] and all(len(r) == len(REVIEWED_HEADER) for r in lm)
    return len(done)


def test_a_kill_during_a_chunk_leaves_the_journal_with_whole_chunks(tmp_path):
    proc = _writer(tmp_path, "kill-in-second-chunk")
    assert proc.wait() == -signal.SIGKILL
    assert _check_whole_chunks(tmp_path) == 8  # the first chunk, none of the second
    seen = [8]
    for _ in range(4):  # and kills at any moment: in a transaction, its commit, a CSV write
        proc = _writer(tmp_path, "loop")
        time.sleep(random.uniform(0.05, 0.4))
        proc.kill()
        proc.wait()
        seen.append(_check_whole_chunks(tmp_path))
    assert seen == sorted(seen) and seen[-1] > 8


def test_two_runs_on_one_out_folder_are_refused(finished, tmp_path, capsys):
    arch, _ = finished
    out = tmp_path / "out"
    out.mkdir()
    holder = _writer(out, "hold")  # another process, as a running bulk-label holds the journal
    try:
        assert jobs_main(["bulk-label", str(arch), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "another bulk-label run is writing there" in err[0]
        with pytest.raises(OutputError, match="another bulk-label run"):
            Journal(out, SETTINGS)
    finally:
        holder.stdin.close()
        assert holder.wait() == 0
    with Journal(out, SETTINGS) as journal:  # released when that run ends
        with pytest.raises(OutputError, match="another bulk-label run"):
            Journal(out, SETTINGS)  # and held against this process's other connections too
        assert journal.done() == {}


def _write(path: Path, header: list[str], rows: list[list], tail: bytes = b"") -> None:
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header] + rows)
    with open(path, "ab") as fh:
        fh.write(tail)


def _import(out: Path) -> dict:
    """Open the journal of ``out`` (importing its old CSV files), write the CSV files; returns the files done."""
    with Journal(out, SETTINGS) as journal:
        journal.write_csv()
        return journal.done()


def test_import_keeps_only_whole_reported_images(tmp_path):
    lm = [face_row("a.jpg", 0, _face(1)), face_row("b.jpg", 0, _face(2)), face_row("b.jpg", 1, _face(3)),
          face_row("c.jpg", 0, _face(4))]
    _write(tmp_path / "landmarks.csv", HEADER, lm, tail=b"d.jpg,0,1.00,2")  # d: written, torn, unreported
    rep = [["a.jpg", "ok", 1, "", 10, 5], ["b.jpg", "ok", 2, "", 11, 5],
           ["n.jpg", "no_face", 0, "no face found", 12, 5],
           ["e.jpg", "error", 0, "two\nlines", "", ""], ["c.jpg", "ok", 2, "", 13, 5]]  # c: 1 of its 2 faces on disk
    _write(tmp_path / "report.csv", REPORT_HEADER, rep, tail=b'f.jpg,error,0,"half a\nmess')  # unclosed quote
    done = _import(tmp_path)
    assert {k: (d.status, d.faces, d.fingerprint) for k, d in done.items()} == {
        "a.jpg": ("ok", 1, (10, 5)), "b.jpg": ("ok", 2, (11, 5)), "n.jpg": ("no_face", 0, (12, 5)),
        "e.jpg": ("error", 0, None)}
    assert [r[0] for r in _rows(tmp_path / "report.csv")] == ["a.jpg", "b.jpg", "n.jpg", "e.jpg"]
    assert _rows(tmp_path / "report.csv")[3][3] == "two\nlines"
    assert [r[:2] for r in _rows(tmp_path / "landmarks.csv")] == [["a.jpg", "0"], ["b.jpg", "0"], ["b.jpg", "1"]]
    assert (tmp_path / "report.csv").read_bytes().endswith(b"\n")
    files = ((tmp_path / "landmarks.csv").read_bytes(), (tmp_path / "report.csv").read_bytes())
    assert _import(tmp_path) == done  # imported once: the journal holds them now
    assert files == ((tmp_path / "landmarks.csv").read_bytes(), (tmp_path / "report.csv").read_bytes())


def test_import_duplicate_and_malformed_report_rows(tmp_path):
    _write(tmp_path / "landmarks.csv", HEADER, [face_row("a.jpg", 0, _face(1))])
    _write(tmp_path / "report.csv", REPORT_HEADER,
           [["a.jpg", "ok", 1, "", 1, 2], ["x.jpg", "maybe", 0, "", 1, 2], [], ["y.jpg", "ok"],
            ["a.jpg", "ok", 1, "", 1, 2]])
    assert list(_import(tmp_path)) == ["a.jpg"]
    assert _rows(tmp_path / "report.csv") == [["a.jpg", "ok", "1", "", "1", "2"]]


@pytest.mark.parametrize("report", [None, b"", b"image,sta"])
def test_import_without_a_whole_report_header_starts_fresh(tmp_path, report):
    _write(tmp_path / "landmarks.csv", HEADER, [face_row("a.jpg", 0, _face(1))])
    if report is not None:
        (tmp_path / "report.csv").write_bytes(report)
    assert _import(tmp_path) == {}
    assert _rows(tmp_path / "landmarks.csv") == [] and _rows(tmp_path / "report.csv") == []


@pytest.mark.parametrize("name", ["report.csv", "landmarks.csv"])
def test_import_refuses_foreign_files(tmp_path, name):
    (tmp_path / name).write_text("name,score\nx,1\n")
    with pytest.raises(OutputError, match="--restart"):
        Journal(tmp_path, SETTINGS)
    Journal(tmp_path, SETTINGS, restart=True).close()  # on purpose: allowed


def test_a_journal_sqlite_cannot_read_is_refused(tmp_path):
    (tmp_path / JOURNAL).write_bytes(b"not a database, but long enough to look like one: " * 4)
    with pytest.raises(OutputError, match="delete it"):
        Journal(tmp_path, SETTINGS)


def test_foreign_out_folder_exits_2(finished, tmp_path, capsys):
    arch, _ = finished
    (tmp_path / "report.csv").write_text("name,score\nx,1\n")
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path)]) == 2
    assert "not written by bulk-label" in capsys.readouterr().err
