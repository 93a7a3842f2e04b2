"""What a new user trips over (issue 12): wrong results that exited 0, lost outputs, unclear failures,
and the controls users look for. Each test failed on the code before the fix."""

import csv
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO_ROOT
from PIL import Image

from jobs.__main__ import main as jobs_main

ROOT = REPO_ROOT
SAMPLE = ROOT / "sample_data"


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """8 sample portraits (Democrats and Republicans, men and women), their manifest rows and landmarks."""
    root = tmp_path_factory.mktemp("team")
    coll = root / "coll"
    coll.mkdir()
    rows = _rows(SAMPLE / "manifest.csv")
    picked = [r for r in rows if r["party"] == "Democrat"][:4] + [r for r in rows if r["party"] == "Republican"][:4]
    for r in picked:
        shutil.copy(SAMPLE / "images" / r["image"], coll / r["image"])
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(picked)
    assert jobs_main(["bulk-label", str(coll), "--out", str(root / "labels")]) == 0
    return {"root": root, "coll": coll, "manifest": root / "manifest.csv", "rows": picked,
            "landmarks": root / "labels" / "landmarks.csv"}


def _means(team, out, *extra):
    return jobs_main(["team-means", str(team["coll"]), "--out", str(out), "--landmarks", str(team["landmarks"]),
                      *extra])


# --- wrong results that exited 0 -----------------------------------------------------------------

def test_morph_movie_with_a_repeated_file_uses_every_position(tmp_path, team):
    a, b = (str(team["coll"] / r["image"]) for r in team["rows"][:2])
    out = tmp_path / "loop.mp4"
    assert jobs_main(["morph-movie", a, b, a, "--out", str(out), "--fps", "10", "--seconds-per-face", "0.4"]) == 0
    report = _rows(out.with_suffix(".report.csv"))
    assert [r["status"] for r in report] == ["used"] * 3  # A -> B -> A, not B -> A


def test_team_means_with_a_landmarks_csv_naming_none_of_the_images_fails(tmp_path, team, capsys):
    other = tmp_path / "other.csv"
    text = team["landmarks"].read_text().splitlines()
    other.write_text("\n".join([text[0]] + ["zzz-" + line for line in text[1:]]) + "\n")
    code = jobs_main(["team-means", str(team["coll"]), "--out", str(tmp_path / "m2"), "--landmarks", str(other)])
    assert code == 2
    assert "names none of the" in capsys.readouterr().err


def test_jobs_never_take_their_own_outputs_for_photos(tmp_path, team):
    coll = tmp_path / "coll"
    shutil.copytree(team["coll"], coll)
    assert jobs_main(["bulk-label", str(coll), "--out", str(coll / "labels"), "--overlay"]) == 0
    for _ in range(2):  # the second run must not average the first run's PNGs or the overlays
        assert jobs_main(["team-means", str(coll), "--out", str(coll / "means")]) == 0
        report = _rows(coll / "means" / "report.csv")
        assert len(report) == 8 and not any("means/" in r["image"] or "labels/" in r["image"] for r in report)
    assert jobs_main(["bulk-label", str(coll), "--out", str(coll / "labels")]) == 0  # resumes, same 8 files
    assert len(_rows(coll / "labels" / "report.csv")) == 8
    from landmarker.cli import main as landmarker_main  # predict's overlay folder is ours too

    assert landmarker_main(["predict", str(coll), "--out", str(tmp_path / "p.csv"), "--overlay", str(coll / "ov")]) == 0
    assert jobs_main(["team-means", str(coll), "--out", str(tmp_path / "m3")]) == 0
    assert not any(r["image"].startswith("ov/") for r in _rows(tmp_path / "m3" / "report.csv"))


