"""morphkit review: the HTTP contract on a bulk-label run of sample_data (--flip-average), corrections
written through to landmarks.csv and kept by restarts and resumed runs, the lock shared with
bulk-label, two tabs saving one face, and the security defaults."""

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, copy_run, label_run, labelled_once
from PIL import Image

from jobs.__main__ import main as jobs_main
from jobs.bulk_output import JOURNAL, Journal, OutputError
from landmarker.io.landmarks_csv import REVIEWED_HEADER, iter_records, read_landmarks_csv

pytest.importorskip("fastapi", reason="morphkit review needs the serve extra (fastapi, uvicorn)")
from fastapi.testclient import TestClient  # noqa: E402

from jobs.review.server import MAX_BODY, THUMB_SIDE, create_app  # noqa: E402
from jobs.review.store import ReviewStore, face_id  # noqa: E402

SAMPLE = REPO_ROOT / "sample_data" / "images"
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """A bulk-label --flip-average run of sample_data (30 portraits), made once."""
    return labelled_once(tmp_path_factory, SAMPLE)


@pytest.fixture
def run(labelled, tmp_path) -> Path:
    """A copy of the run for one test (the archive stays sample_data)."""
    return copy_run(labelled, tmp_path)


def _client(store, **kwargs) -> TestClient:
    return TestClient(create_app(store, **kwargs), base_url=LOCAL)


def _records(run: Path) -> list:
    """The rows of the run's landmarks.csv (:class:`landmarker.io.landmarks_csv.Row`)."""
    return list(iter_records(run / "landmarks.csv"))


def _row(run: Path, image: str, face: int = 0):
    """The row of face number ``face`` of ``image`` in the run's landmarks.csv."""
    return [r for r in _records(run) if r.image == image][face]


def test_the_contract_on_sample_data(run):
    with ReviewStore(run) as store:
        c = _client(store)
        faces = c.get("/api/faces").json()
        assert len(faces) == 30 == len(_records(run))
        fits = [f["fit"] for f in faces]
        assert all(v is not None for v in fits) and fits == sorted(fits, reverse=True)  # worst fit first
        f = faces[0]
        assert set(f) >= {"id", "image", "face", "fit", "reviewed", "box", "landmarks"}
        assert f["id"] == face_id(f["image"], f["face"]) and not f["reviewed"] and len(f["box"]) == 4
        assert np.asarray(f["landmarks"]).shape == (68, 2)
        row = _row(run, f["image"])
        np.testing.assert_allclose(f["landmarks"], row.face.landmarks, atol=0.01)

        moved = np.asarray(f["landmarks"])
        moved[36:42] += (3.5, -2.25)  # the left eye, as a group drag does
        r = c.put(f"/api/faces/{f['id']}", json={"landmarks": moved.tolist()})
        assert r.status_code == 200, r.text
        stored = r.json()
        assert stored["reviewed"] and stored["id"] == f["id"]
        np.testing.assert_allclose(stored["landmarks"], moved, atol=0.01)
        again = {g["id"]: g for g in c.get("/api/faces").json()}[f["id"]]  # listed as stored, same place
        assert again["reviewed"] and [g["id"] for g in c.get("/api/faces").json()][0] == f["id"]
        assert again["landmarks"] == stored["landmarks"]
        row = _row(run, f["image"])  # written through at once
        assert row.reviewed
        np.testing.assert_allclose(row.face.landmarks, moved, atol=0.006)
        others = [r for r in _records(run) if r.image != f["image"]]
        assert len(others) == 29 and not any(r.reviewed for r in others)

        assert c.put("/api/faces/nosuchface-0", json={"landmarks": moved.tolist()}).status_code == 404
        w, h = Image.open(SAMPLE / f["image"]).size
        bad = {
            "67 points": moved[:67].tolist(),
            "3 numbers a point": np.c_[moved, moved[:, :1]].tolist(),
            "outside the image": (moved + (w, 0)).tolist(),
            "negative": (moved - (0, h)).tolist(),
            "text": [["a", "b"]] * 68,
            "not a list": "68 points",
        }
        for why, value in bad.items():
            r = c.put(f"/api/faces/{f['id']}", json={"landmarks": value})
            assert r.status_code == 422, why
        for body in (b'{"landmarks": ' + json.dumps(moved.tolist()).replace("3", "NaN", 1).encode() + b"}",
                     b"[1, 2]", b"not json", json.dumps({"landmarks": moved.tolist(), "more": 1}).encode()):
            r = c.put(f"/api/faces/{f['id']}", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, body[:40]
        row = _row(run, f["image"])  # refused bodies changed nothing
        np.testing.assert_allclose(row.face.landmarks, moved, atol=0.006)

        r = c.get(f"/api/faces/{f['id']}/image")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(r.content)).size == (w, h) == tuple(f["size"])
        r = c.get(f"/api/faces/{f['id']}/thumb")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        l, t, rr, b = f["crop"]
        tw, th = Image.open(io.BytesIO(r.content)).size  # the crop, shrunk to THUMB_SIDE at most
        assert max(tw, th) == min(THUMB_SIDE, max(rr - l, b - t)) and abs(tw / th - (rr - l) / (b - t)) < 0.02
        assert c.get("/api/faces/nosuchface-0/image").status_code == 404
        for path in ("/api/faces/..%2F..%2F..%2Fetc%2Fpasswd/image", "/api/faces/../../etc/passwd/image",
                     "/static/..%2Fstore.py", "/static/../store.py", "/static/", "/static/index.html", "/api",
                     "/api/faces/" + f["image"] + "/image", "/docs", "/openapi.json"):
            r = c.get(path)
            assert r.status_code in (404, 405) and b"import" not in r.content and b"root:" not in r.content, path
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200


