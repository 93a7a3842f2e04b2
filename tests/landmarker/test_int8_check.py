"""The int8 check at load time (landmarker.model.int8_check, OnnxBackend) and the quantisation tool.

The shipped int8 model carries reference outputs; a CPU whose int8 kernels move
them beyond the bound gets the float path instead, with a one-line warning. Broken
int8 kernels are simulated by a session whose int8 outputs are pushed away.
"""

import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT

from landmarker.cli import main as landmarker_main
from landmarker.inference.predictor import Landmarker
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import read_landmarks_csv
from landmarker.model import backends
from landmarker.model.card import SHIPPED_ONNX, ModelCard, card_path
from landmarker.model.engines import ENGINES, installed
from landmarker.model.int8_check import (
    DRIFT_BOUND,
    cpu_int8_features,
    describe_cpu,
    drift_iod,
    load_reference,
    reference_path,
    save_reference,
)

ROOT = REPO_ROOT
sys.path.insert(0, str(ROOT / "tools"))
from make_golden import GOLDEN_CSV  # noqa: E402

pytestmark = [pytest.mark.slow]


def _copy_model(dst: Path, name: str = "model") -> Path:
    """The shipped int8 model, its card and reference outputs under a new path (a fresh load-time check)."""
    onnx = dst / f"{name}.onnx"
    shutil.copyfile(SHIPPED_ONNX, onnx)
    shutil.copyfile(card_path(SHIPPED_ONNX), card_path(onnx))
    shutil.copyfile(reference_path(SHIPPED_ONNX), reference_path(onnx))
    return onnx


def _broken(session):
    """A session whose int8 kernels 'saturate': every output moved by 5% of the crop."""
    return replace(session, run=lambda x: session(x) + np.float32(0.05))


def _break_int8_of(monkeypatch, engines):
    real = backends.open_session

    def session(engine, path, num_threads=None, float_path=False):
        s = real(engine, path, num_threads, float_path)
        return _broken(s) if engine in engines and not float_path else s

    monkeypatch.setattr(backends, "open_session", session)


@pytest.fixture
def broken_int8(monkeypatch):
    """Int8 kernels that drift on 'this CPU' in every engine; ONNX Runtime's float path is left as it is."""
    _break_int8_of(monkeypatch, ENGINES)


def test_shipped_model_has_reference_outputs_and_passes_its_check_here():
    ref = load_reference(reference_path(SHIPPED_ONNX))
    assert ref.crops.dtype == np.uint8 and ref.crops.shape[0] >= 4 and ref.targets.shape == (len(ref.crops), 136)
    card = json.loads(card_path(SHIPPED_ONNX).read_text())
    assert card["onnx"]["int8_check"]["reference"] == reference_path(SHIPPED_ONNX).name
    assert "7-bit" in card["onnx"]["quantisation"]
    backend = backends.OnnxBackend(SHIPPED_ONNX)
    # a model quantised as shipped stays within the bound on every CPU; on this one too
    assert backend.check.path == "int8", backend.check.describe()
    assert backend.check.drift <= DRIFT_BOUND
    assert drift_iod(backend(ref.inputs()), ref.targets).max() == pytest.approx(backend.check.drift, abs=1e-6)


def test_drifting_int8_kernels_fall_back_to_the_float_path_with_one_warning(tmp_path, broken_int8, caplog):
    model = _copy_model(tmp_path)
    with caplog.at_level(logging.WARNING, logger="landmarker.model.backends"):
        backend = backends.OnnxBackend(model)
    assert backend.check.path == "float" and backend.engine == "onnxruntime"
    assert backend.check.drift > DRIFT_BOUND and backend.check.float_drift <= DRIFT_BOUND
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "float path" in lines[0] and "model.onnx" in lines[0] and "\n" not in lines[0]
    assert lines[0].count("int8 kernels drift") == 2 and "OpenVINO" in lines[0] and "ONNX Runtime" in lines[0]
    ref = load_reference(reference_path(model))
    want = backends.run_session(backends.onnx_session(model, float_path=True), ref.inputs())
    np.testing.assert_array_equal(backend(ref.inputs()), want)  # the float session runs, not the broken one
    # a second load in the same process reuses the check: no second warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="landmarker.model.backends"):
        assert backends.OnnxBackend(model).check.path == "float"
    assert not caplog.records


