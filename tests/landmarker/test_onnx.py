"""ONNX export and the ONNX Runtime backend give the same landmarks as PyTorch."""

import json

import numpy as np
import onnx
import pytest

from landmarker.cli import main as landmarker_main
from landmarker.inference.predictor import Landmarker
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import read_landmarks_csv
from landmarker.model.export import export_onnx
from landmarker.model.network import SHIPPED_WEIGHTS, load_card

pytestmark = [pytest.mark.slow, pytest.mark.train]


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return export_onnx(None, tmp_path_factory.mktemp("onnx") / "model.onnx")


def test_export_writes_valid_graph_with_dynamic_batch_and_card(onnx_path):
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    size = load_card(SHIPPED_WEIGHTS)["input"]["img_size"]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [1, size, size] and isinstance(dims[0], str)
    out_dims = [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims[1] == 136
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    assert card["format"] == "onnx"
    assert card["crop_rule"] == load_card(SHIPPED_WEIGHTS)["crop_rule"]


def test_onnx_and_torch_landmarks_agree(onnx_path, data_dir):
    paths = sorted((data_dir / "portraits").glob("*.jpg")) + [data_dir / "dlib-faces" / "2008_002470.jpg"]
    images = [read_image(p) for p in paths]
    ours = Landmarker(backend="torch")
    ort = Landmarker(onnx_path, backend="onnx", detector=ours.detector, num_threads=1)
    faces_t, faces_o = ours.predict_many(images), ort.predict_many(images)
    assert [len(f) for f in faces_t] == [len(f) for f in faces_o]
    assert sum(len(f) for f in faces_t) >= 5  # two portraits and a group photo
    for ft, fo in zip(faces_t, faces_o):
        for a, b in zip(ft, fo):
            assert a.box == b.box
            assert b.landmarks.dtype == np.float32 and b.landmarks.shape == (68, 2)
            assert np.abs(a.landmarks - b.landmarks).max() < 0.5


def test_onnx_backend_refuses_missing_file_and_torch_refuses_onnx(tmp_path, onnx_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        Landmarker(tmp_path / "nope.onnx", backend="onnx", detector=None)
    with pytest.raises(ValueError, match="onnx backend"):
        Landmarker(onnx_path, backend="torch", detector=None)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    bad.with_suffix(".json").write_text(onnx_path.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="bad.onnx"):
        Landmarker(bad, backend="onnx", detector=None)


def test_cli_export_then_predict_with_onnx_backend(tmp_path, data_dir, capsys):
    model = tmp_path / "m.onnx"
    assert landmarker_main(["export", "--format", "onnx", "--out", str(model)]) == 0
    assert model.is_file() and model.with_suffix(".json").is_file()
    out = tmp_path / "landmarks.csv"
    code = landmarker_main(["predict", str(data_dir / "portraits"), "--out", str(out),
                            "--backend", "onnx", "--weights", str(model)])
    assert code == 0
    faces = read_landmarks_csv(out)
    assert sorted(faces) == ["A000360.jpg", "S000033.jpg"]
    assert all(len(f) == 1 for f in faces.values())


def test_cli_export_bad_weights_exits_2(tmp_path, capsys):
    code = landmarker_main(["export", "--format", "onnx", "--out", str(tmp_path / "m.onnx"),
                            "--weights", str(tmp_path / "missing.safetensors")])
    assert code == 2
    assert "missing.safetensors" in capsys.readouterr().err
