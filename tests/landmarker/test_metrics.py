import numpy as np
import pytest

from landmarker.training.metrics import ced_curve, nme, summarise


def _face(iod=50.0):
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (68, 2))
    gt[36], gt[45] = (10, 40), (10 + iod, 40)
    return gt


def test_nme_of_constant_offset_is_offset_over_interocular():
    gt = _face(50.0)
    pred = gt + np.array([3.0, 4.0])  # 5 px everywhere
    assert nme(pred[None], gt[None])[0] == pytest.approx(5.0 / 50.0)


def test_summary_and_failures():
    s = summarise(np.array([0.02, 0.04, 0.2, np.inf]), np.array([1.0, 2.0, 3.0, np.inf]))
    assert s["faces"] == 4
    assert s["failure_rate"] == pytest.approx(0.5)
    assert s["nme_mean"] == pytest.approx((0.02 + 0.04 + 0.2) / 3)
    assert s["mae_px"] == pytest.approx(2.0)


def test_ced_is_monotone_and_ends_at_share_below_max():
    x, frac = ced_curve(np.array([0.01, 0.03, 0.05, 0.5]), max_nme=0.1)
    assert np.all(np.diff(frac) >= 0)
    assert frac[0] == 0 and frac[-1] == pytest.approx(0.75)


def test_nme_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        nme(np.zeros((2, 68, 2)), np.zeros((3, 68, 2)))
