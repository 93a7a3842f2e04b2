"""Face-research transforms (morphkit.research): checked by predicting landmarks on the results."""

import numpy as np
import pytest
from helpers import TESTS_DATA, mirrored_groups

from landmarker.inference.predictor import Landmarker
from landmarker.io.decode import read_image
from morphkit import CanonicalFrame, align_face
from morphkit.ibug68 import MIRROR
from morphkit.masks import apply_mask, face_region
from morphkit.procrustes import fit_similarity
from morphkit.research import continuum, mirror_landmarks, symmetrize, transform


@pytest.fixture(scope="module")
def model():
    return Landmarker()


@pytest.fixture(scope="module")
def faces(model, data_dir_module):
    out = []
    for name in ("A000360.jpg", "S000033.jpg"):
        image = read_image(data_dir_module / "portraits" / name)
        img, _ = align_face(image, model.predict(image)[0].landmarks, CanonicalFrame())
        out.append((img, model.predict(img)[0].landmarks))  # landmarks predicted in the frame
    return out


@pytest.fixture(scope="module")
def data_dir_module():

    return TESTS_DATA


def asymmetry(lm: np.ndarray) -> float:
    """Procrustes residual between a shape and its mirror image, in units of the inter-ocular distance."""
    mirrored = mirror_landmarks(lm, 1000)
    aligned, _ = fit_similarity(mirrored.astype(np.float64), lm.astype(np.float64))
    return float(np.linalg.norm(aligned - lm, axis=1).mean() / np.linalg.norm(lm[36] - lm[45]))


def test_mirror_permutation_is_an_involution_and_matches_the_landmarkers():

    assert np.array_equal(MIRROR[MIRROR], np.arange(68))
    assert np.array_equal(MIRROR[[36, 45, 0, 16, 48, 54]], [45, 36, 16, 0, 54, 48])  # eye, jaw, mouth corners swap
    assert (MIRROR[[8, 27, 30, 33, 51, 57]] == [8, 27, 30, 33, 51, 57]).all()  # the midline stays


def test_symmetrised_face_gets_mirror_symmetric_landmarks(model, faces):
    for img, lm in faces:
        before = asymmetry(lm)
        sym, sym_lm = symmetrize(img, lm)
        assert asymmetry(sym_lm) < 1e-6  # the target shape is exactly symmetric
        predicted = model.predict(sym)[0].landmarks
        assert asymmetry(predicted) <= 0.5 * before, (asymmetry(predicted), before)
    shape_only, _ = symmetrize(img, lm, color=False)
    color_only, same_lm = symmetrize(img, lm, shape=False)
    assert np.allclose(same_lm, lm) and not np.array_equal(shape_only, color_only)
    with pytest.raises(ValueError, match="shape=True"):
        symmetrize(img, lm, shape=False, color=False)


def test_a_100_percent_shape_transform_moves_the_predicted_landmarks_by_the_prototype_difference(model, faces):
    """Prototypes A and B with the shapes of two real faces: face A moved 100% toward B takes B's shape."""
    (img, lm), (_, other) = faces
    delta = other - lm  # a real difference between two people's face shapes in the frame
    frame = CanonicalFrame()
    assert np.linalg.norm(delta, axis=1).mean() > 0.03 * frame.eye_distance * frame.width  # 3% of the eye distance
    for pct in (100, 200):
        out, new_lm = transform(img, lm, img, lm, img, lm + delta, shape_pct=pct)
        np.testing.assert_allclose(new_lm, lm + pct / 100 * delta, atol=1e-4)
        moved = model.predict(out)[0].landmarks - lm  # predicted on the output, against predicted on the input
        want = pct / 100 * delta
        along = float((moved * want).sum() / (want * want).sum())  # how far along the difference they moved
        assert 0.7 < along < 1.4, (pct, along)
        assert np.linalg.norm(moved - want, axis=1).mean() < 0.7 * np.linalg.norm(want, axis=1).mean()


def test_colour_transform_adds_the_prototype_difference(faces):
    img, lm = faces[0]
    darker = np.clip(img.astype(int) - 40, 0, 255).astype(np.uint8)
    out, _ = transform(img, lm, img, lm, darker, lm, shape_pct=0, color_pct=50)
    region = face_region(lm, img.shape[1], img.shape[0])
    diff = out.astype(int) - img
    assert abs(diff[region > 0.99].mean() + 20) < 3  # half of -40, inside the face
    assert np.abs(diff[region == 0]).max() <= 1  # the prototypes' backgrounds are not pasted onto the face's
    with pytest.raises(ValueError, match="size of the face"):
        transform(img, lm, img[:100], lm, img, lm)
    with pytest.raises(ValueError, match="color_pct"):
        transform(img, lm, img, lm, darker, lm, shape_pct=0, color_pct=float("nan"))


