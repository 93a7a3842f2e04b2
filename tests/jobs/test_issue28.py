"""Issue 28: landmarks of other photos of the same size (the sha1 column), the face cut off by the
frame, the review editor moving untouched points, stale outputs (landmarks.xml after a review, old
group PNGs), and the smaller ones (a file given to bulk-label, grayscale among colour, RGB at the
call, the licence form of pyproject.toml)."""

import csv
import hashlib
import json
import logging
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomllib
from helpers import REPO_ROOT

import jobs.collection
from jobs.__main__ import main as jobs_main
from jobs.bulk_label import bulk_label
from landmarker.inference.labelling import ImageResult, faces_for_boxes, label_images
from landmarker.inference.predictor import Landmarker
from landmarker.io.datasets import load_landmarks_csv
from landmarker.io.decode import read_image
from landmarker.io.face import Face
from landmarker.io.landmarks_csv import HEADER, REVIEWED_HEADER, face_row, iter_records

PORTRAITS = ("A000360.jpg", "S000033.jpg")


def _report(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _group(tmp_path: Path, data_dir: Path, name: str = "P") -> Path:
    """``name/g/`` holding the two test portraits (225x275 each); returns ``name``."""
    group = tmp_path / name / "g"
    group.mkdir(parents=True)
    for p in PORTRAITS:
        shutil.copy(data_dir / "portraits" / p, group / p)
    return group.parent


def _swap(folder: Path) -> None:
    """Give each of the two portraits the other's bytes: other people's photos of the same size and names."""
    a, b = (folder / p for p in PORTRAITS)
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)


# 1. landmarks of other photos of the same size


