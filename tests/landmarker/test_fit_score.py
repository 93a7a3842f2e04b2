"""The fit score: the disagreement of the landmarks on a face and on its mirror image, and the gate on it."""

import csv
import math

import numpy as np

from jobs.__main__ import main as jobs_main
from landmarker.inference.predictor import Landmarker
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import LEGACY_HEADER, read_landmarks_csv


def test_fit_score_is_the_mirror_disagreement_and_only_with_flip_average(data_dir):
    image = read_image(data_dir / "portraits" / "A000360.jpg")
    plain = Landmarker().predict(image)[0]
    flipped = Landmarker(flip_average=True).predict(image)[0]
    assert math.isnan(plain.fit) and 0 < flipped.fit < 10
    # a face box half a face off gives a worse fit than the detector's box
    model = Landmarker(flip_average=True, detector=None)
    l, t, r, b = flipped.box
    off = (l + (r - l) / 2, t, r + (r - l) / 2, b)
    (_, good), = model.predict_boxes_with_fit([image], [[flipped.box]])
    (_, bad), = model.predict_boxes_with_fit([image], [[off]])
    assert bad[0] > 2 * good[0]


def test_landmarks_csv_carries_the_fit_and_old_files_still_read(tmp_path, data_dir):
    arch = tmp_path / "a"
    arch.mkdir()
    for p in (data_dir / "portraits").glob("*.jpg"):
        (arch / p.name).write_bytes(p.read_bytes())
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "o"), "--flip-average"]) == 0
    faces = read_landmarks_csv(tmp_path / "o" / "landmarks.csv")
    assert all(0 < f[0].fit < 10 for f in faces.values())
    old = tmp_path / "old.csv"  # a landmarks.csv written before the fit column
    rows = list(csv.reader(open(tmp_path / "o" / "landmarks.csv")))
    with open(old, "w", newline="") as fh:
        csv.writer(fh).writerows([LEGACY_HEADER] + [r[:143] for r in rows[1:]])
    legacy = read_landmarks_csv(old)
    assert legacy.keys() == faces.keys() and all(math.isnan(f[0].fit) for f in legacy.values())


def test_team_means_drops_faces_above_max_fit_score(tmp_path, data_dir, capsys):
    coll = tmp_path / "c"
    coll.mkdir()
    from PIL import Image

    for p in (data_dir / "portraits").glob("*.jpg"):  # the portraits, mirrored, and small and soft copies
        image = Image.open(p)
        image.save(coll / p.name)
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(coll / f"mirror-{p.name}")
        image.resize((image.width // 2, image.height // 2)).save(coll / f"small-{p.name}", quality=40)
    fits = {p.name: Landmarker(flip_average=True).predict(read_image(p))[0].fit for p in sorted(coll.iterdir())}
    threshold = float(np.median(list(fits.values())))
    assert jobs_main(["team-means", str(coll), "--out", str(tmp_path / "m"), "--max-fit-score", f"{threshold:.3f}",
                      "--min-faces", "1"]) == 0
    report = {r["image"]: r for r in csv.DictReader(open(tmp_path / "m" / "report.csv"))}
    for name, fit in fits.items():
        assert (report[name]["status"] == "used") == (fit <= threshold), (name, fit, threshold)
        assert abs(float(report[name]["fit"]) - fit) < 0.02
    assert "dropped" in capsys.readouterr().err
    # landmarks without fit scores cannot be gated: one clear line
    assert jobs_main(["bulk-label", str(coll), "--out", str(tmp_path / "lab")]) == 0
    assert jobs_main(["team-means", str(coll), "--out", str(tmp_path / "m2"), "--max-fit-score", "3",
                      "--landmarks", str(tmp_path / "lab" / "landmarks.csv")]) == 2
    assert "--flip-average" in capsys.readouterr().err
