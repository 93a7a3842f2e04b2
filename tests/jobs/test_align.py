"""Issue 29 (part 1): `morphkit align` - faces of a folder rotated, scaled and moved into one frame.

Most tests align photos whose landmarks are known (a labelled face of tests/data/dlib-faces, with red dots
painted on its eye centres) and given with --landmarks, so the geometry is checked without the model's noise:
the dots of every output must lie within 1 px of the target eye positions, whatever the photo's size,
rotation or EXIF orientation. One test runs the model: the landmarks align writes must match the model's
landmarks predicted on the aligned images, and team-means takes the output folder as it is.
"""

import csv
import math
import shutil

import cv2
import numpy as np
import pytest
from helpers import REPO_ROOT, dlib_faces, red_centroids, red_dots
from PIL import Image

from jobs.__main__ import main as jobs_main
from landmarker.io.decode import read_image
from landmarker.io.face import Face
from landmarker.io.files import file_sha1
from landmarker.io.landmarks_csv import read_landmarks_table, write_landmarks_csv
from morphkit import CanonicalFrame, ffhq_quad, transform_points
from morphkit.ibug68 import eye_centres

PORTRAITS = REPO_ROOT / "tests" / "data" / "portraits"
EXIF_ORIENTATION = 0x0112
#: EXIF orientation -> how to store the upright image so that the tag turns it upright again
STORED = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}


