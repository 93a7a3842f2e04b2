"""``landmarker evaluate`` over several datasets, the mean-offset metric and --update-card."""

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
from helpers import TESTS_DATA

import landmarker.training.evaluate as evaluate_mod
from landmarker.cli import main as landmarker_main
from landmarker.model.network import SHIPPED_WEIGHTS, card_path
from landmarker.training.metrics import face_offsets_iod, inter_ocular, mean_offset_iod

DATA = TESTS_DATA
YTF_MINI = f"ytf68:{DATA / 'ytf68-mini'}"  # 4 faces
DLIB_TRAIN = f"dlib-xml:{DATA / 'dlib-faces' / 'training_with_face_landmarks.xml'}"  # 18 faces


def _copy_weights(folder):
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / SHIPPED_WEIGHTS.name
    shutil.copy(SHIPPED_WEIGHTS, weights)
    shutil.copy(card_path(SHIPPED_WEIGHTS), card_path(weights))
    return weights


def _table_rows(stdout):
    """The body rows of the Markdown table, as lists of cell strings."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    assert lines[1].startswith("|---"), lines
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    """One CLI run on ytf68-mini + the dlib-faces training XML, with --json, --ced and --update-card on a copy."""
    tmp = tmp_path_factory.mktemp("evaluate")
    weights = _copy_weights(tmp / "weights")
    package_card = card_path(SHIPPED_WEIGHTS).read_bytes()
    curves = {}
    real_plot = evaluate_mod.plot_ced

    def recording_plot(c, path, **kw):
        curves.update(c)
        real_plot(c, path, **kw)

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(evaluate_mod, "plot_ced", recording_plot)
        rc = landmarker_main(["evaluate", "--data", YTF_MINI, "--data", DLIB_TRAIN, "--weights", str(weights),
                              "--json", str(tmp / "eval.json"), "--ced", str(tmp / "ced.png"), "--update-card"])
    return {"rc": rc, "stdout": out.getvalue(), "tmp": tmp, "weights": weights, "curves": curves,
            "package_card_before": package_card}


def test_two_datasets_print_two_rows(two_sets):
    assert two_sets["rc"] == 0
    rows = _table_rows(two_sets["stdout"])
    assert [r[0] for r in rows] == ["ytf68:ytf68-mini", "dlib-xml:training_with_face_landmarks.xml"]
    assert [r[2] for r in rows] == ["4", "18"]  # faces
    for r in rows:
        assert r[1] == "all"
        assert 0 < int(r[3]) <= int(r[2])  # found by the detector
        assert 0 < float(r[4]) < 30  # NME mean, %
        float(r[7]), float(r[8])  # offsets are numbers, not placeholders


def test_json_has_one_entry_per_dataset(two_sets):
    report = json.loads((two_sets["tmp"] / "eval.json").read_text())
    rows = report["rows"]
    assert [r["data"] for r in rows] == [YTF_MINI, DLIB_TRAIN]
    assert [r["faces"] for r in rows] == [4, 18]
    assert report["command"].count("--data ") == 2
    for r in rows:
        assert r["detected"] <= r["faces"]
        assert 0 < r["nme_mean"] < 0.3 and 0 <= r["failure_rate"] <= 1
        assert abs(r["offset_x_iod"]) < 0.3 and abs(r["offset_y_iod"]) < 0.3
    # the table's rounded offsets are the JSON's
    table = _table_rows(two_sets["stdout"])
    assert float(table[1][7]) == pytest.approx(100 * rows[1]["offset_x_iod"], abs=0.006)


def test_ced_has_one_curve_per_dataset(two_sets):
    curves = two_sets["curves"]
    assert [len(v) for v in curves.values()] == [4, 18]
    assert (two_sets["tmp"] / "ced.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_update_card_writes_rows_into_the_copy_only(two_sets):
    card = json.loads(card_path(two_sets["weights"]).read_text())
    assert "architecture" in card  # the rest of the card is kept
    validation = card["validation"]
    assert validation["command"].startswith("landmarker evaluate --data ")
    assert [r["faces"] for r in validation["rows"]] == [4, 18]
    assert card_path(SHIPPED_WEIGHTS).read_bytes() == two_sets["package_card_before"]


def test_update_card_with_one_dataset_replaces_the_entry(tmp_path, two_sets):
    weights = _copy_weights(tmp_path)
    package_card = card_path(SHIPPED_WEIGHTS).read_bytes()
    card = json.loads(card_path(weights).read_text())
    card["validation"] = {"command": "old", "rows": [{"faces": 1}, {"faces": 2}]}
    card_path(weights).write_text(json.dumps(card))
    assert landmarker_main(["evaluate", "--data", YTF_MINI, "--weights", str(weights),
                            "--ced", str(tmp_path / "ced.png"), "--update-card"]) == 0
    validation = json.loads(card_path(weights).read_text())["validation"]
    assert validation["command"] != "old"
    assert [(r["data"], r["faces"]) for r in validation["rows"]] == [(YTF_MINI, 4)]
    assert card_path(SHIPPED_WEIGHTS).read_bytes() == package_card


@pytest.mark.parametrize("bad", ["nope:/x", "ytf68-mini", f"ytf68:{DATA / 'missing'}"])
def test_bad_data_spec_exits_2_naming_it(tmp_path, capsys, bad):
    rc = landmarker_main(["evaluate", "--data", YTF_MINI, "--data", bad,
                          "--json", str(tmp_path / "e.json"), "--ced", str(tmp_path / "ced.png")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and bad in err
    assert not (tmp_path / "e.json").exists() and not (tmp_path / "ced.png").exists()


def test_split_without_faces_is_an_error(tmp_path, capsys):
    # ytf68-mini's two identities both fall in the training part of the seed-0 split
    rc = landmarker_main(["evaluate", "--data", YTF_MINI, "--split", "val", "--ced", str(tmp_path / "c.png")])
    assert rc == 2
    assert "no faces in" in capsys.readouterr().err


def _faces(n=3, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, (68, 2))
    base[36], base[45] = (0.2, 0.4), (0.8, 0.4)
    scales = np.array([60.0, 100.0, 150.0])[:n]
    return base[None] * scales[:, None, None] + rng.uniform(0, 300, (n, 1, 2))


def test_mean_offset_is_in_inter_ocular_units():
    gt = _faces()
    iod = inter_ocular(gt)
    pred = gt + np.stack([0.05 * iod, -0.02 * iod], axis=-1)[:, None, :]
    np.testing.assert_allclose(100 * mean_offset_iod(pred, gt), [5.0, -2.0], atol=1e-9)
    np.testing.assert_allclose(face_offsets_iod(pred, gt), np.tile([0.05, -0.02], (3, 1)), atol=1e-12)
    np.testing.assert_allclose(mean_offset_iod(pred[0], gt[0]), [0.05, -0.02], atol=1e-12)  # one face
    np.testing.assert_allclose(mean_offset_iod(gt, pred), [-0.05, 0.02], atol=1e-12)  # sign: pred - gt


def test_mean_offset_cancels_symmetric_errors_but_averages_faces():
    gt = _faces()
    iod = inter_ocular(gt)
    noise = np.zeros_like(gt)
    noise[:, :34, 0], noise[:, 34:, 0] = 5.0, -5.0  # +-5 px around zero: no net shift
    assert np.abs(mean_offset_iod(gt + noise, gt)).max() < 1e-12
    shift = np.zeros_like(gt)
    shift[0, :, 1] = 0.06 * iod[0]  # only the first of three faces is shifted down
    np.testing.assert_allclose(mean_offset_iod(gt + shift, gt), [0.0, 0.02], atol=1e-12)


def test_mean_offset_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        mean_offset_iod(np.zeros((2, 68, 2)), np.zeros((3, 68, 2)))


def test_split_suffix_chooses_each_datasets_split(tmp_path, capsys):
    from landmarker.training.evaluate import parse_data_spec

    assert parse_data_spec("ytf68:/a/b@val", "all") == ("ytf68:/a/b", "val")
    assert parse_data_spec("dlib-xml:/a/x@y.xml", "train") == ("dlib-xml:/a/x@y.xml", "train")  # not a split
    # ytf68-mini's identities fall in the training part: @train keeps them, the XML stays whole
    rc = landmarker_main(["evaluate", "--data", YTF_MINI + "@train", "--data", DLIB_TRAIN, "--split", "val",
                          "--ced", str(tmp_path / "c.png"), "--json", str(tmp_path / "e.json")])
    assert rc == 0
    rows = json.loads((tmp_path / "e.json").read_text())["rows"]
    assert [(r["split"], r["faces"]) for r in rows] == [("train", 4), ("val", 0)]
    assert "no faces in split 'val'" in capsys.readouterr().err


def test_no_ced_plot_is_written_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert landmarker_main(["evaluate", "--data", YTF_MINI]) == 0
    assert list(tmp_path.iterdir()) == [] and "CED curves" not in capsys.readouterr().out
