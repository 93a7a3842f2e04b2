"""User errors are one line (exit 2); bugs in our code surface with their traceback; --debug shows it for both."""

import csv
import shutil

import numpy as np
import pytest

import landmarker.inference.labelling
import morphkit.mean
from jobs.__main__ import main as jobs_main
from landmarker.cli import main as landmarker_main
from landmarker.clihelp import user_error_line
from landmarker.io.datasets import DatasetError
from landmarker.io.decode import ImageDecodeError
from morphkit.errors import InvalidInput, MissingDependency, UserError


@pytest.fixture
def team(tmp_path, data_dir):
    root = tmp_path / "team" / "all"
    root.mkdir(parents=True)
    for p in sorted((data_dir / "portraits").glob("*.jpg")):
        shutil.copy(p, root / p.name)
    return root.parent


def test_every_error_class_of_ours_is_a_user_error():
    from jobs.bulk_output import OutputError
    from jobs.collection import CollectionError
    from jobs.manifest import ManifestError
    from landmarker.io.names import AmbiguousName

    for cls in (DatasetError, ImageDecodeError, AmbiguousName, OutputError, CollectionError, ManifestError,
                InvalidInput):
        assert issubclass(cls, UserError) and issubclass(cls, ValueError), cls
    assert issubclass(MissingDependency, ImportError)


def test_what_counts_as_the_users_to_fix():
    assert user_error_line(InvalidInput("x.csv: bad")) == "x.csv: bad"
    assert user_error_line(FileNotFoundError(2, "No such file", "x.jpg")) is not None
    missing = ModuleNotFoundError("No module named 'fastapi'", name="fastapi")
    assert "[serve]" in user_error_line(missing)
    for bug in (ValueError("operands could not be broadcast"), IndexError("index 68"), ZeroDivisionError(),
                ModuleNotFoundError("No module named 'landmarker.gone'", name="landmarker.gone")):
        assert user_error_line(bug) is None, bug


def test_a_user_error_is_one_line_and_debug_shows_its_traceback(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    assert jobs_main(["team-means", missing, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err and "Traceback" not in err
    with pytest.raises(FileNotFoundError):
        jobs_main(["team-means", missing, "--out", str(tmp_path / "o"), "--debug"])
    with pytest.raises(FileNotFoundError):  # before the command too
        jobs_main(["--debug", "team-means", missing, "--out", str(tmp_path / "o")])
    assert landmarker_main(["evaluate", "--data", f"pts:{missing}"]) == 2
    with pytest.raises(UserError):
        landmarker_main(["evaluate", "--data", f"pts:{missing}", "--debug"])


def test_a_bug_deep_in_a_job_surfaces_with_its_traceback(tmp_path, team, monkeypatch):
    def broken(*args, **kwargs):
        return np.zeros((2, 3)) + np.zeros((4, 5))  # a numpy ValueError, as a bug of ours would raise

    monkeypatch.setattr(morphkit.mean, "_sum_chunk", broken)
    with pytest.raises(ValueError, match="broadcast"):
        jobs_main(["team-means", str(team), "--out", str(tmp_path / "means"), "--n-jobs", "1"])
    assert not (tmp_path / "means" / "all.png").exists()


def test_bulk_label_records_bad_files_but_not_our_bugs(tmp_path, team, monkeypatch):
    (team / "all" / "broken.jpg").write_text("not a photo")
    out = tmp_path / "labels"
    assert jobs_main(["bulk-label", str(team), "--out", str(out), "--n-jobs", "1"]) == 0
    with open(out / "report.csv") as fh:
        status = {r["image"]: r["status"] for r in csv.DictReader(fh)}
    assert status["all/broken.jpg"] == "error" and status["all/A000360.jpg"] == "ok"

    def bug(*args, **kwargs):
        raise IndexError("index 68 is out of bounds")  # not a file's fault

    monkeypatch.setattr(landmarker.inference.labelling, "read_image_reduced", bug)
    with pytest.raises(IndexError):
        jobs_main(["bulk-label", str(team), "--out", str(tmp_path / "again"), "--n-jobs", "1"])