def test_images_missing_from_the_manifest_are_skipped_and_reported(tmp_path, team):
    manifest = tmp_path / "m.csv"
    rows = team["rows"]
    manifest.write_text("image,party\n" + "".join(f"{r['image']},{r['party']}\n" for r in rows[:-2]))
    out = tmp_path / "means"
    assert _means(team, out, "--manifest", str(manifest), "--group-by", "party") == 0
    report = {r["image"]: r for r in _rows(out / "report.csv")}
    for r in rows[-2:]:
        assert report[r["image"]]["status"] == "skipped" and "not in the manifest" in report[r["image"]]["message"]
    assert not (out / "unlisted.png").exists()
    out2 = tmp_path / "means2"
    assert _means(team, out2, "--manifest", str(manifest), "--group-by", "party", "--include-unlisted") == 0
    assert (out2 / "unlisted.png").exists()


def test_manifest_conflicts_dialects_and_encodings(tmp_path, team, capsys):
    rows = team["rows"]
    conflict = tmp_path / "conflict.csv"
    conflict.write_text("image,party\n" + "".join(f"{r['image']},{r['party']}\n" for r in rows)
                        + f"{rows[0]['image']},Whig\n")
    assert _means(team, tmp_path / "a", "--manifest", str(conflict), "--group-by", "party") == 2
    err = capsys.readouterr().err
    assert "lines 2 and 10" in err and "Whig" in err
    semicolons = tmp_path / "semi.csv"  # as spreadsheets in many locales save CSV
    semicolons.write_text("image;party\n" + "".join(f"{r['image']};{r['party']}\n" for r in rows))
    assert _means(team, tmp_path / "b", "--manifest", str(semicolons), "--group-by", "party") == 0
    assert {p.name for p in (tmp_path / "b").glob("*.png")} == {"Democrat.png", "Republican.png", "comparison.png"}
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(("image,party\n" + "".join(f"{r['image']},Démocrate\n" for r in rows)).encode("latin-1"))
    assert _means(team, tmp_path / "c", "--manifest", str(latin1), "--group-by", "party") == 2
    err = capsys.readouterr().err
    assert "latin1.csv" in err and "UTF-8" in err and "Traceback" not in err
    assert _means(team, tmp_path / "d", "--group-by", "party") == 2  # --group-by without --manifest
    assert "--group-by needs --manifest" in capsys.readouterr().err


def test_group_names_give_unique_bounded_file_names(tmp_path, team):
    rows = team["rows"]
    long_name = "Committee " * 30  # 300 characters
    groups = ["New York", "New_York", long_name.strip()]
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "place"])
        for i, r in enumerate(rows[:6]):
            w.writerow([r["image"], groups[i % 3]])
    out = tmp_path / "means"
    assert _means(team, out, "--manifest", str(manifest), "--group-by", "place") == 0
    pngs = sorted(p.name for p in out.glob("*.png") if p.name != "comparison.png")
    assert len(pngs) == 3 and "New_York.png" in pngs and "New_York-2.png" in pngs
    assert max(len(p) for p in pngs) <= 84
    shapes = _rows(out / "shapes.csv")
    assert sorted(r["image"] for r in shapes) == pngs  # every mean's shape, named by its PNG


def test_bulk_label_resumed_with_overlay_draws_the_missing_overlays(tmp_path, team):
    out = tmp_path / "labels"
    assert jobs_main(["bulk-label", str(team["coll"]), "--out", str(out)]) == 0
    assert not (out / "overlays").exists()
    assert jobs_main(["bulk-label", str(team["coll"]), "--out", str(out), "--overlay"]) == 0
    assert len(list((out / "overlays").glob("*.jpg"))) == 8


# --- one line, exit 2, no traceback ----------------------------------------------------------------