def test_fallback_landmarks_match_the_fp32_network_on_the_golden_faces(tmp_path, broken_int8, data_dir):
    model = Landmarker(_copy_model(tmp_path))
    assert model.backend.check.path == "float"
    drifts = []
    for name, faces in read_landmarks_csv(GOLDEN_CSV).items():  # the fp32 network's landmarks
        got = model.predict(read_image(data_dir / name))
        assert len(got) == len(faces)
        for g, f in zip(got, faces):
            iod = np.linalg.norm(f.landmarks[36] - f.landmarks[45])
            drifts.append(np.linalg.norm(g.landmarks - f.landmarks, axis=1) / iod)
    assert max(d.max() for d in drifts) < DRIFT_BOUND
    assert np.mean([d.mean() for d in drifts]) < 0.005


def test_reference_outputs_that_even_the_float_path_misses_are_refused(tmp_path):
    model = _copy_model(tmp_path)
    ref = load_reference(reference_path(model))
    save_reference(reference_path(model), ref.crops, ref.targets + np.float32(0.05), ref.sources)
    with pytest.raises(ValueError, match="model.reference.npz") as err:
        backends.OnnxBackend(model)
    assert "do not belong together" in str(err.value)
    reference_path(model).write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="not a reference-output file"):
        backends.OnnxBackend(model)


def test_int8_model_without_reference_outputs_runs_on_the_float_path(tmp_path, caplog):
    model = _copy_model(tmp_path)
    reference_path(model).unlink()
    with caplog.at_level(logging.WARNING, logger="landmarker.model.backends"):
        backend = backends.OnnxBackend(model)
    assert backend.check.path == "float" and "no model.reference.npz" in backend.check.reason
    assert any("without reference outputs" in r.getMessage() for r in caplog.records)


