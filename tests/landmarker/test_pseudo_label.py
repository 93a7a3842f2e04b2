"""Pseudo-labels from test-time augmentation, the label audit and train --exclude."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from landmarker.cli import main  # noqa: E402
from landmarker.io.datasets import load_dataset  # noqa: E402
from landmarker.io.decode import read_image, to_gray  # noqa: E402
from landmarker.model.network import load_model  # noqa: E402
from landmarker.training import pseudo_label as P  # noqa: E402
from landmarker.training.config import TrainConfig  # noqa: E402
from landmarker.training.train import _split  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "images"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for p in sorted(SAMPLE.glob("*.jpg"))[:6]:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_views_mapped_back_agree_and_match_the_plain_prediction(photos):
    model, card = load_model()
    image = read_image(sorted(photos.glob("*.jpg"))[1])
    from landmarker.inference.detect import make_detector

    box = make_detector("hog")(image)[0].box
    mean, views = P.tta_landmarks(model, to_gray(image), box, card["input"]["img_size"])
    assert views.shape == (len(P.TTA_VIEWS), 68, 2) and mean.shape == (68, 2)
    # each view, mirrored ones re-ordered, lands on the same face: a wrong inverse or permutation is off by far more
    assert P.spread_iod(views) < 0.03
    plain = views[P.TTA_VIEWS.index((False, 1.0, 0.0))]
    iod = np.linalg.norm(mean[45] - mean[36])
    assert np.linalg.norm(plain - mean, axis=1).mean() / iod < 0.03
    assert P.spread_iod(np.stack([mean, mean])) == 0.0


def test_pseudo_label_writes_a_training_set_of_the_surest_faces(photos, tmp_path, capsys):
    out = tmp_path / "pseudo"
    assert main(["pseudo-label", str(photos), "--out", str(out), "--keep", "0.5"]) == 0
    assert "7 photos, 6 faces, 3 kept" in capsys.readouterr().out
    with open(out / "pseudo_labels.csv", newline="") as fh:
        rows = {r["image"]: r for r in csv.DictReader(fh)}
    assert rows["broken.jpg"]["status"] == "error" and rows["broken.jpg"]["kept"] == "0"
    ok = {k: float(r["spread_iod_pct"]) for k, r in rows.items() if r["status"] == "ok"}
    kept = {k for k, r in rows.items() if r["kept"] == "1"}
    assert len(ok) == 6 and len(kept) == 3
    assert max(ok[k] for k in kept) <= min(ok[k] for k in ok.keys() - kept)  # the surest are kept
    samples = load_dataset(f"landmarks-csv:{out}")
    assert sorted(s.image_path.name for s in samples) == sorted(kept)
    assert all(s.landmarks.shape == (68, 2) and np.isfinite(s.landmarks).all() for s in samples)
    # the photo folder itself as --out is refused, --keep outside (0, 1] too
    assert main(["pseudo-label", str(photos), "--out", str(photos)]) == 2
    assert main(["pseudo-label", str(photos), "--out", str(out), "--keep", "0"]) == 2


def test_the_audit_flags_a_wrong_label_and_train_exclude_leaves_it_out(photos, tmp_path, capsys):
    data = tmp_path / "labelled"
    (data / "images").mkdir(parents=True)
    model, card = load_model()
    from landmarker.inference.detect import make_detector

    rows = []
    names = sorted(p.name for p in photos.glob("*.jpg") if p.name != "broken.jpg")
    for name in names:
        shutil.copy(photos / name, data / "images" / name)
        image = read_image(photos / name)
        box = make_detector("hog")(image)[0].box
        _, views = P.tta_landmarks(model, to_gray(image), box, card["input"]["img_size"], views=[(False, 1.0, 0.0)])
        rows.append(views[0])
    bad = names[2]
    rows[2] = rows[2] + 0.3 * np.linalg.norm(rows[2][45] - rows[2][36])  # every point 30% of the IOD off
    with open(data / "landmarks.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file"] + [f"{a}{i}" for i in range(68) for a in "xy"])
        for name, pts in zip(names, rows):
            w.writerow([name] + [f"{v:.2f}" for v in pts.reshape(-1)])
    audit = tmp_path / "audit.csv"
    assert main(["audit-labels", "--data", f"landmarks-csv:{data}", "--out", str(audit)]) == 0
    assert "6 faces, 1 flagged" in capsys.readouterr().out
    with open(audit, newline="") as fh:
        got = list(csv.DictReader(fh))
    assert Path(got[0]["image"]).name == bad and got[0]["outlier"] == "1"  # worst first
    assert float(got[0]["nme_pct"]) > 30 and all(float(r["nme_pct"]) < 10 for r in got[1:])

    cfg = TrainConfig(data=f"landmarks-csv:{data}", out=str(tmp_path / "run"), val=f"landmarks-csv:{data}",
                      exclude=str(audit))
    train, _, _ = _split(cfg)
    assert sorted(s.image_path.name for s in train) == sorted(set(names) - {bad})
    no_column = tmp_path / "x.csv"
    no_column.write_text("file\nA.jpg\n")
    with pytest.raises(ValueError, match="no image column"):
        _split(TrainConfig(data=f"landmarks-csv:{data}", out=str(tmp_path / "run"), exclude=str(no_column)))