def test_continuum_runs_from_a_to_b(faces):
    (a, la), (b, lb) = faces
    steps = continuum(a, la, b, lb, steps=5)
    assert len(steps) == 5
    np.testing.assert_allclose(steps[0][1], la, atol=1e-3)
    np.testing.assert_allclose(steps[-1][1], lb, atol=1e-3)
    assert np.abs(steps[0][0].astype(int) - a).mean() < 1 and np.abs(steps[-1][0].astype(int) - b).mean() < 1
    assert 0 < np.abs(steps[2][0].astype(int) - a).mean() < np.abs(b.astype(int) - a).mean()


def test_masks_on_colour_and_transparent(faces):
    img, lm = faces[0]
    for kind in ("outline", "oval"):
        rgb = apply_mask(img, lm, kind, color=(255, 0, 255))
        assert (rgb[0, 0] == [255, 0, 255]).all()
        centre = lm[27:36].mean(0).astype(int)
        assert (rgb[centre[1], centre[0]] == img[centre[1], centre[0]]).all()
        rgba = apply_mask(img, lm, kind, color=None)
        assert rgba.shape[2] == 4 and rgba[0, 0, 3] == 0 and rgba[centre[1], centre[0], 3] == 255
    with pytest.raises(ValueError, match="mask"):
        apply_mask(img, lm, "square")
    for kind in ("outline", "oval"):  # one feather rule for both masks
        with pytest.raises(ValueError, match="feather"):
            apply_mask(img, lm, kind, feather=-1.0)


def test_face_tool_commands_make_files_from_team_means_outputs(tmp_path, data_dir):
    from PIL import Image

    from jobs.__main__ import main as jobs_main

    coll = mirrored_groups(tmp_path / "coll")
    assert jobs_main(["team-means", str(coll), "--out", str(tmp_path / "means")]) == 0
    a, b = str(tmp_path / "means" / "a.png"), str(tmp_path / "means" / "b.png")
    face = str(data_dir / "portraits" / "A000360.jpg")
    assert jobs_main(["transform", face, str(tmp_path / "missing.jpg"), "--from", a, "--to", b, "--shape", "100",
                      "--color", "50", "--out", str(tmp_path / "t")]) == 0
    report = (tmp_path / "t" / "report.csv").read_text()
    assert "A000360-transform-100-50.png" in report and "missing.jpg" in report and "skipped" in report
    with Image.open(tmp_path / "t" / "A000360-transform-100-50.png") as im:
        assert im.size == Image.open(a).size  # in the prototypes' frame
    assert jobs_main(["continuum", a, b, "--steps", "3", "--out", str(tmp_path / "c"), "--mask", "oval",
                      "--mask-color", "transparent"]) == 0
    names = sorted(p.name for p in (tmp_path / "c").glob("*.png"))
    assert names == ["a-b-000.png", "a-b-050.png", "a-b-100.png", "strip.png"]
    with Image.open(tmp_path / "c" / "a-b-050.png") as im:
        assert im.mode == "RGBA"
    assert jobs_main(["symmetrize", face, "--what", "shape", "--out", str(tmp_path / "s")]) == 0
    assert jobs_main(["caricature", face, "--mean", a, "--out", str(tmp_path / "k")]) == 0
    assert (tmp_path / "k" / "A000360-caricature-50.png").is_file()
    assert jobs_main(["continuum", a, "--out", str(tmp_path / "x")]) == 2  # needs two faces


def test_landmarker_inspect_draws_the_model(tmp_path, data_dir):
    pytest.importorskip("torch")
    from PIL import Image

    from landmarker.cli import main

    assert main(["inspect", "--out", str(tmp_path), "--image", str(data_dir / "portraits" / "A000360.jpg")]) == 0
    for name in ("conv1_filters.png", "feature_maps.png", "training_curves.png", "ced.png"):
        assert (tmp_path / name).is_file(), name
    grid = np.asarray(Image.open(tmp_path / "conv1_filters.png").convert("L"))
    assert grid.shape == (8 * 44 + 2, 8 * 44 + 2) and grid.std() > 20  # 64 filters of 7 x 7 at 6x, not blank
    assert main(["inspect", "--out", str(tmp_path / "x"), "--image", str(tmp_path / "ced.png")]) == 2  # no face


def test_texture_transform_moves_texture_contrast_toward_the_destination(faces):
    import cv2

    from morphkit.texture import transfer_texture

    img, lm = faces[0]
    smooth = cv2.GaussianBlur(img, (0, 0), 2.0)  # prototype A: a smooth version; B: the sharp one
    def lap(x):
        return float(np.abs(cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)).mean())
    softer = transfer_texture(img, img, smooth, 100)  # from sharp to smooth: loses texture
    sharper = transfer_texture(smooth, smooth, img, 100)  # from smooth to sharp: gains it
    assert lap(softer) < 0.8 * lap(img) and lap(sharper) > 1.5 * lap(smooth)
    same = transfer_texture(img, smooth, img, 0)  # 0%: unchanged
    assert np.abs(same.astype(int) - img).max() <= 2
    out, _ = transform(img, lm, smooth, lm, img, lm, shape_pct=0, texture_pct=100)
    assert lap(out) > lap(img)
