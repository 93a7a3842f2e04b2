"""Training face boxes from a file (``train --boxes``), the compact dataset copy, and DataLoader workers."""

import csv
import importlib.util
import json

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT
from PIL import Image

from landmarker.cli import main as landmarker_main
from landmarker.inference.detect import make_detector
from landmarker.io.boxes_csv import write_boxes_csv
from landmarker.io.datasets import load_ytf68
from landmarker.io.decode import read_image
from landmarker.training.data import (
    Augment,
    ContextCache,
    LandmarkDataset,
    augmented_crop,
    build_cache,
    reseed_worker,
    training_boxes,
)

pytestmark = [pytest.mark.slow, pytest.mark.train]

ROOT = REPO_ROOT


def test_given_boxes_are_chosen_as_the_detector_boxes_are(tmp_path, data_dir):
    samples = load_ytf68(data_dir / "ytf68-mini")
    hog = make_detector("hog")
    rows = [[s.image_path.name, *d.box] for s in samples for d in hog(read_image(s.image_path))]
    # a box far from the face must not be taken
    rows.append([samples[0].image_path.name, 0, 0, 5, 5])
    write_boxes_csv(tmp_path / "boxes.csv", rows)
    detected = build_cache(samples, 32, detector="hog", n_jobs=1)
    given = build_cache(samples, 32, detector="hog", n_jobs=1, boxes=training_boxes(tmp_path / "boxes.csv", samples))
    assert list(given.box_source) == list(detected.box_source)
    assert "detector" in list(given.box_source)
    np.testing.assert_array_equal(given.images, detected.images)
    np.testing.assert_allclose(given.landmarks, detected.landmarks, atol=1e-4)
    # an image without boxes falls back to the landmark box, as with no detection
    no_boxes = build_cache(samples, 32, detector="hog", n_jobs=1, boxes={})
    assert set(no_boxes.box_source) == {"landmarks"}


def test_boxes_of_an_unknown_image_are_refused(tmp_path, data_dir):
    samples = load_ytf68(data_dir / "ytf68-mini")
    write_boxes_csv(tmp_path / "boxes.csv", [["Nobody_01.jpg", 1, 1, 50, 50]])
    with pytest.raises(ValueError, match="Nobody_01.jpg"):
        training_boxes(tmp_path / "boxes.csv", samples)


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_compact_copy_gives_the_same_training_crops(tmp_path, data_dir):
    compact = _load_tool("compact_ytf68")
    dst = tmp_path / "compact"
    # small enough that every frame is shrunk
    assert compact.main([str(data_dir / "ytf68-mini"), str(dst), "--max-img-size", "32", "--n-jobs", "1"]) == 0
    original = load_ytf68(data_dir / "ytf68-mini")
    copy = load_ytf68(dst)
    assert [s.identity for s in copy] == [s.identity for s in original]
    for s in copy:
        with Image.open(s.image_path) as stored:
            assert stored.mode == "L"  # grayscale: the network sees luma only
        img = read_image(s.image_path)
        assert max(img.shape[:2]) < max(read_image(data_dir / "ytf68-mini" / "images" / s.image_path.name).shape[:2])
    want = build_cache(original, 32, detector="hog", n_jobs=1)
    got = build_cache(copy, 32, detector=None, n_jobs=1, boxes=training_boxes(dst / "boxes.csv", copy))
    assert list(got.box_source) == list(want.box_source)
    # the same crop up to resampling and JPEG: landmarks within 0.15 px (a shrunk frame's sides are rounded to
    # whole pixels, so x and y scale by up to 0.4% apart: 0.1 px at 32 px crops), pixels within a few grey levels
    np.testing.assert_allclose(got.landmarks, want.landmarks, atol=0.15)
    diff = np.abs(got.images.astype(float) - want.images.astype(float))
    assert diff.mean() < 4.0, diff.mean()