def test_every_labelling_command_takes_the_checked_path(tmp_path, broken_int8, data_dir, capsys):
    from jobs.__main__ import main as morphkit_main

    model = _copy_model(tmp_path)
    photos = data_dir / "portraits"
    assert morphkit_main(["bulk-label", str(photos), "--out", str(tmp_path / "bulk"), "--weights", str(model),
                          "-v", "--n-jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "float path, int8 kernels off" in err and "CPU" in err
    assert landmarker_main(["predict", str(photos), "--out", str(tmp_path / "p.csv"), "--weights", str(model)]) == 0
    float_model = Landmarker(model)
    for path in (tmp_path / "bulk" / "landmarks.csv", tmp_path / "p.csv"):
        rows = read_landmarks_csv(path)
        for name, faces in rows.items():
            want = float_model.predict(read_image(photos / name))
            np.testing.assert_allclose(faces[0].landmarks, want[0].landmarks, atol=0.01)


def test_predict_verbose_names_the_arithmetic_and_the_cpu(tmp_path, data_dir, capsys):
    assert landmarker_main(["predict", str(data_dir / "portraits" / "A000360.jpg"), "--out",
                            str(tmp_path / "p.csv"), "-v"]) == 0
    err = capsys.readouterr().err
    assert "int8 kernels" in err and "resnet18_ibug68.onnx" in err
    assert cpu_int8_features()["cpu"] in err


def test_cpu_features_name_the_int8_flags():
    f = cpu_int8_features()
    assert f["cpu"]
    if f["flags"] is not None:  # Linux
        assert set(f["flags"]) == {"avx2", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8"}
        line = describe_cpu(f)
        assert all(k in line for k in ("avx512_vnni", "avx_vnni", "amx_int8"))


def test_default_quantisation_gives_int8_kernels_equal_to_the_float_path_here(tmp_path, data_dir):
    """On a CPU without VNNI, 8-bit weights saturate (int8 kernels far from the float path); the default
    7-bit weights must agree with the float path on every CPU."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from landmarker.model.crop import normalise
    from landmarker.model.export import export_onnx
    from landmarker.training.quantize import detected_crops, int8_drift, quantize_int8

    fp32 = export_onnx(None, tmp_path / "fp32.onnx")
    crops, _ = detected_crops(sorted((data_dir / "dlib-faces").glob("20*.jpg")) +
                              sorted((data_dir / "portraits").glob("*.jpg")), ModelCard.load(fp32))
    crops = normalise(crops)
    q = quantize_int8(fp32, tmp_path / "q.onnx", crops)
    want = backends.run_session(backends.onnx_session(q, float_path=True), crops)
    d = int8_drift(q, want, crops)
    assert d["int8"]["worst"] < 0.01, f"int8 kernels {100 * d['int8']['worst']:.2f}% IOD from the float path"


def test_quantize_tool_writes_model_reference_and_card(tmp_path, data_dir):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    out = tmp_path / "m.onnx"
    images = [str(p) for p in sorted((data_dir / "portraits").glob("*.jpg"))] + [
        str(data_dir / "dlib-faces" / "2008_002470.jpg")]
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "quantize_onnx.py"), "--data",
                        f"ytf68:{data_dir / 'ytf68-hard'}", "--val-fraction", "0", "--n", "8", "--reference-images",
                        *images, "--reference-faces", "3", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads(card_path(out).read_text())
    check = card["onnx"]["int8_check"]
    assert check["reference"] == "m.reference.npz" and len(check["reference_faces"]) == 3
    assert check["measured_at_export"]["cpu"] == describe_cpu()
    assert check["measured_at_export"]["reference images"]["int8_kernels"]["worst"] <= DRIFT_BOUND
    assert load_reference(reference_path(out)).crops.shape == (3, 128, 128)
    assert backends.OnnxBackend(out).check.path == "int8"


def test_every_shipped_weights_file_is_package_data():
    """A wheel without the reference outputs would run the int8 model on the float path everywhere."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["landmarker"]
    weights = SHIPPED_ONNX.parent
    for f in weights.iterdir():
        rel = f"{weights.name}/{f.name}"
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not in [tool.setuptools.package-data]"


needs_openvino = pytest.mark.skipif(not installed("openvino"), reason="openvino is not installed")


@needs_openvino
def test_openvino_is_the_default_engine_and_each_engine_can_be_named():
    ref = load_reference(reference_path(SHIPPED_ONNX))
    assert backends.load_backend().engine == "openvino"
    outs = {}
    for kind in ("openvino", "onnxruntime"):
        backend = backends.load_backend(kind)
        assert backend.engine == kind and backend.check.path == "int8" and backend.check.engine == kind
        outs[kind] = backend(ref.inputs())
        assert drift_iod(outs[kind], ref.targets).max() <= DRIFT_BOUND
    assert backends.describe_backend(backends.load_backend("openvino")).startswith("OpenVINO ")
    # two engines, two sets of int8 kernels: close, not identical
    assert 0 < drift_iod(outs["openvino"], outs["onnxruntime"]).max() < 2 * DRIFT_BOUND


def test_without_openvino_the_default_is_onnx_runtime(monkeypatch):
    from landmarker.model import engines

    monkeypatch.setattr(engines, "installed", lambda name: name != "openvino")
    assert engines.default_engine() == "onnxruntime"
    with pytest.raises(ImportError, match="pip install openvino"):
        engines.open_session("openvino", SHIPPED_ONNX)


@needs_openvino
def test_openvino_int8_drifting_falls_back_to_onnx_runtime_int8(tmp_path, monkeypatch, caplog):
    _break_int8_of(monkeypatch, ("openvino",))
    model = _copy_model(tmp_path)
    with caplog.at_level(logging.WARNING, logger="landmarker.model.backends"):
        backend = backends.OnnxBackend(model, engine="openvino")
    assert backend.engine == "onnxruntime" and backend.check.path == "int8"
    assert "OpenVINO" in backend.check.reason and "OpenVINO" in backend.check.describe()
    [line] = [r.getMessage() for r in caplog.records]
    assert "OpenVINO" in line and "running on ONNX Runtime" in line and "int8 kernels" in line
    ref = load_reference(reference_path(model))
    assert drift_iod(backend(ref.inputs()), ref.targets).max() <= DRIFT_BOUND


@needs_openvino
def test_openvino_sends_nothing_and_serves_threads_at_once(monkeypatch):
    """We only read and compile models: no socket is opened (telemetry belongs to openvino.convert_model)."""
    opened = []

    def refuse(*args, **kwargs):
        opened.append(args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    ref = load_reference(reference_path(SHIPPED_ONNX))
    backend = backends.OnnxBackend(SHIPPED_ONNX, num_threads=1, engine="openvino", batch_size=3)
    want = backend(ref.inputs())
    got = [None] * 4

    def work(i):
        got[i] = backend(ref.inputs()[i:] if i % 2 else ref.inputs())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, g in enumerate(got):
        np.testing.assert_allclose(g, want[i:] if i % 2 else want, atol=1e-5)
    assert not opened
