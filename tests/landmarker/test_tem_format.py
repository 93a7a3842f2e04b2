"""The ``tem`` dataset format (WebMorph/Psychomorph templates, FRL's 189 points): evaluation on the points
a template has, and nan points left out of the metrics."""

import json

import numpy as np
import pytest

from landmarker.cli import main as landmarker_main
from landmarker.inference.predictor import Landmarker
from landmarker.io.datasets import FRL_TO_IBUG, DatasetError, load_dataset, read_tem
from landmarker.io.decode import read_image
from landmarker.training.metrics import face_offsets_iod, nme


def _write_tem(path, points: np.ndarray) -> None:
    lines = [str(len(points))] + [f"{x:.3f}\t{y:.3f}" for x, y in points] + ["1", "# line definitions follow"]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def frl_folder(tmp_path, data_dir):
    """Two portraits with FRL templates: the model's own points at the 16 mapped places, junk elsewhere."""
    model = Landmarker()
    for name in ("A000360.jpg", "S000033.jpg"):
        src = data_dir / "portraits" / name
        (tmp_path / name).write_bytes(src.read_bytes())
        lm = model.predict(read_image(src))[0].landmarks
        tem = np.full((189, 2), 5.0, np.float32)  # junk: far from any landmark
        for ibug, frl in FRL_TO_IBUG.items():
            tem[frl] = lm[ibug]
        _write_tem(tmp_path / name.replace(".jpg", ".tem"), tem)
    return tmp_path


def test_tem_loads_the_16_mapped_points_and_nan_elsewhere(frl_folder):
    samples = load_dataset(f"tem:{frl_folder}")
    assert [s.identity for s in samples] == ["A000360", "S000033"]
    for s in samples:
        assert s.landmarks.dtype == np.float32 and s.landmarks.shape == (68, 2)
        present = ~np.isnan(s.landmarks[:, 0])
        assert sorted(np.flatnonzero(present)) == sorted(FRL_TO_IBUG)
        assert not (s.landmarks[present] == 5.0).any()  # the junk points are not used


def test_evaluate_scores_only_the_points_a_template_has(frl_folder, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert landmarker_main(["evaluate", "--data", f"tem:{frl_folder}", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["faces"] == 2 and row["detected"] == 2
    assert row["nme_mean"] < 0.01  # its own predictions; the junk points would give far more


def test_metrics_leave_out_nan_points():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, (3, 68, 2))
    gt[:, 36], gt[:, 45] = (10, 50), (60, 50)
    pred = gt + 1.0
    partial = gt.copy()
    partial[:, 0:17] = np.nan  # no jaw
    pred_far = pred.copy()
    pred_far[:, 0:17] += 100  # errors only where the labels have no point
    np.testing.assert_allclose(nme(pred_far, partial), nme(pred, gt))
    np.testing.assert_allclose(face_offsets_iod(pred_far, partial), face_offsets_iod(pred, gt))


def test_tem_faces_are_refused_for_training(frl_folder, tmp_path, capsys):
    assert landmarker_main(["train", "--data", f"tem:{frl_folder}", "--out", str(tmp_path / "run"),
                            "--epochs", "1", "--val-fraction", "0.5"]) == 2
    assert "for evaluation, not training" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_bad_templates_name_the_file(tmp_path, data_dir):
    (tmp_path / "a.jpg").write_bytes((data_dir / "portraits" / "A000360.jpg").read_bytes())
    (tmp_path / "a.tem").write_text("189\n1 2\n")
    with pytest.raises(DatasetError, match="a.tem"):
        read_tem(tmp_path / "a.tem")
    _write_tem(tmp_path / "a.tem", np.zeros((50, 2)))
    with pytest.raises(DatasetError, match="50-point template"):
        load_dataset(f"tem:{tmp_path}")