def test_landmarks_csv_records_each_photos_sha1_in_the_design_order(tmp_path, data_dir):
    photos = _group(tmp_path, data_dir)
    bulk_label(photos, tmp_path / "lab", n_jobs=1, progress=False)
    with open(tmp_path / "lab" / "landmarks.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[-5:] == ["fit", "width", "height", "sha1", "reviewed"] and header == REVIEWED_HEADER
    assert HEADER[-4:] == ["fit", "width", "height", "sha1"]
    records = list(iter_records(tmp_path / "lab" / "landmarks.csv"))
    assert len(records) == 2
    for r in records:
        assert r.sha1 == hashlib.sha1((photos / r.image).read_bytes()).hexdigest()


def test_team_means_and_morph_movie_relabel_photos_replaced_by_others_of_the_same_size(tmp_path, data_dir, capsys):
    photos = _group(tmp_path, data_dir)
    assert jobs_main(["bulk-label", str(photos), "--out", str(tmp_path / "lab")]) == 0
    labels = tmp_path / "lab" / "landmarks.csv"
    _swap(photos / "g")
    capsys.readouterr()
    assert jobs_main(["team-means", str(photos), "--landmarks", str(labels), "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert sum("not the images" in line for line in err.splitlines()) == 1
    rows = _report(tmp_path / "m" / "report.csv")
    assert [r["status"] for r in rows] == ["used", "used"]
    assert all("changed since it was labelled (sha1" in r["message"] and "labelled again" in r["message"]
               for r in rows), rows
    movie = tmp_path / "mv" / "m.gif"
    assert jobs_main(["morph-movie", str(photos / "g" / PORTRAITS[0]), str(photos / "g" / PORTRAITS[1]),
                      "--landmarks", str(labels), "--out", str(movie), "--width", "90", "--fps", "4",
                      "--seconds-per-face", "0.5"]) == 0
    rows = _report(movie.with_suffix(".report.csv"))
    assert rows and all("labelled again" in r["message"] for r in rows), rows


def test_a_second_folder_of_other_people_with_the_same_names_is_relabelled(tmp_path, data_dir, capsys):
    photos = _group(tmp_path, data_dir)
    bulk_label(photos, tmp_path / "lab", n_jobs=1, progress=False)
    other = _group(tmp_path, data_dir, "Q")
    _swap(other / "g")
    assert jobs_main(["team-means", str(other), "--landmarks", str(tmp_path / "lab" / "landmarks.csv"),
                      "--out", str(tmp_path / "m")]) == 0
    assert all("sha1" in r["message"] for r in _report(tmp_path / "m" / "report.csv"))


def test_a_file_without_the_sha1_column_keeps_the_size_check(tmp_path, data_dir):
    photos = _group(tmp_path, data_dir)
    bulk_label(photos, tmp_path / "lab", n_jobs=1, progress=False)
    rows = list(csv.reader(open(tmp_path / "lab" / "landmarks.csv", newline="")))
    old = tmp_path / "old.csv"  # as written before the sha1 column (width,height,reviewed)
    with open(old, "w", newline="") as fh:
        csv.writer(fh).writerows([*r[:146], r[147]] for r in rows)
    records = list(iter_records(old))
    assert [r.sha1 for r in records] == [None, None] and [r.size for r in records] == [(225, 275)] * 2
    _swap(photos / "g")  # same size: an old file cannot tell, as before
    assert jobs_main(["team-means", str(photos), "--landmarks", str(old), "--out", str(tmp_path / "m")]) == 0
    assert all(r["message"] == "" for r in _report(tmp_path / "m" / "report.csv"))


def test_training_data_from_landmarks_csv_skips_rows_of_changed_photos(tmp_path, data_dir, caplog):
    images = tmp_path / "ds" / "images"
    images.mkdir(parents=True)
    rows = []
    for p in PORTRAITS:
        shutil.copy(data_dir / "portraits" / p, images / p)
        lm = np.tile(np.float32([[100, 120]]), (68, 1))
        rows.append(face_row(p, 0, Face((60.0, 80.0, 190.0, 210.0), 0.9, lm), (225, 275),
                             hashlib.sha1((images / p).read_bytes()).hexdigest()))
    with open(tmp_path / "ds" / "landmarks.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows, rows[1][:1] + ["1"] + rows[1][2:]])  # two faces of the second
    assert len(load_landmarks_csv(tmp_path / "ds")) == 3
    shutil.copy(data_dir / "portraits" / PORTRAITS[0], images / PORTRAITS[1])  # another photo, same name and size
    with caplog.at_level(logging.WARNING, logger="landmarker.io.datasets"):
        samples = load_landmarks_csv(tmp_path / "ds")
    assert [s.image_path.name for s in samples] == [PORTRAITS[0]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and PORTRAITS[1] in warnings[0] and "sha1" in warnings[0]


# 2. the face cut off by the frame


def test_faces_are_ordered_by_visible_box_area():
    from landmarker.io.face import visible_area

    assert visible_area((-93, 337, 195, 596), (600, 800)) == 195 * 259
    assert visible_area((10, 10, 20, 30), (600, 800)) == 200
    image = read_image(REPO_ROOT / "tests" / "data" / "portraits" / PORTRAITS[0])
    cut, whole = (-150.0, 0.0, 100.0, 250.0), (80.0, 90.0, 200.0, 210.0)  # 62500 px^2 (25000 visible), 14400
    faces = faces_for_boxes(Landmarker(), [image], [[cut, whole]])[0]
    assert [f.box for f in faces] == [cut, whole]  # 25000 visible px^2 beat 14400
    faces = faces_for_boxes(Landmarker(), [image], [[(-400.0, 0.0, 20.0, 250.0), whole]])[0]
    assert [f.box for f in faces] == [whole, (-400.0, 0.0, 20.0, 250.0)]  # 105000 px^2, 5000 of them visible


def _with_a_cut_off_face(monkeypatch, big_visible: bool, keep_whole: bool = True):
    """Make labelling find, besides the real face, a larger face half out of the left edge."""
    def fake(items, *args, **kwargs):
        out = []
        for r in label_images(items, *args, **kwargs):
            if r.faces:
                f = r.faces[0]
                shift = f.landmarks[:, 0].max() + 30  # every point of the copy left of x = 0 but its right side
                lm = f.landmarks * np.float32(1.6) - np.float32([shift, 0])
                box = (-93.0, 0.0, 195.0 if big_visible else 30.0, 260.0)
                cut = Face(box, 1.0, lm.astype(np.float32), f.fit)
                faces = [cut, f] if keep_whole else [cut]
            else:
                faces = []
            out.append(ImageResult(r.name, r.status, faces, r.message, r.size, r.sha1))
        return out

    monkeypatch.setattr(jobs.collection, "label_images", fake)


def test_symmetrize_uses_the_whole_face_not_one_cut_off_by_the_frame(tmp_path, data_dir, monkeypatch):
    photo = data_dir / "portraits" / PORTRAITS[0]
    assert jobs_main(["symmetrize", str(photo), "--out", str(tmp_path / "plain")]) == 0
    for big_visible in (False, True):  # the cut-off face smaller on screen, or larger: never used
        _with_a_cut_off_face(monkeypatch, big_visible)
        out = tmp_path / f"cut{big_visible}"
        assert jobs_main(["symmetrize", str(photo), "--out", str(out)]) == 0
        made = cv2.imread(str(out / "A000360-symmetric-both.png"))
        np.testing.assert_array_equal(made, cv2.imread(str(tmp_path / "plain" / "A000360-symmetric-both.png")))
        note = _report(out / "report.csv")[0]["message"]
        assert "2 faces" in note and ("leave the photo" in note) == big_visible, note


def test_a_face_tool_skips_a_photo_whose_only_face_leaves_it(tmp_path, data_dir, monkeypatch, capsys):
    _with_a_cut_off_face(monkeypatch, True, keep_whole=False)
    photos = _group(tmp_path, data_dir)
    assert jobs_main(["caricature", str(photos), "--mean", str(data_dir / "portraits" / PORTRAITS[0]),
                      "--out", str(tmp_path / "car")]) == 2  # nothing usable: nothing written, one line
    assert "leave the photo" in capsys.readouterr().err
    assert not list((tmp_path / "car").glob("*.png")) if (tmp_path / "car").exists() else True


# 3. the review editor and API keep points outside the photo


def _cut_run(tmp_path: Path, data_dir: Path) -> Path:
    """A bulk-label run of one portrait cut 80 px on the left: its jaw lies left of x = 0."""
    arch = tmp_path / "cut"
    arch.mkdir()
    image = cv2.imread(str(data_dir / "portraits" / PORTRAITS[0]))
    cv2.imwrite(str(arch / "cut.png"), image[:, 80:])
    bulk_label(arch, tmp_path / "run", n_jobs=1, progress=False)
    return tmp_path / "run"


def test_saving_an_untouched_cut_off_face_stores_exactly_its_points(tmp_path, data_dir):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from jobs.review.server import create_app
    from jobs.review.store import ReviewStore

    run = _cut_run(tmp_path, data_dir)
    with ReviewStore(run) as store:
        c = TestClient(create_app(store), base_url="http://127.0.0.1:8765")
        face = c.get("/api/faces").json()[0]
        pts = np.asarray(face["landmarks"])
        assert (pts[:, 0] < 0).sum() >= 3  # the jaw past the left edge
        r = c.put(f"/api/faces/{face['id']}", json={"landmarks": face["landmarks"]})
        assert r.status_code == 200, r.text
        assert r.json()["landmarks"] == face["landmarks"] and r.json()["reviewed"]
        w, h = face["size"]
        for far in ((-10 * w, 0), (0, 10 * h)):  # points far outside the photo: still refused
            assert c.put(f"/api/faces/{face['id']}", json={"landmarks": (pts + far).tolist()}).status_code == 422
    row = next(iter_records(run / "landmarks.csv"))
    assert row.reviewed
    np.testing.assert_array_equal(row.face.landmarks, np.float32(face["landmarks"]))


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node not installed")
def test_the_page_saves_untouched_points_outside_the_photo_as_they_are(tmp_path):
    """app.js run in node with a stub DOM: save() sends the points as they are, none clamped."""
    script = tmp_path / "t.js"
    script.write_text("""
const vm = require("vm"), fs = require("fs");
const sent = [];
const element = () => ({ textContent: "", className: "", dataset: {}, style: {}, setAttribute() {}, appendChild() {},
  addEventListener() {}, insertBefore() {}, querySelectorAll: () => [],
  classList: { add() {}, remove() {}, toggle() {} } });
const ctx = { console, URLSearchParams, DOMPoint: class {}, JSON, Math, Number, Object, Promise, Map, Set, Array,
  location: { search: "", hash: "" }, window: { addEventListener() {} },
  document: { getElementById: element, createElementNS: element, addEventListener() {}, body: element() },
  fetch: async (url, opts) => { if (opts && opts.method === "PUT") sent.push(JSON.parse(opts.body));
    const body = opts && opts.method === "PUT" ? Object.assign({}, ctx.__face, JSON.parse(opts.body)) : {};
    return { ok: !!(opts && opts.method === "PUT"), json: async () => body }; } };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[2], "utf8") + "\\n;globalThis.__t = { state, save };", ctx);
const pts = Array.from({ length: 68 }, (_, i) => [i < 7 ? -5.5 - i : 10 + i, 300 + i]);
ctx.__face = { id: "x-0", image: "x.jpg", face: 0, fit: null, reviewed: false, landmarks: pts };
const t = ctx.__t;
Object.assign(t.state, { face: ctx.__face, pts: pts.map((p) => p.slice()), saved: pts, size: [225, 275],
  scheme: { contours: [], groups: {}, outside: 0.5 } });
t.save(false).then(() => { process.stdout.write(JSON.stringify(sent)); });
""")
    out = subprocess.run([NODE, str(script), str(REPO_ROOT / "jobs" / "review" / "static" / "app.js")],
                         capture_output=True, text=True, timeout=60)
    sent = json.loads(out.stdout or "[]")
    assert len(sent) == 1, out.stderr
    pts = [[-5.5 - i if i < 7 else 10 + i, 300 + i] for i in range(68)]
    assert sent[0]["landmarks"] == pts


# 5. outputs that go stale


def test_a_review_save_rewrites_landmarks_xml(tmp_path, data_dir):
    pytest.importorskip("fastapi")
    from jobs.review.store import ReviewStore
    from landmarker.io.datasets import load_dlib_xml

    photos = _group(tmp_path / "run", data_dir)  # --out above the archive, as landmarker train wants
    bulk_label(photos, tmp_path / "run", n_jobs=1, progress=False, fmt="dlib-xml", overlay=True)
    with ReviewStore(tmp_path / "run") as store:
        face = store.faces()[0]
        overlay = tmp_path / "run" / "overlays" / f"{face.image}.jpg"  # JPEG since issue 28, part 6
        before = cv2.imread(str(overlay))
        moved = np.asarray(face.landmarks) + (4.0, -3.0)
        store.save(face.id, moved.tolist())
    by_name = {Path(s.image_path).name: s.landmarks for s in load_dlib_xml(tmp_path / "run" / "landmarks.xml")}
    np.testing.assert_allclose(by_name[Path(face.image).name], moved, atol=0.51)  # dlib stores whole pixels
    assert (cv2.imread(str(overlay)) != before).any()  # the overlay redrawn with the saved points


def test_review_refuses_points_for_a_photo_changed_since_it_was_labelled(tmp_path, data_dir, caplog):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from jobs.review.server import create_app
    from jobs.review.store import ReviewStore

    photos = _group(tmp_path, data_dir)
    bulk_label(photos, tmp_path / "run", n_jobs=1, progress=False)
    _swap(photos / "g")
    with ReviewStore(tmp_path / "run") as store, caplog.at_level(logging.WARNING):
        c = TestClient(create_app(store), base_url="http://127.0.0.1:8765")
        face = c.get("/api/faces").json()[0]
        for _ in range(2):
            r = c.put(f"/api/faces/{face['id']}", json={"landmarks": face["landmarks"]})
            assert r.status_code == 409 and "changed since it was labelled" in r.json()["detail"]
    assert not any(r.reviewed for r in iter_records(tmp_path / "run" / "landmarks.csv"))
    assert sum("changed since it was labelled" in r.getMessage() for r in caplog.records) == 1  # one line


def test_team_means_into_the_out_of_another_grouping_leaves_only_its_own_means(tmp_path, data_dir):
    first = tmp_path / "one"
    for group in ("x", "y"):
        (first / group).mkdir(parents=True)
        for p in PORTRAITS:
            shutil.copy(data_dir / "portraits" / p, first / group / p)
    out = tmp_path / "m"
    assert jobs_main(["team-means", str(first), "--out", str(out)]) == 0
    assert {p.name for p in out.glob("*.png")} == {"x.png", "y.png", "comparison.png"}
    second = _group(tmp_path, data_dir)
    assert jobs_main(["team-means", str(second), "--out", str(out)]) == 0
    assert {p.name for p in out.glob("*.png")} == {"g.png", "comparison.png"}
    (out / "mine.png").write_bytes(b"not ours")  # a file the jobs did not write is left alone
    assert jobs_main(["team-means", str(first), "--out", str(out)]) == 0
    assert {p.name for p in out.glob("*.png")} == {"x.png", "y.png", "comparison.png", "mine.png"}


# 7. smaller


def test_bulk_label_takes_a_photo_file(tmp_path, data_dir):
    photo = _group(tmp_path, data_dir) / "g" / PORTRAITS[0]
    assert jobs_main(["bulk-label", str(photo), "--out", str(tmp_path / "o")]) == 0
    rows = list(iter_records(tmp_path / "o" / "landmarks.csv"))
    assert [r.image for r in rows] == [PORTRAITS[0]]
    assert [r["status"] for r in _report(tmp_path / "o" / "report.csv")] == ["ok"]


def test_grayscale_photos_averaged_with_colour_ones_are_reported(tmp_path, data_dir, capsys):
    photos = _group(tmp_path, data_dir)
    gray = photos / "g" / PORTRAITS[1]
    cv2.imwrite(str(gray), cv2.cvtColor(cv2.imread(str(gray)), cv2.COLOR_BGR2GRAY))
    assert jobs_main(["team-means", str(photos), "--out", str(tmp_path / "m")]) == 0
    rows = {r["image"]: r for r in _report(tmp_path / "m" / "report.csv")}
    assert "grayscale" in rows[f"g/{PORTRAITS[1]}"]["message"] and rows[f"g/{PORTRAITS[1]}"]["status"] == "used"
    assert "grayscale" not in rows[f"g/{PORTRAITS[0]}"]["message"]
    assert "grayscale" in capsys.readouterr().err


def test_predict_documents_rgb_at_the_call():
    for method in (Landmarker.predict, Landmarker.predict_many):
        assert "RGB" in method.__doc__ and "BGR" in method.__doc__


def test_pyproject_uses_the_spdx_licence_form():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT" and meta["project"]["license-files"] == ["LICENSE"]
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")
    setuptools = next(r for r in meta["build-system"]["requires"] if r.startswith("setuptools"))
    assert int(setuptools.split(">=")[1].split(".")[0]) >= 77  # the first to read this form (PEP 639)


def test_a_journal_from_before_the_sha1_column_is_upgraded_and_resumed(tmp_path, data_dir):
    import sqlite3

    from jobs.bulk_output import JOURNAL

    photos = _group(tmp_path, data_dir)
    bulk_label(photos, tmp_path / "run", n_jobs=1, progress=False)
    db = sqlite3.connect(tmp_path / "run" / JOURNAL)  # as the version before wrote it: 146 columns, version 0
    for seq, blob in db.execute("SELECT seq, landmarks FROM files").fetchall():
        rows = list(csv.reader(blob.decode().splitlines()))
        db.execute("UPDATE files SET landmarks = ? WHERE seq = ?",
                   ("".join(",".join(r[:146]) + "\r\n" for r in rows).encode(), seq))
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    result = bulk_label(photos, tmp_path / "run", n_jobs=1, progress=False)
    assert result.resumed == 2
    records = list(iter_records(tmp_path / "run" / "landmarks.csv"))
    assert len(records) == 2 and all(r.sha1 is None and r.size == (225, 275) for r in records)


@pytest.mark.parametrize("job", ["team-means", "morph-movie"])
def test_means_and_movies_do_not_use_a_face_cut_off_by_the_frame(tmp_path, data_dir, monkeypatch, job):
    """A mean or a morph warps the whole face: one cut off by the frame would smear the photo's edge into it."""
    _with_a_cut_off_face(monkeypatch, True)
    photos = _group(tmp_path, data_dir)
    out = tmp_path / ("means" if job == "team-means" else "movie.gif")
    extra = [] if job == "team-means" else ["--fps", "4", "--seconds-per-face", "0.5", "--width", "90",
                                             "--height", "110"]
    assert jobs_main([job, str(photos), "--out", str(out), *extra]) == 0
    report = out / "report.csv" if job == "team-means" else tmp_path / "movie.report.csv"
    notes = [r["message"] for r in _report(report) if r["status"] == "used"]
    assert notes and all("leave the photo" in n for n in notes), notes
