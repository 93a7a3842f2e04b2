"""Training hygiene: resume equals an uninterrupted run, the recorded configuration,
non-finite losses, the PCA head carried to a new shape model, and the crop degradations."""

import dataclasses
import json

import numpy as np
import pytest
import torch

import landmarker.training.train as T
from landmarker.model.network import build_model
from landmarker.training.data import Augment, augmented_crop

pytestmark = [pytest.mark.slow, pytest.mark.train]


def _cfg(data_dir, out, **kw) -> T.TrainConfig:
    """Four faces, trained and validated on, 32 px crops, one step an epoch (the batch
    order still decides which face gets which augmentation)."""
    data = f"ytf68:{data_dir / 'ytf68-mini'}"
    kw = {"epochs": 2, "batch_size": 4, **kw}
    return T.TrainConfig(data=data, val=data, out=str(out), img_size=32, detector=None, **kw)


class Stop(Exception):
    """Stands for the run being killed."""


def _without_seconds(rows):
    return [{k: v for k, v in r.items() if k not in ("seconds", "data_seconds")} for r in rows]


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path, data_dir, monkeypatch):
    straight = _cfg(data_dir, tmp_path / "straight")
    T.train(straight)

    # the same run, killed right after epoch 1's checkpoint, then resumed
    cfg = dataclasses.replace(straight, out=str(tmp_path / "resumed"))
    save = T.save_checkpoint

    def save_then_stop(path, model, opt, sched, epoch, best, cfg):
        save(path, model, opt, sched, epoch, best, cfg)
        if epoch == 1:
            raise Stop

    monkeypatch.setattr(T, "save_checkpoint", save_then_stop)
    with pytest.raises(Stop):
        T.train(cfg)
    assert [r["epoch"] for r in T.read_metrics(tmp_path / "resumed" / "metrics.csv")] == [1]
    monkeypatch.undo()
    T.train(dataclasses.replace(cfg, resume=True))

    want = T.read_metrics(tmp_path / "straight" / "metrics.csv")
    got = T.read_metrics(tmp_path / "resumed" / "metrics.csv")
    assert [r["epoch"] for r in got] == [1, 2]
    for w, g in zip(_without_seconds(want), _without_seconds(got)):
        assert g == pytest.approx(w, rel=1e-5, abs=1e-9)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-5, atol=1e-6, msg=k)


def test_resume_with_another_configuration_is_refused(tmp_path, data_dir):
    run = tmp_path / "run"
    cfg = _cfg(data_dir, run, epochs=1)
    with pytest.raises(ValueError, match="nothing to resume from"):
        T.train(dataclasses.replace(cfg, resume=True))
    T.train(cfg)
    recorded = torch.load(run / "last.pt", weights_only=True)["config"]
    assert recorded == json.loads(json.dumps(recorded))
    assert recorded["lr"] == cfg.lr and recorded["augment"]["flip_p"] == 0.5

    # changed fields are named with both values; fields free to change are not named
    with pytest.raises(ValueError) as err:
        T.train(dataclasses.replace(cfg, resume=True, lr=0.01, workers=1))
    assert "lr 0.001 (now 0.01)" in str(err.value) and "workers" not in str(err.value)
    with pytest.raises(ValueError, match=r"augment\.flip_p 0\.5 \(now 0\.0\)"):
        T.train(dataclasses.replace(cfg, resume=True, augment=Augment(flip_p=0.0)))
    with pytest.raises(ValueError, match="epochs 1 \\(now 2\\)"):
        T.train(dataclasses.replace(cfg, resume=True, epochs=2))

    # another spelling of the run folder, other workers / save_every, the data as a list: accepted
    before = (run / "last.pt").read_bytes()
    (tmp_path / "x").mkdir()
    T.train(dataclasses.replace(cfg, resume=True, out=str(tmp_path / "x" / ".." / "run"), workers=1,
                                save_every=3, data=[cfg.data]))
    assert (run / "last.pt").read_bytes() == before  # nothing left to train
    assert [r["epoch"] for r in T.read_metrics(run / "metrics.csv")] == [1]


def test_a_non_finite_loss_stops_the_run(tmp_path, data_dir, monkeypatch):
    loss_of = T.landmark_loss
    steps = []

    def nan_at_third_training_step(name, pred, target, img_size):
        loss = loss_of(name, pred, target, img_size)
        if pred.requires_grad:  # a training step, not validation
            steps.append(1)
            if len(steps) == 3:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(T, "landmark_loss", nan_at_third_training_step)
    run = tmp_path / "run"
    # two steps an epoch: the third is epoch 2, step 1
    with pytest.raises(ValueError, match=r"epoch 2, step 1: the loss is nan; lower --lr or check the data"):
        T.train(_cfg(data_dir, run, batch_size=2))
    assert len(steps) == 3  # stopped at once
    assert [r["epoch"] for r in T.read_metrics(run / "metrics.csv")] == [1]
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_reexpressed_pca_head_gives_the_old_outputs():
    g = torch.Generator().manual_seed(0)
    old = build_model("pca", 4)
    m_old = 0.1 * torch.randn(136, generator=g)
    b_old = 0.02 * torch.randn(4, 136, generator=g)
    old.fc.set_shape_model(m_old, b_old)
    with torch.no_grad():
        old.fc.scores.weight.normal_(0.0, 0.05, generator=g)
        old.fc.scores.bias.normal_(0.0, 1.0, generator=g)
    # a new 8-component model whose span holds the old basis and the old mean
    b_new = torch.cat([torch.randn(4, 4, generator=g) @ b_old, 0.02 * torch.randn(4, 136, generator=g)])
    m_new = m_old - 0.7 * b_new[1] + 0.4 * b_new[6]
    new = build_model("pca", 8)
    new.fc.set_shape_model(m_new, b_new)

    state = T.reexpress_pca_head(old.state_dict(), new.fc.mean, new.fc.basis)
    assert torch.equal(state["fc.mean"], m_new) and torch.equal(state["fc.basis"], b_new)
    assert state["fc.scores.weight"].shape == (8, 512) and state["fc.scores.bias"].shape == (8,)
    new.load_state_dict(state)
    old.eval(), new.eval()
    x = torch.randn(3, 1, 32, 32, generator=g)
    with torch.no_grad():
        want, got = old(x), new(x)
    assert (want - m_old).abs().max() > 0.1  # the old head does not just give its mean
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("field", ["lowres_p", "jpeg_p", "noise_p"])
def test_degradations_change_pixels_not_landmarks(field):
    n = 32
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, 256, (2 * n, 2 * n), dtype=np.uint8)
    pts = (rng.random((68, 2)) * n + n / 2).astype(np.float32)
    quiet = {"brightness": 0.0, "contrast": 0.0, "blur_p": 0.0}
    plain, plain_pts = augmented_crop(ctx, pts, n, np.random.default_rng(5), Augment(**quiet, **{field: 0.0}))
    degraded, pts_after = augmented_crop(ctx, pts, n, np.random.default_rng(5), Augment(**quiet, **{field: 1.0}))
    assert degraded.shape == (n, n) and degraded.dtype == np.uint8
    assert np.abs(degraded.astype(float) - plain.astype(float)).mean() > 0.5
    np.testing.assert_array_equal(pts_after, plain_pts)


@pytest.mark.parametrize("field", ["lowres_p", "jpeg_p", "noise_p"])
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_degradation_probabilities_outside_0_1_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        Augment(**{field: value})
