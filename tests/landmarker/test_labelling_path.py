"""One labelling path: torch stays out of inference, backends follow the weights file,
worker threads give the same numbers as one, and the ``morphkit`` command."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs.__main__ import main as jobs_main
from landmarker.inference.labelling import ModelSpec, label_images
from landmarker.inference.parallel import label_chunks, workers_for
from landmarker.io.face import box_iou
from landmarker.io.landmarks_csv import read_landmarks_csv
from landmarker.model.backends import resolve_backend
from landmarker.model.card import SHIPPED_ONNX, SHIPPED_WEIGHTS


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_morphkit_and_labelling_never_import_torch(data_dir):
    mods = _modules_after("import morphkit")
    assert "torch" not in mods and "torchvision" not in mods
    img = data_dir / "portraits" / "A000360.jpg"
    mods = _modules_after(
        "from landmarker.inference.labelling import ModelSpec, label_images\n"
        f"r = label_images([({str(img)!r}, 'a.jpg')], ModelSpec())\n"
        "assert r[0].status == 'ok' and r[0].faces[0].landmarks.shape == (68, 2)\n"
        "import jobs.bulk_label, jobs.team_means, jobs.morph_movie, landmarker.predict, landmarker.training.evaluate"
    )
    assert "openvino" in mods  # the default engine ran; the fallback engine was not even imported
    assert "onnxruntime" not in mods
    assert "torch" not in mods and "torchvision" not in mods


def test_backend_follows_the_weights_file(tmp_path):
    assert resolve_backend(None, None) == ("onnx", SHIPPED_ONNX)
    assert resolve_backend("torch", None) == ("torch", SHIPPED_WEIGHTS)
    assert resolve_backend(None, tmp_path / "m.onnx") == ("onnx", tmp_path / "m.onnx")
    assert resolve_backend(None, tmp_path / "m.safetensors") == ("torch", tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="landmarker export"):
        resolve_backend("onnx", tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="onnx backend"):
        resolve_backend("torch", tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("tflite", None)


def test_shipped_onnx_shares_the_model_card():
    card = json.loads(SHIPPED_WEIGHTS.with_suffix(".json").read_text())
    assert SHIPPED_ONNX.with_suffix(".json") == SHIPPED_WEIGHTS.with_suffix(".json")
    assert "int8" in card["onnx"]["quantisation"] and SHIPPED_ONNX.stat().st_size < 20e6


def test_workers_share_out_the_cores():
    from landmarker.inference.parallel import cpu_count

    assert workers_for(-1, 100) == (cpu_count(), 1)  # one worker per core, each on one core
    assert workers_for(1, 100) == (1, 1)
    assert workers_for(4, 2) == (2, 2)  # never more workers than tasks; the spare cores go to their networks
    with pytest.raises(ValueError, match="n-jobs"):
        workers_for(0, 3)


def test_label_chunks_keeps_order_on_threads():
    def work(chunk, threads):
        return [x * 2 for x in chunk]

    chunks = [[i, i + 1] for i in range(0, 40, 2)]
    assert list(label_chunks(work, chunks, n_jobs=2)) == [[x * 2 for x in c] for c in chunks]
    assert list(label_chunks(work, [], n_jobs=2)) == []


def test_threads_label_like_one_thread(tmp_path, data_dir):
    """18 images (3 chunks) on two worker threads: the same report and landmarks as on one."""
    arch = tmp_path / "a"
    arch.mkdir()
    for i in range(9):
        for p in sorted((data_dir / "portraits").glob("*.jpg")):
            (arch / f"{i}-{p.name}").write_bytes(p.read_bytes())
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "one"), "--n-jobs", "1"]) == 0
    assert jobs_main(["bulk-label", str(arch), "--out", str(tmp_path / "two"), "--n-jobs", "2"]) == 0
    a = read_landmarks_csv(tmp_path / "one" / "landmarks.csv")
    b = read_landmarks_csv(tmp_path / "two" / "landmarks.csv")
    assert len(a) == 18 and a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k][0].landmarks, b[k][0].landmarks, atol=0.02, err_msg=k)


def test_label_images_with_given_boxes_and_bad_files(tmp_path, data_dir):
    img = str(data_dir / "portraits" / "A000360.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_text("no")
    detected = label_images([(img, "a.jpg"), (str(bad), "bad.jpg")], ModelSpec())
    assert [r.status for r in detected] == ["ok", "error"] and "not an image" in detected[1].message
    box = detected[0].faces[0].box
    given = label_images([(img, "a.jpg")], ModelSpec(detector=None), boxes={"a.jpg": [box]})
    assert np.isnan(given[0].faces[0].score)
    np.testing.assert_allclose(given[0].faces[0].landmarks, detected[0].faces[0].landmarks, atol=1e-3)


def test_morphkit_command_version_help_and_defaults():
    script = Path(sys.executable).parent / "morphkit"  # the console script of the installed project
    exe = [str(script)] if script.is_file() else [sys.executable, "-c",
                                                   "import sys; from jobs.__main__ import main; sys.exit(main())"]
    version = subprocess.run([*exe, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("morphkit ")
    # installed under its own distribution name ("morphkit" on the registry is another project)
    assert "unknown" not in version.stdout, version.stdout
    help_text = subprocess.run([*exe, "team-means", "--help"], capture_output=True, text=True).stdout
    for shown in ("--weights", "--backend", "--detector", "--scheduler", "(default: hog+haar)",
                  "(default: chosen from the", "(default: -1)"):
        assert shown in help_text, shown
    old = subprocess.run([sys.executable, "-m", "jobs", "bulk-label", "--help"], capture_output=True, text=True)
    assert old.returncode == 0 and "python -m jobs bulk-label" in old.stdout  # the old spelling still works


def test_huge_jpeg_is_decoded_reduced_and_landmarks_come_back_in_full_size_pixels(tmp_path, data_dir):
    import cv2
    from PIL import Image

    from landmarker.inference.predictor import Landmarker
    from landmarker.io.decode import read_image, read_image_reduced

    portrait = read_image(data_dir / "portraits" / "A000360.jpg")
    big = cv2.resize(portrait, (4480, 5480), interpolation=cv2.INTER_CUBIC)  # 24.6 MP, face about 2,500 px
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=92)
    Image.fromarray(big).save(tmp_path / "big.png", compress_level=1)
    reduced, scale, size = read_image_reduced(tmp_path / "big.jpg", 24_000_000, 2400)
    assert scale == 2 and reduced.shape == (2740, 2240, 3) and size == (4480, 5480)  # the decoder's 1/2
    assert read_image_reduced(tmp_path / "big.png", 24_000_000, 2400)[1] == 1  # only JPEG has draft mode
    got = label_images([(str(tmp_path / "big.jpg"), "big.jpg"), (str(tmp_path / "big.png"), "big.png")])
    # the same face in the small original, mapped to the big photo's pixel centres
    ref = Landmarker().predict(portrait)[0]
    k = big.shape[1] / portrait.shape[1]
    want = (ref.landmarks + 0.5) * k - 0.5
    iod = np.linalg.norm(want[36] - want[45])
    assert [len(r.faces) for r in got] == [1, 1] and [r.size for r in got] == [(4480, 5480)] * 2
    for r in got:  # reduced JPEG decode, and full PNG decode searched at 2400 px: both map back to full size
        err = np.linalg.norm(r.faces[0].landmarks - want, axis=1).mean() / iod
        assert err < 0.04, (r.name, err)
        assert box_iou(r.faces[0].box, [v * k for v in ref.box]) > 0.7


def test_a_file_given_twice_is_decoded_and_labelled_once(data_dir, monkeypatch):
    import landmarker.inference.labelling as L

    calls = []
    real = L.read_image_reduced
    monkeypatch.setattr(L, "read_image_reduced", lambda path, *a: calls.append(path) or real(path, *a))
    img = str(data_dir / "portraits" / "A000360.jpg")
    other = str(data_dir / "portraits" / "S000033.jpg")
    results = label_images([(img, "a.jpg"), (other, "b.jpg"), (img, "a.jpg")], ModelSpec())
    assert calls == [img, other]
    assert [r.status for r in results] == ["ok"] * 3
    np.testing.assert_array_equal(results[0].faces[0].landmarks, results[2].faces[0].landmarks)