def test_a_correction_survives_a_restart_and_resumed_or_restarted_runs(run):
    with ReviewStore(run) as store:
        f = store.faces()[3]
        moved = f.landmarks + (1.0, 2.0)
        store.save(f.id, moved.tolist())
    with ReviewStore(run) as store:  # a new server
        again = store.get(f.id)
        assert again.reviewed
        np.testing.assert_allclose(again.landmarks, moved, atol=0.006)
    before = (run / "landmarks.csv").read_bytes()
    (run / "landmarks.csv").unlink()  # a crash after the journal's commit: the next opening writes it
    with ReviewStore(run):
        pass
    assert (run / "landmarks.csv").read_bytes() == before
    for restart in (False, True):  # a resumed run, and one started over, keep the correction
        r = label_run(SAMPLE, run, restart=restart)
        assert r.files == 30 and r.resumed == (0 if restart else 30)
        row = _row(run, f.image, f.face)
        assert row.reviewed, restart
        np.testing.assert_allclose(row.face.landmarks, moved, atol=0.006)
    assert sum(r.reviewed for r in _records(run)) == 1
    (run / JOURNAL).unlink()  # the journal lost: the CSV files are taken over, the reviewed marks with them
    label_run(SAMPLE, run)
    with ReviewStore(run) as store:
        assert [g.id for g in store.faces() if g.reviewed] == [f.id]
        np.testing.assert_allclose(store.get(f.id).landmarks, moved, atol=0.006)
    # every reader of landmarks.csv reads the file with its reviewed column
    assert len(read_landmarks_csv(run / "landmarks.csv")) == 30
    with open(run / "landmarks.csv", newline="") as fh:
        assert next(csv.reader(fh)) == REVIEWED_HEADER


def test_a_csv_that_cannot_be_written_is_a_500_and_the_next_opening_writes_it(run, monkeypatch):
    with ReviewStore(run) as store:
        c = _client(store)
        f = c.get("/api/faces").json()[0]
        moved = (np.asarray(f["landmarks"]) + 1.5).tolist()

        def full_disk(**kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store._journal, "write_csv", full_disk)
        r = c.put(f"/api/faces/{f['id']}", json={"landmarks": moved})
        assert r.status_code == 500 and "No space left" in r.json()["detail"] and "the correction is in" in r.text
        assert not _row(run, f["image"]).reviewed
    with ReviewStore(run) as store:  # the journal kept it: landmarks.csv is written on opening
        assert store.get(f["id"]).reviewed
    np.testing.assert_allclose(_row(run, f["image"]).face.landmarks, moved, atol=0.006)


