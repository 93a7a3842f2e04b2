import csv
import json

import numpy as np
import pytest
import torch

from landmarker.cli import main as landmarker_main
from landmarker.io.datasets import load_dlib_xml, load_ytf68
from landmarker.model.network import build_model, load_model
from landmarker.training.data import LandmarkDataset, build_cache
from landmarker.training.train import landmark_loss, wing_loss

pytestmark = [pytest.mark.slow, pytest.mark.train]


def test_overfits_a_handful_of_faces(data_dir):
    torch.manual_seed(0)
    samples = load_ytf68(data_dir / "ytf68-mini") + load_dlib_xml(
        data_dir / "dlib-faces" / "training_with_face_landmarks.xml"
    )[:4]
    data = LandmarkDataset(build_cache(samples, 64, detector=None, n_jobs=1), aug=None)
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.stack([data[i][1] for i in range(len(data))])
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        loss = landmark_loss("mse", model(x), y, 64)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, losses


def test_wing_loss_matches_the_paper_formula():
    w, eps = 10.0, 2.0
    x = torch.tensor([0.5, 3.0, 9.9, 10.0, 25.0])
    c = w - w * np.log(1 + w / eps)
    expected = [w * np.log(1 + v / eps) if v < w else v - c for v in x.tolist()]
    for v, e in zip(x, expected):
        assert wing_loss(v[None], torch.zeros(1)).item() == np_approx(e)
    # continuous at |x| = w
    assert abs(wing_loss(torch.tensor([w - 1e-4]), torch.zeros(1))
               - wing_loss(torch.tensor([w + 1e-4]), torch.zeros(1))) < 1e-3


def np_approx(v):
    import pytest

    return pytest.approx(v, rel=1e-5)


def test_train_cli_writes_run_and_resumes(tmp_path, data_dir, capsys):
    data = f"ytf68:{data_dir / 'ytf68-mini'}"
    run = tmp_path / "run"
    args = ["train", "--data", data, "--val", data, "--out", str(run), "--img-size", "32",
            "--batch-size", "4", "--detector", "none", "--loss", "mse"]
    assert landmarker_main(args + ["--epochs", "2"]) == 0
    for name in ("metrics.csv", "loss_curve.png", "last.pt", "best.safetensors", "best.json"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # a finished run resumed as configured has nothing left to do
    assert landmarker_main(args + ["--epochs", "2", "--resume"]) == 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # more epochs change the learning-rate schedule: a new run, not a resume
    capsys.readouterr()
    assert landmarker_main(args + ["--epochs", "3", "--resume"]) == 2
    assert "epochs 2 (now 3)" in capsys.readouterr().err
    model, card = load_model(run / "best.safetensors")
    assert card["input"]["img_size"] == 32 and card["training"]["loss"] == "mse"


def test_train_cli_reports_bad_data(tmp_path, capsys):
    assert landmarker_main(["train", "--data", f"ytf68:{tmp_path}", "--out", str(tmp_path / "r")]) == 2
    assert "landmarks.csv" in capsys.readouterr().err


def test_pca_shape_model_reconstructs_training_shapes(data_dir):
    from landmarker.training.data import Augment
    from landmarker.training.train import fit_shape_model

    samples = load_dlib_xml(data_dir / "dlib-faces" / "training_with_face_landmarks.xml")
    data = LandmarkDataset(build_cache(samples, 32, detector=None, n_jobs=1), aug=Augment())
    mean, basis, explained = fit_shape_model(data, 8, seed=0)
    assert mean.shape == (136,) and basis.shape == (8, 136) and 0.5 < explained <= 1.0
    # components are orthogonal, ordered by variance
    norms = basis.norm(dim=1)
    assert (norms[:-1] >= norms[1:]).all()
    unit = basis / norms[:, None]
    torch.testing.assert_close(unit @ unit.T, torch.eye(8), atol=1e-4, rtol=0)
    # the shapes seen project onto the model with small residual
    y = torch.stack([data[i][1] for i in range(len(data))]) - mean
    resid = y - (y @ unit.T) @ unit
    assert resid.norm() < 0.5 * y.norm()


def test_train_on_several_datasets_at_once(tmp_path, data_dir):
    ytf = f"ytf68:{data_dir / 'ytf68-mini'}"
    xml = f"dlib-xml:{data_dir / 'dlib-faces' / 'training_with_face_landmarks.xml'}"
    run = tmp_path / "run"
    args = ["train", "--data", ytf, "--data", xml, "--val", ytf, "--out", str(run), "--img-size", "32",
            "--batch-size", "8", "--detector", "none", "--epochs", "1"]
    assert landmarker_main(args) == 0
    card = json.loads((run / "best.json").read_text())
    assert card["training"]["train_faces"] == 4 + 18  # both sets, not only the first
    assert card["training"]["data"] == f"{ytf} + {xml}"


class _Faces(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def reseed(self, *seed):
        pass

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.zeros(1), torch.zeros(1)


@pytest.mark.parametrize("n,batch", [(10, 4), (8, 4), (3, 4), (4, 4), (33, 32), (5309, 32)])
def test_the_steps_announced_are_the_batches_the_loader_gives(n, batch):
    """The log's "N epochs of S steps" and the learning-rate schedule count the batches trained on
    (the last partial batch is dropped): the schedule reaches its end at the last step."""
    from landmarker.training.config import TrainConfig
    from landmarker.training.train import _epoch_loader, steps_in_epoch

    cfg = TrainConfig(data="x", out="y", batch_size=batch)
    assert steps_in_epoch(n, batch) == len(_epoch_loader(_Faces(n), cfg, 0, torch.device("cpu")))
