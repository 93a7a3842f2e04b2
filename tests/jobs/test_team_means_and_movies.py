import csv

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from jobs.__main__ import main as jobs_main
from morphkit import morph_sequence_length


@pytest.fixture
def collection(tmp_path, data_dir):
    """Two groups as sub-folders: the two portraits and their mirror images."""
    root = tmp_path / "team"
    for group in ("senate", "house"):
        (root / group).mkdir(parents=True)
    for p in sorted((data_dir / "portraits").glob("*.jpg")):
        (root / "senate" / p.name).write_bytes(p.read_bytes())
        Image.open(p).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "house" / f"mirror-{p.name}")
    (root / "house" / "broken.jpg").write_text("not a photo")
    return root


def test_team_means_by_subfolder(tmp_path, collection, capsys):
    out = tmp_path / "means"
    assert jobs_main(["team-means", str(collection), "--out", str(out)]) == 0
    for name in ("senate.png", "house.png", "comparison.png", "report.csv"):
        assert (out / name).is_file(), name
    mean = np.asarray(Image.open(out / "senate.png"))
    # the frame follows the faces (225 x 275 headshots, eye centres about 50 px apart: about 200 x 244, not the
    # 450 x 550 that enlarged them twice), and the console and the report say so
    assert 180 <= mean.shape[1] <= 230 and mean.shape[0] == 2 * round(mean.shape[1] * 550 / 450 / 2)
    assert mean.std() > 10  # a picture, not a flat fill
    grid = np.asarray(Image.open(out / "comparison.png"))
    assert grid.shape[1] >= 2 * mean.shape[1]  # two means side by side
    with open(out / "report.csv") as fh:
        report = {r["image"]: r for r in csv.DictReader(fh)}
    assert report["house/broken.jpg"]["status"] == "skipped"
    assert "not an image" in report["house/broken.jpg"]["message"]
    assert sum(r["status"] == "used" for r in report.values()) == 4
    printed = capsys.readouterr().out
    assert "senate 2" in printed
    assert f"frame {mean.shape[1]} x {mean.shape[0]}, from the faces (median eye-centre distance" in printed
    assert "from the faces" in (out / "index.html").read_text()
    fixed = tmp_path / "fixed"
    assert jobs_main(["team-means", str(collection), "--out", str(fixed), "--width", "300"]) == 0
    assert np.asarray(Image.open(fixed / "senate.png")).shape == (366, 300, 3)  # --width alone: 450 x 550 proportions
    assert "frame 300 x 366, from --width 300" in capsys.readouterr().out


def test_team_means_with_manifest_and_landmarks_csv(tmp_path, collection):
    lm_out = tmp_path / "labels"
    assert jobs_main(["bulk-label", str(collection), "--out", str(lm_out)]) == 0
    manifest = tmp_path / "people.csv"
    manifest.write_text("file,side\nA000360,left\nmirror-A000360.jpg,right\nS000033,left\nmirror-S000033,right\n")
    out = tmp_path / "means"
    args = ["team-means", str(collection), "--out", str(out), "--manifest", str(manifest),
            "--group-by", "side", "--landmarks", str(lm_out / "landmarks.csv")]
    assert jobs_main(args) == 0
    assert {p.name for p in out.glob("*.png")} == {"left.png", "right.png", "comparison.png"}
    # the 'right' mean is made of the mirror images: it must look like the mirrored 'left' mean
    left = np.asarray(Image.open(out / "left.png"), dtype=float)
    right = np.asarray(Image.open(out / "right.png"), dtype=float)
    assert np.abs(left[:, ::-1] - right).mean() < np.abs(left - right).mean()


def test_morph_movie_of_given_images(tmp_path, data_dir):
    images = [str(p) for p in sorted((data_dir / "portraits").glob("*.jpg"))]
    out = tmp_path / "movie.mp4"
    assert jobs_main(["morph-movie", *images, "--out", str(out), "--fps", "10", "--seconds-per-face", "1",
                      "--width", "201", "--height", "251"]) == 0
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert frames == morph_sequence_length(2, 10, 1)
    assert meta["size"][0] % 2 == 0 and meta["size"][1] % 2 == 0
    assert meta["size"] == (202, 252)


def test_morph_movie_needs_two_faces(tmp_path, data_dir, capsys):
    one = str(next((data_dir / "portraits").glob("*.jpg")))
    assert jobs_main(["morph-movie", one, "--out", str(tmp_path / "m.mp4")]) == 2
    assert "at least two" in capsys.readouterr().err
