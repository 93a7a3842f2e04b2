"""Issue 18: a plain ``landmarks-csv`` dataset format, the ytf68 label correction only where it
belongs (and named in ``evaluate``'s output), symlinked dataset images, and ``train`` run folders."""

import contextlib
import csv
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TESTS_DATA

from landmarker.cli import main as landmarker_main
from landmarker.io.datasets import (
    DatasetError,
    load_dataset,
    load_dlib_xml,
    load_ytf68,
    ytf68_offset_iod,
)
from landmarker.io.landmarks_csv import read_landmarks_csv

DATA = TESTS_DATA
PORTRAITS = sorted((DATA / "portraits").glob("*.jpg"))  # two portraits, one face each
YTF_MINI = DATA / "ytf68-mini"


def _plain_layout(predicted: Path, out: Path) -> None:
    """The faces of a ``landmarker predict`` CSV rewritten in the plain layout (``file, x0, y0, ..., x67, y67``)."""
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file"] + [f"{axis}{i}" for i in range(68) for axis in "xy"])
        for image, faces in read_landmarks_csv(predicted).items():
            for face in faces:
                w.writerow([image] + [f"{v:.2f}" for v in face.landmarks.reshape(-1)])


@pytest.fixture(scope="module")
def own_labels(tmp_path_factory):
    """The shipped model's own predictions saved as datasets: ``predicted/`` holds what
    ``landmarker predict images/ --out landmarks.csv`` writes, ``plain/`` the same points in the plain layout."""
    root = tmp_path_factory.mktemp("own-labels")
    predicted = root / "predicted"
    (predicted / "images").mkdir(parents=True)
    for p in PORTRAITS:
        shutil.copy(p, predicted / "images" / p.name)
    assert landmarker_main(["predict", str(predicted / "images"), "--out", str(predicted / "landmarks.csv")]) == 0
    plain = root / "plain"
    shutil.copytree(predicted / "images", plain / "images")
    _plain_layout(predicted / "landmarks.csv", plain / "landmarks.csv")
    return {"root": root, "predicted": predicted, "plain": plain}