BAD = [
    (["morph-movie", "{coll}", "--out", "{tmp}/x.webm"], "use a .mp4 or .gif"),
    (["morph-movie", "{coll}", "--out", "{tmp}/x"], "use a .mp4 or .gif"),
    (["morph-movie", "{coll}", "--out", "{tmp}/folder.mp4"], "is a folder"),
    (["morph-movie", "{coll}", "--out", "{tmp}/m.mp4", "--seconds-per-face", "0"], "--seconds-per-face 0"),
    (["morph-movie", "{coll}", "--out", "{tmp}/m.mp4", "--fps", "-1"], "--fps -1"),
    (["morph-movie", "{coll}", "--out", "{tmp}/m.mp4", "--manifest", "{manifest}", "--group", "Whig"],
     "party (Democrat, Republican)"),
    (["morph-movie", "{coll}", "--out", "{tmp}/m.mp4", "--group", "Whig"], "the groups are: coll"),
    (["team-means", "{coll}", "--out", "{tmp}/file.txt"], "is a file"),
    (["team-means", "{coll}", "--out", "{tmp}/t", "--n-jobs", "0"], "--n-jobs"),
    (["team-means", "{coll}", "--out", "{tmp}/t", "--width", "0"], "--width 0"),
    (["team-means", "{coll}", "--out", "{tmp}/t", "--min-faces", "0"], "--min-faces 0"),
    (["team-means", "{coll}", "--out", "{tmp}/t", "--manifest", "{manifest}", "--group-by", "party",
      "--groups", "Whig"], "the groups are: Democrat, Republican"),
    (["bulk-label", "{coll}", "--out", "{tmp}/b", "--n-jobs", "0"], "--n-jobs"),
    (["bulk-label", "{coll}", "--out", "{tmp}/b", "--weights", "{tmp}/w.safetensors", "--backend", "onnx"],
     "landmarker export"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[:1] + a[3:]) for a, _ in BAD])
def test_bad_invocations_fail_with_one_line(tmp_path, team, argv, message):
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "w.safetensors").write_bytes(b"x")
    argv = [a.format(coll=team["coll"], tmp=tmp_path, manifest=team["manifest"]) for a in argv]
    run = subprocess.run([sys.executable, "-m", "jobs", *argv, "--landmarks", str(team["landmarks"])]
                         if argv[0] != "bulk-label" else [sys.executable, "-m", "jobs", *argv],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0], run.stderr


def test_landmarker_bad_invocations(tmp_path, data_dir):
    (tmp_path / "folder").mkdir()
    img = str(data_dir / "portraits" / "A000360.jpg")
    for argv, message in ((["predict", img, "--out", str(tmp_path / "folder")], "is a folder"),
                          (["evaluate", "--data", f"ytf68:{data_dir / 'ytf68-mini'}", "--update-card"], "--weights")):
        run = subprocess.run([sys.executable, "-m", "landmarker.cli", *argv], capture_output=True, text=True)
        assert run.returncode == 2 and "Traceback" not in run.stderr and message in run.stderr, run.stderr
    assert not list(tmp_path.glob(".*tmp*"))  # no stray temporary file


def test_landmarker_predict_takes_a_path_or_says_what_to_pass(data_dir):
    from landmarker.inference.predictor import Landmarker

    model = Landmarker()
    path = data_dir / "portraits" / "A000360.jpg"
    assert len(model.predict(str(path))) == 1 and len(model.predict(path)) == 1
    with pytest.raises(TypeError, match="numpy array or an image file path"):
        model.predict([1, 2, 3])


# --- controls users look for ----------------------------------------------------------------------