def test_train_cli_takes_boxes_and_saves_every_n_epochs(tmp_path, data_dir, capsys):
    from landmarker.model.crop import box_from_landmarks

    samples = load_ytf68(data_dir / "ytf68-mini")
    # boxes for two of the four frames only: those two take them, the others fall back
    write_boxes_csv(tmp_path / "boxes.csv",
                    [[s.image_path.name, *box_from_landmarks(s.landmarks)] for s in samples[:2]])
    data = f"ytf68:{data_dir / 'ytf68-mini'}"
    run = tmp_path / "run"
    args = ["train", "--data", data, "--val", data, "--out", str(run), "--img-size", "32", "--batch-size", "4",
            "--epochs", "3", "--save-every", "5", "--boxes", str(tmp_path / "boxes.csv"), "--workers", "1",
            "--flip-p", "0"]
    assert landmarker_main(args) == 0
    assert "train boxes from {'detector': 2, 'dataset': 0, 'landmarks': 2}" in capsys.readouterr().err
    assert json.load(open(run / "best.json"))["training"]["augment"]["flip_p"] == 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    # last.pt only at the end (epoch 3 < 5); it resumes from there
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 3


def _same_face_cache(n=4, size=32):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (2 * size, 2 * size), dtype=np.uint8)
    pts = (rng.random((68, 2)) * size + size / 2).astype(np.float32)
    return ContextCache(np.stack([img] * n), np.stack([pts] * n), np.array(["landmarks"] * n), size)


def _batches(data):
    data.reseed(7, 1)
    loader = torch.utils.data.DataLoader(data, batch_size=1, num_workers=2, worker_init_fn=reseed_worker)
    return [x for x, _ in loader]


def test_dataloader_workers_draw_their_own_augmentations():
    data = LandmarkDataset(_same_face_cache(), Augment(), seed=0)
    first = _batches(data)
    # items 0 and 1 go to workers 0 and 1: the same face must not get the same augmentation
    assert not torch.equal(first[0], first[1])
    # and the draws are reproducible
    assert all(torch.equal(a, b) for a, b in zip(first, _batches(data)))


def test_augment_strength_scales_ranges_not_probabilities():
    base = Augment()
    double = base.scaled(2.0)
    assert double.rotation_deg == 2 * base.rotation_deg and double.shift == 2 * base.shift
    assert double.flip_p == base.flip_p and double.blur_p == base.blur_p
    with pytest.raises(ValueError, match="strength"):
        base.scaled(-1)


@pytest.mark.parametrize("flip_p, mirrored", [(0.0, 0), (1.0, 20)])
def test_flip_p_sets_how_often_crops_are_mirrored(flip_p, mirrored):
    # a context crop bright on its left half: a mirrored crop is bright on its right
    n = 32
    ctx = np.zeros((2 * n, 2 * n), np.uint8)
    ctx[:, :n] = 255
    pts = np.full((68, 2), n, np.float32)
    rng = np.random.default_rng(0)
    aug = Augment(brightness=0, contrast=0, blur_p=0, flip_p=flip_p)
    crops = [augmented_crop(ctx, pts, n, rng, aug)[0] for _ in range(20)]
    assert sum(c[:, : n // 4].mean() < c[:, -n // 4 :].mean() for c in crops) == mirrored


@pytest.mark.parametrize("field", ["flip_p", "blur_p"])
def test_probabilities_outside_0_1_are_refused(field):
    with pytest.raises(ValueError, match=field):
        Augment(**{field: 1.5})


@pytest.mark.parametrize("option, value", [("--save-every", "0"), ("--workers", "-1")])
def test_train_refuses_a_bad_save_every_or_workers(tmp_path, data_dir, capsys, option, value):
    data = f"ytf68:{data_dir / 'ytf68-mini'}"
    args = ["train", "--data", data, "--val", data, "--out", str(tmp_path / "run"), option, value]
    assert landmarker_main(args) != 0
    assert f"{option} must be" in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.csv").exists()