def test_review_and_bulk_label_refuse_each_other(run):
    settings = json.loads((run / "bulk-label.json").read_text())
    with Journal(run, settings):  # a bulk-label run in progress
        with pytest.raises(OutputError, match="another bulk-label run is writing there"):
            ReviewStore(run)
    with ReviewStore(run):
        with pytest.raises(OutputError, match="morphkit review has it open"):
            label_run(SAMPLE, run)
    with pytest.raises(OutputError, match="not the output folder of a bulk-label run"):
        ReviewStore(run / "nothing")


def test_two_tabs_saving_one_face_leave_whole_files(run):
    with ReviewStore(run) as store:
        c = _client(store)
        f = c.get("/api/faces").json()[5]
        versions = [(np.asarray(f["landmarks"]) + k).tolist() for k in range(8)]
        codes = []

        def tab(v):
            codes.append(c.put(f"/api/faces/{f['id']}", json={"landmarks": v}).status_code)

        threads = [threading.Thread(target=tab, args=(v,)) for v in versions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200] * 8
        final = c.get("/api/faces").json()
        last = {g["id"]: g for g in final}[f["id"]]["landmarks"]
    rows = _records(run)
    assert len(rows) == 30
    row = next(r for r in rows if r.image == f["image"])
    np.testing.assert_allclose(row.face.landmarks, last, atol=0.006)  # the file and the server agree
    assert any(np.allclose(last, v, atol=0.006) for v in versions)  # one tab's points, whole
    with sqlite3.connect(run / JOURNAL) as db:
        assert db.execute("SELECT COUNT(*) FROM edits").fetchone() == (8,)  # every save journalled


