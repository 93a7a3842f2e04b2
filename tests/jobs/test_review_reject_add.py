"""Issue 28, part 4: false faces can be rejected ("not a face") and restored, faces the detector missed
can be added (a box drawn, the model's points in it), through the review API; both are kept in the
journal and survive a server restart, a resumed bulk-label and --restart; rejected faces leave
landmarks.csv, the jobs and training. And ``bulk-label --min-score``."""

import csv
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, copy_run, label_run, labelled_once

from jobs.__main__ import main as jobs_main
from jobs.bulk_label import bulk_label
from jobs.bulk_output import JOURNAL, Journal
from landmarker.inference.labelling import ImageResult
from landmarker.io.datasets import load_landmarks_csv
from landmarker.io.face import Face
from landmarker.io.landmarks_csv import iter_records

pytest.importorskip("fastapi", reason="morphkit review needs the serve extra (fastapi, uvicorn)")
from fastapi.testclient import TestClient  # noqa: E402

from jobs.review.server import create_app  # noqa: E402
from jobs.review.store import ReviewStore, face_id  # noqa: E402

SAMPLE = REPO_ROOT / "sample_data" / "images"
PHOTOS = ("B001242.jpg", "B001256.jpg", "B001259.jpg")
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Three sample portraits and a file that is not an image."""
    arch = tmp_path_factory.mktemp("arch") / "photos"
    arch.mkdir()
    for name in PHOTOS:
        shutil.copy(SAMPLE / name, arch / name)
    (arch / "notes.jpg").write_text("not an image")
    return arch


@pytest.fixture(scope="module")
def labelled(archive, tmp_path_factory) -> Path:
    return labelled_once(tmp_path_factory, archive)


@pytest.fixture
def run(labelled, tmp_path) -> Path:
    return copy_run(labelled, tmp_path)


def _client(store) -> TestClient:
    return TestClient(create_app(store), base_url=LOCAL)


def _rows(run: Path) -> list:
    return list(iter_records(run / "landmarks.csv"))


def _report(path: Path) -> dict:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


def test_get_one_face_for_scripts(run):
    with ReviewStore(run) as store:
        c = _client(store)
        listed = c.get("/api/faces").json()
        assert [f["rejected"] for f in listed] == [False] * 3
        one = c.get(f"/api/faces/{listed[1]['id']}")
        assert one.status_code == 200 and one.json() == listed[1]
        assert listed[1]["score"] is not None  # the detector's score is given
        assert c.get("/api/faces/nosuchface-0").status_code == 404


def test_reject_leaves_every_file_and_restore_undoes_it(run):
    before = (run / "landmarks.csv").read_bytes()
    with ReviewStore(run) as store:
        c = _client(store)
        f = c.get("/api/faces").json()[0]
        r = c.delete(f"/api/faces/{f['id']}")
        assert r.status_code == 200 and r.json()["rejected"] and r.json()["id"] == f["id"]
        assert f["id"] not in [g["id"] for g in c.get("/api/faces").json()]
        everything = c.get("/api/faces?rejected=1").json()
        assert len(everything) == 3 and [g["rejected"] for g in everything if g["id"] == f["id"]] == [True]
        assert c.get(f"/api/faces/{f['id']}").json()["rejected"]
        assert f["image"] not in {row.image for row in _rows(run)} and len(_rows(run)) == 2
        assert c.delete(f"/api/faces/{f['id']}").status_code == 200  # again: no change
        assert c.delete("/api/faces/nosuchface-0").status_code == 404
        assert c.post("/api/faces/nosuchface-0/restore").status_code == 404

        r = c.post(f"/api/faces/{f['id']}/restore")
        assert r.status_code == 200 and not r.json()["rejected"]
        assert (run / "landmarks.csv").read_bytes() == before
    with sqlite3.connect(run / JOURNAL) as db:
        assert [a for (a,) in db.execute("SELECT action FROM actions ORDER BY seq")] == ["reject", "restore"]


def test_a_rejected_face_is_left_out_of_team_means_and_training(run, archive, tmp_path):
    with ReviewStore(run) as store:
        f = store.faces()[0]
        store.reject(f.id)
    assert jobs_main(["team-means", str(archive), "--landmarks", str(run / "landmarks.csv"),
                      "--min-faces", "1", "--out", str(tmp_path / "means")]) == 0
    report = _report(tmp_path / "means" / "report.csv")
    assert report[f.image]["status"] == "skipped" and report[f.image]["message"] == "no row in the landmarks CSV"
    assert sorted(n for n, row in report.items() if row["status"] == "used") == sorted(set(PHOTOS) - {f.image})
    samples = load_landmarks_csv(run / "landmarks.csv")
    assert sorted(s.image_path.name for s in samples) == sorted(set(PHOTOS) - {f.image})


def test_rejected_and_added_faces_survive_restarts_resumes_and_restart(run, archive):
    with ReviewStore(run) as store:
        c = _client(store)
        faces = c.get("/api/faces").json()
        gone, host = faces[0], faces[1]
        assert c.delete(f"/api/faces/{gone['id']}").status_code == 200
        l, t, r, b = host["box"]
        added = c.post("/api/faces", json={"image": host["image"], "box": [l + 4, t + 4, r + 4, b + 4]})
        assert added.status_code == 201, added.text
        added = added.json()
        assert added["face"] == 1 and added["score"] is None and not added["reviewed"] and not added["rejected"]
        pts = np.asarray(added["landmarks"])
        assert np.abs(pts - np.asarray(host["landmarks"])).mean() < 6  # the model's points, on that face

    def check():
        rows = _rows(run)
        assert gone["image"] not in {row.image for row in rows}
        mine = [row for row in rows if row.image == host["image"]]
        assert len(mine) == 2 and np.allclose(mine[1].face.landmarks, pts, atol=0.01)
        assert np.isnan(mine[1].face.score)

    check()
    with ReviewStore(run) as store:  # a server restart
        assert store.get(gone["id"]).rejected and store.get(added["id"]) is not None
        assert gone["id"] not in [f.id for f in store.faces()]
    label_run(archive, run)  # resumed
    check()
    label_run(archive, run, restart=True)
    check()
    with ReviewStore(run) as store:
        store.restore(gone["id"])
    assert len(_rows(run)) == 4


def test_add_a_face_the_detector_missed_then_correct_it(archive, tmp_path, capsys):
    out = tmp_path / "run"  # --min-score above every face: the detector "missed" them all
    assert jobs_main(["bulk-label", str(archive), "--out", str(out), "--min-score", "9"]) == 0
    assert "3 faces under --min-score dropped" in capsys.readouterr().out
    assert _rows(out) == []
    report = _report(out / "report.csv")
    assert report["B001242.jpg"]["status"] == "no_face" and "under --min-score 9" in report["B001242.jpg"]["message"]
    with ReviewStore(out) as store:
        c = _client(store)
        assert c.get("/api/faces").json() == []
        images = {i["image"]: i for i in c.get("/api/images").json()}
        assert images["B001242.jpg"]["status"] == "no_face" and images["B001242.jpg"]["faces"] == 0
        assert c.get(f"/api/images/{images['B001242.jpg']['id']}").headers["content-type"] == "image/jpeg"
        assert c.get("/api/images/nosuchimage").status_code == 404
        r = c.post("/api/faces", json={"image": "B001242.jpg", "box": [60, 90, 170, 200]})
        assert r.status_code == 201, r.text
        face = r.json()
        assert face["id"] == face_id("B001242.jpg", 0) and not face["reviewed"]
        rows = _rows(out)
        assert len(rows) == 1 and rows[0].image == "B001242.jpg" and rows[0].face.box == (60, 90, 170, 200)
        pts = np.asarray(face["landmarks"])
        assert 60 < pts[30, 0] < 170 and 90 < pts[30, 1] < 200  # the nose tip inside the box
        moved = pts.copy()
        moved[30] += (2, 1)
        assert c.put(f"/api/faces/{face['id']}", json={"landmarks": moved.tolist()}).status_code == 200
        assert _rows(out)[0].reviewed

        bad = {"too small": [60, 90, 64, 200], "inverted": [170, 90, 60, 200], "outside": [500, 500, 700, 700],
               "3 numbers": [1, 2, 3], "text": ["a", 1, 2, 3], "not a list": "box", "bool": [True, 1, 50, 50]}
        for why, box in bad.items():
            assert c.post("/api/faces", json={"image": "B001256.jpg", "box": box}).status_code == 422, why
        assert c.post("/api/faces", json={"image": "B001256.jpg"}).status_code == 422
        assert c.post("/api/faces", json={"image": 3, "box": [60, 90, 170, 200]}).status_code == 422
        r = c.post("/api/faces", json={"image": "nosuch.jpg", "box": [60, 90, 170, 200]})
        assert r.status_code == 404 and "nosuch.jpg" in r.json()["detail"]
        r = c.post("/api/faces", json={"image": "../photos/B001256.jpg", "box": [60, 90, 170, 200]})
        assert r.status_code == 404
        r = c.post("/api/faces", json={"image": "notes.jpg", "box": [60, 90, 170, 200]})  # an error of the run
        assert r.status_code == 409 and "notes.jpg" in r.json()["detail"]
        assert len(_rows(out)) == 1


def test_min_score_drops_only_faces_under_it_and_is_part_of_the_settings(archive, tmp_path):
    out = tmp_path / "run"
    r = bulk_label(archive, out, n_jobs=1, progress=False, min_score=-5)
    assert r.faces == 3 and r.dropped == 0 and len(_rows(out)) == 3
    with pytest.raises(ValueError, match="min_score"):
        bulk_label(archive, out, n_jobs=1, progress=False, min_score=0.5)


def test_an_added_face_moves_when_the_detector_takes_its_number(labelled, tmp_path):
    run = copy_run(labelled, tmp_path)
    rows = {row.image: row for row in _rows(run)}
    with Journal(run, None) as journal:
        number, _ = journal.add_face("B001242.jpg", ["B001242.jpg", "0", *["1"] * 5, *["50"] * 136, "", "225",
                                                     "275", ""])
        assert number == 1
        journal.reject("B001242.jpg", 1)
        face = rows["B001242.jpg"].face
        journal.add([ImageResult("B001242.jpg", "ok", [face, Face(face.box, 0.5, face.landmarks)], "", (225, 275))],
                    {})
        faces = [(f, rejected) for _, f, _, rejected in journal.faces(["B001242.jpg"])]
    assert faces == [(0, False), (1, False), (2, True)]  # the added face is 2 now, still rejected


def test_team_means_links_the_face_it_used_by_its_number(run, archive):
    from jobs.collection import Portrait, attach_landmarks

    with ReviewStore(run) as store:
        f = store.faces()[0]
        added = store.add(f.image, [float(v) for v in f.box])
        store.reject(f.id)
    p = Portrait(path=archive / f.image, name=f.image, group="g")
    attach_landmarks([p], run / "landmarks.csv")
    assert p.extra["review"][1] == added.id == face_id(f.image, 1)