@pytest.fixture(scope="module")
def evaluated(own_labels):
    """One ``landmarker evaluate`` of the predicted folder as landmarks-csv, ytf68 and ytf68-raw."""
    folder = own_labels["predicted"]
    specs = [f"landmarks-csv:{folder}", f"ytf68:{folder}", f"ytf68-raw:{folder}"]
    argv = ["evaluate"] + [a for s in specs for a in ("--data", s)]
    argv += ["--ced", str(own_labels["root"] / "ced.png"), "--json", str(own_labels["root"] / "eval.json")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = landmarker_main(argv)
    assert rc == 0
    rows = json.loads((own_labels["root"] / "eval.json").read_text())["rows"]
    return {"rows": {r["data"].partition(":")[0]: r for r in rows}, "stdout": out.getvalue()}


# --- (A) landmarks-csv, and the ytf68 correction only where it belongs -----------------------------

def test_own_predictions_as_landmarks_csv_evaluate_to_a_small_nme(evaluated):
    row = evaluated["rows"]["landmarks-csv"]
    assert row["faces"] == len(PORTRAITS) and row["detected"] == len(PORTRAITS)
    assert row["nme_mean"] < 0.01
    assert abs(row["offset_x_iod"]) < 0.005 and abs(row["offset_y_iod"]) < 0.005


def test_the_same_folder_as_ytf68_is_moved_by_the_correction(evaluated):
    row = evaluated["rows"]["ytf68"]
    assert row["nme_mean"] > 0.025  # the table's offset, about 3.3% of the IOD in length
    mean_dx, mean_dy = ytf68_offset_iod().mean(axis=0)  # labels moved by minus it: pred - gt = + it
    assert row["offset_x_iod"] == pytest.approx(mean_dx, abs=0.003)
    assert row["offset_y_iod"] == pytest.approx(mean_dy, abs=0.003)


def test_ytf68_raw_turns_the_correction_off(evaluated):
    assert evaluated["rows"]["ytf68-raw"]["nme_mean"] < 0.01


def test_evaluate_states_for_each_dataset_whether_labels_were_corrected(evaluated):
    lines = [line for line in evaluated["stdout"].splitlines() if line.startswith("labels")]
    assert len(lines) == 3, evaluated["stdout"]
    by_format = {}
    for line in lines:
        for fmt in ("landmarks-csv", "ytf68-raw", "ytf68"):
            if f" {fmt}:" in line:
                by_format[fmt] = line
                break
    assert "ytf68 correction applied" in by_format["ytf68"]
    dx, dy = 100 * ytf68_offset_iod().mean(axis=0)
    assert f"{-dx:+.2f}%, {-dy:+.2f}%" in by_format["ytf68"]
    for fmt in ("landmarks-csv", "ytf68-raw"):
        assert "as stored" in by_format[fmt] and "correction" not in by_format[fmt]
    rows = evaluated["rows"]
    assert "ytf68 correction applied" in rows["ytf68"]["labels"] and rows["landmarks-csv"]["labels"] == "as stored"


def test_landmarks_csv_reads_both_layouts_as_stored(own_labels):
    written = read_landmarks_csv(own_labels["predicted"] / "landmarks.csv")
    for layout in ("predicted", "plain"):
        samples = load_dataset(f"landmarks-csv:{own_labels[layout]}")
        assert [s.identity for s in samples] == [p.name for p in PORTRAITS]  # each image its own identity
        for s in samples:
            assert s.image_path == own_labels[layout] / "images" / s.identity
            assert s.landmarks.shape == (68, 2) and s.landmarks.dtype == np.float32
            np.testing.assert_allclose(s.landmarks, written[s.identity][0].landmarks, atol=0.006)
    # predict's layout carries its face box; the plain one has none
    assert load_dataset(f"landmarks-csv:{own_labels['predicted']}")[0].box == written[PORTRAITS[0].name][0].box
    assert load_dataset(f"landmarks-csv:{own_labels['plain']}")[0].box is None


def test_ytf68_and_ytf68_raw_differ_by_the_correction_only():
    raw = load_dataset(f"ytf68-raw:{YTF_MINI}")
    corrected = load_dataset(f"ytf68:{YTF_MINI}")
    stored = load_ytf68(YTF_MINI, correct_offset=False)
    assert len(raw) == len(corrected) == len(stored) == 4
    for r, c, s in zip(raw, corrected, stored):
        np.testing.assert_array_equal(r.landmarks, s.landmarks)
        assert r.identity == c.identity == s.identity  # the person, so @val holds the same people
        iod = np.linalg.norm(r.landmarks[36] - r.landmarks[45])
        np.testing.assert_allclose(r.landmarks - c.landmarks, ytf68_offset_iod() * iod, atol=1e-3)


def test_a_malformed_landmarks_csv_names_the_file(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "landmarks.csv").write_text("image,face,left\nx.jpg,0,1\n")
    with pytest.raises(DatasetError, match=re.escape(f"{tmp_path / 'landmarks.csv'}: not a landmarks.csv")):
        load_dataset(f"landmarks-csv:{tmp_path}")


# --- (B) symlinked images, '..' escapes ---------------------------------------------------------------

def _xml_with(folder: Path, file_attr: str) -> Path:
    """A one-face dlib XML in ``folder`` naming its image ``file_attr`` (a real face's 68 parts)."""
    sample = load_dlib_xml(DATA / "dlib-faces" / "training_with_face_landmarks.xml")[0]
    parts = "".join(f"<part name='{i:02d}' x='{x:.0f}' y='{y:.0f}'/>" for i, (x, y) in enumerate(sample.landmarks))
    left, top, right, bottom = sample.box
    xml = folder / "labels.xml"
    xml.write_text(f"<dataset><images><image file='{file_attr}'><box top='{top:.0f}' left='{left:.0f}' "
                   f"width='{right - left:.0f}' height='{bottom - top:.0f}'>{parts}</box></image></images></dataset>")
    return xml


def test_a_symlinked_image_in_a_dataset_loads(tmp_path):
    store = tmp_path / "store"  # images kept elsewhere, linked into the dataset folder
    store.mkdir()
    shutil.copy(DATA / "dlib-faces" / "2007_007763.jpg", store / "face.jpg")
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    os.symlink(store / "face.jpg", ds / "images" / "face.jpg")
    (sample,) = load_dlib_xml(_xml_with(ds, "images/face.jpg"))
    assert sample.image_path == ds / "images" / "face.jpg" and sample.image_path.is_symlink()

    # the same for the CSV formats (the image folder itself a link, too)
    shutil.copytree(YTF_MINI / "images", store / "ytf")
    csv_ds = tmp_path / "csv-ds"
    csv_ds.mkdir()
    os.symlink(store / "ytf", csv_ds / "images")
    shutil.copy(YTF_MINI / "landmarks.csv", csv_ds / "landmarks.csv")
    assert len(load_dataset(f"landmarks-csv:{csv_ds}")) == len(load_dataset(f"ytf68:{csv_ds}")) == 4


def test_a_path_escaping_the_dlib_xml_folder_is_refused_by_its_text(tmp_path):
    ds = tmp_path / "ds"
    (ds / "images" / "sub").mkdir(parents=True)
    os.symlink(ds / "images" / "sub", ds / "link")
    for folder in (tmp_path, ds):
        shutil.copy(DATA / "dlib-faces" / "2007_007763.jpg", folder / "secret.jpg")
    # 'link/../..' is ds/images through the link, but leaves ds as written: refused, as the others
    for rel in ("link/../../secret.jpg", "../secret.jpg", "images/../../secret.jpg", str(tmp_path / "secret.jpg")):
        with pytest.raises(DatasetError, match=r"labels.xml: image path .* escapes the folder"):
            load_dlib_xml(_xml_with(ds, rel))
    (sample,) = load_dlib_xml(_xml_with(ds, "images/../secret.jpg"))  # '..' that stays inside is fine
    assert sample.image_path == ds / "secret.jpg"


@pytest.mark.parametrize("fmt", ["ytf68", "landmarks-csv"])
@pytest.mark.parametrize("name", ["../../secret.jpg", "/abs"])
def test_a_path_escaping_the_images_folder_of_a_csv_dataset_is_refused(tmp_path, fmt, name):
    shutil.copy(DATA / "dlib-faces" / "2007_007763.jpg", tmp_path / "secret.jpg")
    name = str(tmp_path / "secret.jpg") if name == "/abs" else name
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    rows = (YTF_MINI / "landmarks.csv").read_text().splitlines()
    first = rows[1].split(",")
    (ds / "landmarks.csv").write_text("\n".join([rows[0], ",".join([name] + first[1:])]) + "\n")
    with pytest.raises(DatasetError, match=r"landmarks.csv.*escapes the folder"):
        load_dataset(f"{fmt}:{ds}")


# --- (B) train run folders ----------------------------------------------------------------------------

TINY = ["--img-size", "32", "--batch-size", "4", "--detector", "none", "--epochs", "1"]


def _train(data: str, out: Path, *extra: str) -> int:
    return landmarker_main(["train", "--data", data, "--val", data, "--out", str(out), *TINY, *extra])


def test_a_run_refused_for_its_data_leaves_no_folder(tmp_path, capsys):
    ds = tmp_path / "ds"
    ds.mkdir()
    shutil.copy(DATA / "dlib-faces" / "2007_007763.jpg", tmp_path / "secret.jpg")
    xml = _xml_with(ds, "../secret.jpg")
    assert _train(f"dlib-xml:{xml}", tmp_path / "runs" / "r1") == 2
    assert "escapes the folder" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()

    # an image that cannot be decoded fails while the faces are cached: still no folder left
    bad = tmp_path / "bad"
    shutil.copytree(YTF_MINI, bad)
    (bad / "images" / "Luis_Fonsi_21.jpg").write_bytes(b"not a jpeg")
    assert _train(f"landmarks-csv:{bad}", tmp_path / "r2") == 2
    assert "Luis_Fonsi_21.jpg" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


@pytest.mark.slow
@pytest.mark.train
def test_a_second_train_into_the_same_out_is_refused_without_resume(tmp_path, capsys):
    data = f"ytf68:{YTF_MINI}"
    run = tmp_path / "run"
    run.mkdir()  # an empty existing folder is fine
    assert _train(data, run) == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir() if p.is_file()}
    assert {"last.pt", "best.safetensors", "metrics.csv"} <= set(before)
    capsys.readouterr()

    assert _train(data, run, "--lr", "0.01") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(run) in err and "--resume" in err and "another --out" in err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir() if p.is_file()} == before

    # --resume still continues it (nothing left to do after its one epoch)
    assert _train(data, run, "--resume") == 0
    assert (run / "last.pt").read_bytes() == before["last.pt"][0]
