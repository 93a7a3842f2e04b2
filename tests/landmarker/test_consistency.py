"""Semi-supervised equivariance consistency: views map back to the same context landmarks."""

import numpy as np
import pytest
import torch

from landmarker.cli import main as landmarker_main
from landmarker.model import crop as C
from landmarker.training.consistency import UnlabelledPairs, build_unlabelled_cache, consistency_loss, to_context
from landmarker.training.data import Augment, random_crop_matrix
from morphkit.ibug68 import MIRROR

pytestmark = [pytest.mark.slow, pytest.mark.train]


def _context_landmarks(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (n + rng.uniform(-0.4, 0.4, (68, 2)) * n).astype(np.float32)  # around the context centre


def test_true_view_landmarks_map_back_to_the_context_landmarks():
    n = 32
    ctx_pts = _context_landmarks(n)
    rng = np.random.default_rng(0)
    preds, invs, flips = [], [], []
    for flip_p in (0.0, 1.0, 0.0, 1.0):
        m, flip = random_crop_matrix(n, rng, Augment(flip_p=flip_p))
        pts = C.apply_affine(ctx_pts, m)
        if flip:
            pts = pts[MIRROR]  # as training labels a mirrored crop
        preds.append(C.to_targets(pts, n).reshape(-1))
        invs.append(C.invert_affine(m))
        flips.append(flip)
    assert flips == [False, True, False, True]
    back = to_context(torch.tensor(np.array(preds)), torch.tensor(np.array(invs), dtype=torch.float32),
                      torch.tensor(flips), n)
    np.testing.assert_allclose(back.numpy(), np.broadcast_to(ctx_pts, back.shape), atol=1e-3)
    # forgetting the re-ordering of a mirrored view would not map back
    wrong = to_context(torch.tensor(np.array(preds[1:2])), torch.tensor(np.array(invs[1:2]), dtype=torch.float32),
                       torch.tensor([False]), n)
    assert np.abs(wrong.numpy()[0] - ctx_pts).max() > 1.0


class _Constant(torch.nn.Module):
    """Predicts the same crop landmarks whatever the crop: not equivariant."""

    def __init__(self):
        super().__init__()
        self.out = torch.nn.Parameter(torch.zeros(136))

    def forward(self, x):
        return self.out.expand(len(x), 136) + 0 * x.mean()


def test_consistency_loss_penalises_a_model_that_ignores_the_transform(data_dir):
    contexts = build_unlabelled_cache(data_dir / "portraits", 32)
    assert contexts.shape == (2, 64, 64) and contexts.dtype == np.uint8
    pairs = UnlabelledPairs(contexts, 32, Augment(flip_p=0.5), seed=0)
    batch = next(iter(torch.utils.data.DataLoader(pairs, batch_size=2)))
    xa, xb, inv_a, inv_b, flip_a, flip_b = batch
    assert xa.shape == (2, 1, 32, 32) and inv_a.shape == (2, 2, 3)
    loss = consistency_loss(_Constant(), batch, 32, torch.device("cpu"))
    assert loss.item() > 0.1  # the two views differ, so constant predictions disagree in the context
    loss.backward()  # and the loss is differentiable


def test_train_with_unlabelled_portraits(tmp_path, data_dir, capsys):
    data = f"ytf68:{data_dir / 'ytf68-mini'}"
    args = ["train", "--data", data, "--val", data, "--out", str(tmp_path / "r"), "--img-size", "32",
            "--batch-size", "4", "--detector", "none", "--epochs", "1"]
    assert landmarker_main(args + ["--unlabelled", str(data_dir / "portraits"), "--unlabelled-batch", "2"]) == 0
    assert "unlabelled faces 2" in capsys.readouterr().err
    (tmp_path / "blank").mkdir()
    assert landmarker_main(args + ["--out", str(tmp_path / "r2"), "--unlabelled", str(tmp_path / "blank")]) == 2
    assert "no face found" in capsys.readouterr().err
    assert landmarker_main(args + ["--out", str(tmp_path / "r3"), "--unlabelled", str(data_dir / "portraits"),
                                   "--consistency-weight", "-1"]) == 2
    assert "--consistency-weight" in capsys.readouterr().err