def test_team_means_min_faces_groups_order_and_crossed_columns(tmp_path, team, capsys):
    out = tmp_path / "cross"
    assert _means(team, out, "--manifest", str(team["manifest"]), "--group-by", "party,gender",
                  "--min-faces", "1") == 0
    names = {p.stem for p in out.glob("*.png")} - {"comparison"}
    assert "Democrat_M" in names and all("_" in n for n in names)
    # default --min-faces 2: a group of one face gets no mean, and the report says why
    counts = {}
    for r in team["rows"]:
        counts[(r["party"], r["gender"])] = counts.get((r["party"], r["gender"]), 0) + 1
    single = [k for k, n in counts.items() if n == 1]
    out2 = tmp_path / "cross2"
    assert _means(team, out2, "--manifest", str(team["manifest"]), "--group-by", "party,gender") == 0
    for party, gender in single:
        assert not (out2 / f"{party}_{gender}.png").exists()
    out3 = tmp_path / "order"
    assert _means(team, out3, "--manifest", str(team["manifest"]), "--group-by", "party",
                  "--groups", "Republican,Democrat") == 0
    assert "Republican 4, Democrat 4" in capsys.readouterr().out


def test_morph_movie_loop_transition_gif_width_and_subfolder_group(tmp_path, team):
    coll = tmp_path / "c"
    for i, r in enumerate(team["rows"][:4]):
        (coll / ("x" if i < 3 else "y")).mkdir(parents=True, exist_ok=True)
        shutil.copy(team["coll"] / r["image"], coll / ("x" if i < 3 else "y") / r["image"])
    gif = tmp_path / "x.gif"
    assert jobs_main(["morph-movie", str(coll), "--group", "x", "--out", str(gif), "--fps", "5",
                      "--seconds-per-face", "0.4", "--loop", "--transition-fraction", "0.5",
                      "--width", "200", "--height", "240"]) == 0
    with Image.open(gif) as im:
        assert im.size[0] == 200
        frames = im.n_frames
    from morphkit import morph_sequence_length

    assert frames == morph_sequence_length(3, 5, 0.4, 0.5, loop=True) != morph_sequence_length(3, 5, 0.4, 0.5)
    assert [r["status"] for r in _rows(gif.with_suffix(".report.csv"))] == ["used"] * 3  # only sub-folder x


def test_comparison_labels_keep_accents(tmp_path):
    from morphkit import image_grid

    tile = np.full((60, 60, 3), 200, np.uint8)
    plain = image_grid([tile], ["Zoe"])
    accented = image_grid([tile], ["Zoë"])
    assert plain.shape == accented.shape and np.abs(plain.astype(int) - accented).sum() > 0  # not transliterated