def test_security_defaults(run):
    with ReviewStore(run) as store:
        f = store.faces()[0]
        c = _client(store)
        assert c.get("/api/faces").status_code == 200
        # a page elsewhere reaching the loopback server by DNS rebinding: another Host
        assert TestClient(create_app(store), base_url="http://evil.example:8765").get("/api/faces").status_code == 403
        big = b'{"landmarks": [' + b"0," * MAX_BODY + b"0]}"
        r = c.put(f"/api/faces/{f.id}", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        t = TestClient(create_app(store, token="s3cret", loopback_only=False), base_url="http://192.0.2.7:8765")
        assert t.get("/api/faces").status_code == 403
        assert t.get("/api/faces", headers={"X-Review-Token": "wrong"}).status_code == 403
        assert t.get("/api/faces", headers={"X-Review-Token": "s3cret"}).status_code == 200
        assert t.get(f"/api/faces/{f.id}/image?token=s3cret").status_code == 200
        assert t.put(f"/api/faces/{f.id}", json={"landmarks": f.landmarks.tolist()}).status_code == 403
        assert t.get("/").status_code == 200  # the page itself holds no data


def test_cli_errors_are_one_line(run, tmp_path, capsys, monkeypatch):
    assert jobs_main(["review", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not the output folder of a bulk-label run" in err[0]
    monkeypatch.setitem(sys.modules, "fastapi", None)  # the serve extra not installed
    assert jobs_main(["review", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'morphkit-faces[serve]'" in err[0]


@pytest.mark.slow
def test_the_command_prints_its_url_serves_and_stops_on_ctrl_c(run):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "jobs", "review", str(run), "--port", "0"], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("morphkit review: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/faces", timeout=30) as r:
            faces = json.loads(r.read())
        assert len(faces) == 30
        code = ("import sys; import jobs.review.server, jobs.review.store; print('torch' in sys.modules)")
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT,
                              check=True).stdout.strip() == "False"  # the review path never imports torch
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert "stopped; 0 reviewed faces, every save in" in proc.stderr.read()  # says where the work is
    with ReviewStore(run):  # the lock went with the process
        pass


def test_jobs_given_the_run_use_the_corrections_and_link_to_the_review_page(run, tmp_path):
    from jobs.collection import attach_landmarks, load_collection
    from jobs.html_report import REVIEW_URL, write_report
    from landmarker.io.datasets import DatasetError, load_dataset

    with ReviewStore(run) as store:
        f = store.faces()[0]
        corrected = f.landmarks + (2.0, -1.5)
        store.save(f.id, corrected.tolist())
    portraits = attach_landmarks(load_collection([SAMPLE]), run / "landmarks.csv")
    p = next(p for p in portraits if p.name == f.image)
    np.testing.assert_allclose(p.landmarks, corrected, atol=0.006)
    assert p.extra["review"] == (str(run), f.id)
    for q in portraits[:3]:
        q.group = "g"
    p.group = "g"
    html = write_report(tmp_path / "report" / "index.html", "t", "s", portraits).read_text()
    assert f'href="{REVIEW_URL}#face={f.id}"' in html and f"morphkit review {run}" in html

    # the training data: a run's landmarks.csv, images in its archive; --reviewed-only: the corrected face
    every = load_dataset(f"landmarks-csv:{run / 'landmarks.csv'}")
    assert len(every) == 30 and all(s.image_path.parent == SAMPLE for s in every)
    (reviewed,) = load_dataset(f"landmarks-csv:{run / 'landmarks.csv'}", reviewed_only=True)
    assert reviewed.image_path == SAMPLE / f.image
    np.testing.assert_allclose(reviewed.landmarks, corrected, atol=0.006)
    with pytest.raises(DatasetError, match="only landmarks-csv"):
        load_dataset(f"pts:{SAMPLE}", reviewed_only=True)


@pytest.mark.slow
@pytest.mark.train
def test_landmarker_train_fine_tunes_on_the_reviewed_faces_only(run, tmp_path, capsys):
    pytest.importorskip("torch", reason="training needs the train extra")
    from landmarker.cli import main as landmarker_main
    from landmarker.model.card import SHIPPED_WEIGHTS

    data = f"landmarks-csv:{run / 'landmarks.csv'}"
    args = ["train", "--data", data, "--reviewed-only", "--val", data, "--init", str(SHIPPED_WEIGHTS),
            "--head", "pca", "--pca-components", "48", "--img-size", "32", "--batch-size", "2", "--epochs", "1",
            "--detector", "none", "--loss", "wing", "--lr", "1e-5"]
    assert landmarker_main(args + ["--out", str(tmp_path / "none")]) == 2  # nothing reviewed yet
    assert "no face marked reviewed" in capsys.readouterr().err
    with ReviewStore(run) as store:
        for f in store.faces()[:2]:
            store.save(f.id, (f.landmarks + 1.0).tolist())
    assert landmarker_main(args + ["--out", str(tmp_path / "ft")]) == 0
    err = capsys.readouterr().err
    assert "train faces 2, val faces 30" in err and "kept (2 training faces are too few to refit them)" in err
    assert (tmp_path / "ft" / "best.safetensors").is_file()


def test_a_thumbnail_of_a_large_jpeg_is_decoded_reduced_and_shows_its_crop(tmp_path, monkeypatch):
    import cv2

    from jobs.review.server import _Images
    from landmarker.io import decode

    h, w = 1800, 2400
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    full = np.stack([xx * 255 / w, yy * 255 / h, 127 + 100 * np.sin(xx / 90) * np.cos(yy / 70)], -1).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(full).save(path, quality=95)
    full = decode.read_image(path)
    scales, reduced = [], decode.read_image_reduced

    def spy(*args, **kwargs):
        out = reduced(*args, **kwargs)
        scales.append(out.scale)
        return out

    monkeypatch.setattr(decode, "read_image_reduced", spy)
    crop = (600, 300, 1800, 1500)  # 1200 px: a reduction by 4 still leaves 300 px >= THUMB_SIDE
    thumb = np.asarray(Image.open(io.BytesIO(_Images().thumb(path, crop, (w, h)))).convert("RGB"), np.float64)
    assert scales == [4] and thumb.shape == (THUMB_SIDE, THUMB_SIDE, 3)
    want = cv2.resize(full[300:1500, 600:1800], (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)
    assert np.abs(thumb - want).mean() < 1.5  # the same part of the photo (8 px off: 1.9), as sharp
    small = np.asarray(Image.open(io.BytesIO(_Images().thumb(path, (1100, 800, 1250, 950), (w, h)))))
    assert scales == [4, 1] and small.shape == (150, 150, 3)  # a crop under THUMB_SIDE: decoded in full