def _turn(image, lm, degrees):
    """``image`` and its landmarks rotated ``degrees`` about the face's eye midpoint (same canvas)."""
    centre = tuple(float(v) for v in eye_centres(lm).mean(axis=0))
    m = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    out = cv2.warpAffine(image, m, image.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out, transform_points(lm, m)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of one labelled face in several sizes, rotations and EXIF orientations, red dots on its eyes,
    with landmarks.csv (bulk-label's layout: upright size and sha1) giving its known landmarks.

    Returns ``(folder, {name: float64 (68, 2) upright landmarks})``.
    """
    folder = tmp_path_factory.mktemp("photos")
    path, lm = max(dlib_faces("testing_with_face_landmarks.xml"), key=lambda f: np.ptp(f[1][:, 0]))
    lm = lm.astype(np.float64)  # 2008_002506.jpg, 500 x 375, 43 px between the eye centres
    base = red_dots(np.asarray(Image.open(path).convert("RGB")), eye_centres(lm), 4.0)
    made = {"small.png": (base, lm)}  # the face enlarged 2.6 times into the default frame
    big = cv2.resize(base, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)[200:1000, 1100:1900]
    made["large.png"] = (big, (lm + 0.5) * 4 - 0.5 - [1100, 200])  # shrunk 0.65 times: area-averaged first
    made["turned.png"] = _turn(base, lm, 30)
    made["tilted.png"] = _turn(base, lm, -75)
    x0, y0 = (lm.min(axis=0) - 6).astype(int)
    x1, y1 = (lm.max(axis=0) + 6).astype(int)
    made["tight.png"] = (base[y0:y1, x0:x1], lm - [x0, y0])  # the frame reaches far past its edges
    rows = []
    for name, (image, points) in made.items():
        Image.fromarray(image).save(folder / name)
        rows.append((name, points))
    for tag, stored in STORED.items():  # JPEGs stored turned, upright by their EXIF orientation
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = tag
        name = f"exif{tag}.jpg"
        Image.fromarray(base).transpose(stored).save(folder / name, quality=97, subsampling=0, exif=exif)
        rows.append((name, lm))
    landmarks = {}
    table = []
    for name, points in rows:
        upright = read_image(folder / name)
        assert upright.shape[:2] == ((y1 - y0, x1 - x0) if name == "tight.png" else
                                     (800, 800) if name == "large.png" else (375, 500))
        table.append((name, 0, Face((0.0, 0.0, 1.0, 1.0), math.nan, points.astype(np.float32)),
                      (upright.shape[1], upright.shape[0]), file_sha1(folder / name)))
        landmarks[name] = points
    write_landmarks_csv(folder / "landmarks.csv", table)
    return folder, landmarks


def _report(out):
    with open(out / "report.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _outputs(out):
    """``{input file name: (output image, its row of out/landmarks.csv as Face)}`` checking size and sha1."""
    faces, sizes, digests = read_landmarks_table(out / "landmarks.csv")
    made = {}
    for row in _report(out):
        if row["status"] != "ok":
            continue
        with Image.open(out / row["output"]) as im:
            image = np.asarray(im)
        assert sizes[row["output"]] == (image.shape[1], image.shape[0])
        assert digests[row["output"]] == file_sha1(out / row["output"])
        made[row["input"].rsplit("/", 1)[-1]] = (image, faces[row["output"]][0], row)
    return made


def _align(photos, out, *options):
    folder, _ = photos
    return jobs_main(["align", str(folder), "--out", str(out), "--landmarks", str(folder / "landmarks.csv"),
                      "--n-jobs", "1", *options])


@pytest.mark.parametrize("options, size, eyes", [
    ((), (450, 550), CanonicalFrame().eyes),
    (("--width", "300", "--height", "260", "--eyes", "100,120,200,140", "--format", "jpeg"), (300, 260),
     np.array([[100.0, 120.0], [200.0, 140.0]])),
])
def test_eyes_of_aligned_photos_of_any_size_rotation_and_exif_orientation_land_within_1px(photos, tmp_path,
                                                                                          options, size, eyes):
    assert _align(photos, tmp_path / "out", *options) == 0
    made = _outputs(tmp_path / "out")
    assert sorted(made) == sorted(photos[1])
    for name, (image, face, row) in made.items():
        assert image.shape == (size[1], size[0], 3), name
        assert np.abs(red_centroids(image) - eyes).max() < 1.0, name  # the photo's eyes, in the pixels
        assert np.abs(eye_centres(face.landmarks) - eyes).max() < 0.02, name  # the moved landmarks too
        assert row["output"].endswith(".jpg" if "jpeg" in options else ".png") and row["mode"] == "eyes"
        assert row["face"] == "0"
    scales = {name: float(row["scale"]) for name, (_, _, row) in made.items()}
    iod = np.linalg.norm(eyes[1] - eyes[0])
    assert scales["small.png"] == pytest.approx(iod / 43.3, rel=0.02)
    assert "upscaled" in made["small.png"][2]["message"]  # enlarged 2.4-2.6 times: noted
    assert scales["large.png"] == pytest.approx(scales["small.png"] / 4, rel=1e-3)
    assert scales["large.png"] < 1 and "upscaled" not in made["large.png"][2]["message"]  # shrunk: no note


def test_procrustes_fits_the_mean_shape_and_no_rotation_keeps_each_roll(photos, tmp_path):
    _, known = photos
    assert _align(photos, tmp_path / "p", "--procrustes") == 0
    made = _outputs(tmp_path / "p")
    shapes = np.stack([face.landmarks for _, face, _ in made.values()])
    assert np.abs(shapes - shapes[0]).max() < 0.05  # one shape in every photo: one place in every output
    for name, (image, _, row) in made.items():
        assert row["mode"] == "procrustes"
        assert np.abs(red_centroids(image) - CanonicalFrame().eyes).max() < 1.0, name  # the mean's eyes placed
    assert _align(photos, tmp_path / "k", "--procrustes", "--no-rotation") == 0
    for name, (image, face, _) in _outputs(tmp_path / "k").items():
        before, after = eye_centres(known[name]), eye_centres(face.landmarks)
        roll = [math.degrees(math.atan2(*(e[1] - e[0])[::-1])) for e in (before, after)]
        assert roll[1] == pytest.approx(roll[0], abs=0.05), name
        assert np.abs(red_centroids(image) - after).max() < 1.0, name


def test_ffhq_crop_maps_the_eyes_and_mouth_square_onto_the_output(photos, tmp_path):
    folder, _ = photos
    assert _align(photos, tmp_path / "f", "--style", "ffhq", "--width", "128", "--height", "128") == 0
    corners = np.array([[-0.5, -0.5], [-0.5, 127.5], [127.5, 127.5], [127.5, -0.5]])
    for name, (image, face, row) in _outputs(tmp_path / "f").items():
        assert image.shape == (128, 128, 3) and row["mode"] == "ffhq"
        assert np.abs(ffhq_quad(face.landmarks) - corners).max() < 0.05, name
        assert np.abs(red_centroids(image) - eye_centres(face.landmarks)).max() < 1.0, name
    assert jobs_main(["align", str(folder / "tight.png"), "--style", "ffhq", "--out", str(tmp_path / "d"),
                      "--landmarks", str(folder / "landmarks.csv"), "--n-jobs", "1"]) == 0
    with Image.open(tmp_path / "d" / "tight.png") as im:
        assert im.size == (1024, 1024)  # FFHQ's size by default


def test_border_fills_replicate_reflect_colour_and_transparent(photos, tmp_path, capsys):
    folder, _ = photos
    tight = str(folder / "tight.png")  # the face cropped: the frame's corners lie beyond the photo
    outs = {}
    for border in ("replicate", "reflect", "#ff00ff", "transparent"):
        out = tmp_path / border.strip("#")
        assert jobs_main(["align", tight, "--out", str(out), "--landmarks", str(folder / "landmarks.csv"),
                          "--border", border, "--n-jobs", "1"]) == 0
        with Image.open(out / "tight.png") as im:
            outs[border] = (im.mode, np.asarray(im))
    assert outs["#ff00ff"][0] == "RGB" and (outs["#ff00ff"][1][:5, :5] == (255, 0, 255)).all()
    assert outs["replicate"][0] == outs["reflect"][0] == "RGB"
    assert np.abs(outs["replicate"][1][:5, :5].astype(int) - outs["reflect"][1][:5, :5]).max() > 10
    mode, rgba = outs["transparent"]
    assert mode == "RGBA" and (rgba[:5, :5] == 0).all()  # alpha 0 and nothing of the photo under it
    eyes = np.round(CanonicalFrame().eyes).astype(int)
    assert (rgba[eyes[:, 1], eyes[:, 0], 3] == 255).all()
    assert np.array_equal(rgba[..., :3][rgba[..., 3] == 255], outs["replicate"][1][rgba[..., 3] == 255])
    out = tmp_path / "masked"
    assert jobs_main(["align", tight, "--out", str(out), "--landmarks", str(folder / "landmarks.csv"),
                      "--border", "transparent", "--mask", "oval", "--mask-color", "transparent", "--n-jobs", "1"]) == 0
    masked = np.asarray(Image.open(out / "tight.png"))
    assert masked.shape[2] == 4 and (masked[..., 3] <= rgba[..., 3]).all() and masked[..., 3].max() == 255
    capsys.readouterr()
    assert jobs_main(["align", tight, "--out", str(tmp_path / "j"), "--border", "transparent",
                      "--format", "jpeg"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "JPEG has no alpha" in err and not (tmp_path / "j").exists()


@pytest.mark.parametrize("options, said", [
    (("--style", "ffhq", "--procrustes"), "choose one"),
    (("--style", "ffhq", "--eyes", "10,10,20,10"), "leave out --eyes"),
    (("--no-rotation",), "--procrustes"),
    (("--eyes", "500,10,20,10"), "inside the 450x550 output"),
    (("--style", "ffhq", "--width", "300", "--height", "200"), "square"),
    (("--border", "mauve"), "#rrggbb"),
])
def test_bad_options_are_refused_in_one_line_before_any_work(tmp_path, capsys, options, said):
    photo = str(PORTRAITS / "A000360.jpg")
    assert jobs_main(["align", photo, "--out", str(tmp_path / "o"), *options]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err, err
    assert not (tmp_path / "o").exists()


def test_model_landmarks_on_aligned_faces_match_the_moved_ones_and_team_means_takes_the_folder(tmp_path):
    """Labelled by the model (an EXIF-rotated copy among them, and a file that is not an image): the points
    align moves into the frame are where the model finds them on the aligned image (within 5% of the
    inter-ocular distance), and the output folder with its landmarks.csv is a collection for team-means."""
    from landmarker.inference.labelling import label_images

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("A000360.jpg", "S000033.jpg"):
        shutil.copy(PORTRAITS / name, photos / name)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    Image.open(PORTRAITS / "A000360.jpg").transpose(STORED[6]).save(photos / "turned.jpg", quality=95, exif=exif)
    (photos / "bad.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "aligned"
    assert jobs_main(["align", str(photos), "--out", str(out), "--n-jobs", "1"]) == 0
    rows = _report(out)
    bad = [r for r in rows if r["status"] == "skipped"]
    assert len(bad) == 1 and bad[0]["input"].endswith("bad.jpg") and "not an image" in bad[0]["message"]
    ok = {r["output"]: r for r in rows if r["status"] == "ok"}
    assert sorted(ok) == ["A000360.png", "S000033.png", "turned.png"]
    assert all(float(r["scale"]) > 1 and "upscaled" in r["message"] for r in ok.values())  # 225 x 275 photos
    faces, _, _ = read_landmarks_table(out / "landmarks.csv")
    predicted = label_images([(out / name, name) for name in ok])
    for name, result in zip(ok, predicted):
        moved = faces[name][0].landmarks
        iod = np.linalg.norm(np.subtract(*eye_centres(moved)))
        error = np.linalg.norm(result.faces[0].landmarks - moved, axis=1).mean() / iod
        assert error < 0.05, (name, error)
        assert np.abs(eye_centres(result.faces[0].landmarks) - CanonicalFrame().eyes).max() < 0.05 * iod, name
    means = tmp_path / "means"
    assert jobs_main(["team-means", str(out), "--landmarks", str(out / "landmarks.csv"), "--out", str(means),
                      "--n-jobs", "1"]) == 0
    with open(means / "report.csv", newline="") as fh:
        used = [r for r in csv.DictReader(fh) if r["status"] == "used"]
    assert len(used) == 3 and not any("labelled again" in r["message"] for r in used)