def test_every_option_has_help_and_shows_its_default():
    import argparse

    from jobs.__main__ import build_parser as jobs_parser
    from landmarker.cli import build_parser as landmarker_parser

    for parser in (landmarker_parser(), jobs_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    formatter = sub._get_formatter()
                    for act in sub._actions:
                        if act.option_strings and act.dest != "help":
                            assert act.help, f"{parser.prog} {name} {act.option_strings[0]} has no help"
                            if act.default not in (None, False) and act.default is not argparse.SUPPRESS:
                                shown = formatter._get_help_string(act) % {"default": act.default}
                                assert "default" in shown, (name, act.option_strings)


def test_morph_movie_background_face_keeps_only_the_face(tmp_path, team):
    a, b = (str(team["coll"] / r["image"]) for r in team["rows"][:2])
    outs = {}
    for background in ("frame", "face"):
        outs[background] = tmp_path / f"{background}.gif"
        assert jobs_main(["morph-movie", a, b, "--out", str(outs[background]), "--fps", "4", "--seconds-per-face",
                          "0.5", "--background", background, "--landmarks", str(team["landmarks"])]) == 0
    with Image.open(outs["frame"]) as f, Image.open(outs["face"]) as g:
        plain, face = np.asarray(f.convert("RGB"), np.int16), np.asarray(g.convert("RGB"), np.int16)
    from morphkit import CanonicalFrame

    fill = np.array(CanonicalFrame().fill)
    corner = face[:20, :20].reshape(-1, 3)  # outside the face: the frame's plain fill colour
    assert np.abs(corner - fill).max() <= 3
    assert np.abs(plain[:20, :20].reshape(-1, 3) - fill).mean() > 10  # the whole frame: the photo's background
    mid = (slice(face.shape[0] // 2 - 10, face.shape[0] // 2 + 10),
           slice(face.shape[1] // 2 - 10, face.shape[1] // 2 + 10))
    assert np.abs(face[mid] - plain[mid]).mean() < 12  # the face itself unchanged


def test_a_manifest_name_that_two_photos_share_is_refused_and_paths_work(tmp_path, data_dir, capsys):
    for folder, src in (("a", "A000360.jpg"), ("b", "S000033.jpg")):
        (tmp_path / "c" / folder).mkdir(parents=True)
        shutil.copy(data_dir / "portraits" / src, tmp_path / "c" / folder / "x.jpg")
    bare = tmp_path / "bare.csv"
    bare.write_text("file,team\nx,red\n")
    argv = ["team-means", str(tmp_path / "c"), "--min-faces", "1", "--group-by", "team"]
    assert jobs_main([*argv, "--out", str(tmp_path / "m1"), "--manifest", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "a/x.jpg" in err and "b/x.jpg" in err and "give its path" in err
    paths = tmp_path / "paths.csv"
    paths.write_text("file,team\na/x.jpg,red\nb/x.jpg,blue\n")
    assert jobs_main([*argv, "--out", str(tmp_path / "m2"), "--manifest", str(paths)]) == 0
    assert {r["image"]: r["group"] for r in _rows(tmp_path / "m2" / "report.csv")} == {"a/x.jpg": "red",
                                                                                        "b/x.jpg": "blue"}


def test_landmarks_of_a_run_follow_the_file_when_two_inputs_share_a_name(tmp_path):
    """Inputs ``a`` and ``b`` each holding an ``x.jpg`` (two different people): each gets its own row of the run
    that labelled their parent folder, and of a copy of its landmarks.csv (no run beside it) by the sha1."""
    from jobs.bulk_label import bulk_label
    from jobs.collection import Portrait, attach_landmarks
    from landmarker.io.landmarks_csv import read_landmarks_csv

    sample = REPO_ROOT / "sample_data" / "images"
    for sub, photo in (("a", "B001242.jpg"), ("b", "B001256.jpg")):
        (tmp_path / "set" / sub).mkdir(parents=True)
        shutil.copy(sample / photo, tmp_path / "set" / sub / "x.jpg")
    bulk_label(tmp_path / "set", tmp_path / "run", n_jobs=1, progress=False)
    rows = read_landmarks_csv(tmp_path / "run" / "landmarks.csv")
    copy = tmp_path / "elsewhere" / "landmarks.csv"
    copy.parent.mkdir()
    shutil.copy(tmp_path / "run" / "landmarks.csv", copy)
    for csv_path in (tmp_path / "run" / "landmarks.csv", copy):
        portraits = [Portrait(tmp_path / "set" / sub / "x.jpg", "x.jpg", "input") for sub in ("a", "b")]
        attach_landmarks(portraits, csv_path, n_jobs=1)
        for p, sub in zip(portraits, ("a", "b")):
            np.testing.assert_allclose(p.landmarks, rows[f"{sub}/x.jpg"][0].landmarks, atol=1e-3)


def test_a_photo_copied_under_another_name_counts_once_in_its_groups_mean(tmp_path, team):
    coll = tmp_path / "coll"
    shutil.copytree(team["coll"], coll)
    first = team["rows"][0]["image"]
    shutil.copy(coll / first, coll / "copy.jpg")  # the same bytes again, in the same (only) group
    out = tmp_path / "out"
    assert jobs_main(["team-means", str(coll), "--out", str(out), "--n-jobs", "1"]) == 0
    rows = {r["image"]: r for r in _rows(out / "report.csv")}
    assert rows["copy.jpg"]["status"] == "skipped" and first in rows["copy.jpg"]["message"]
    assert rows[first]["status"] == "used"
    assert sum(r["status"] == "used" for r in rows.values()) == len(team["rows"])
