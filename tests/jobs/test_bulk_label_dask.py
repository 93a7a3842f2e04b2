"""Jobs on a Dask cluster (a real scheduler and worker process on 127.0.0.1)."""

import csv
from pathlib import Path

import numpy as np
import pytest
from helpers import TESTS_DATA
from PIL import Image

from jobs.__main__ import main as jobs_main
from landmarker.inference.parallel import cluster as dask_cluster
from landmarker.io.landmarks_csv import read_landmarks_csv

pytestmark = [pytest.mark.slow, pytest.mark.dask]

distributed = pytest.importorskip("distributed")

DATA = TESTS_DATA


def _models_loaded():
    from landmarker.inference.labelling import models_loaded

    return models_loaded()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as c:
        yield c


def _report(out: Path) -> list[list[str]]:
    with open(out / "report.csv", newline="") as fh:
        return list(csv.reader(fh))


def test_dask_cluster_labels_like_a_local_run(cluster, tmp_path, capsys):
    arch = tmp_path / "archive"
    arch.mkdir()
    for p in (DATA / "portraits").glob("*.jpg"):
        (arch / p.name).write_bytes(p.read_bytes())
    (arch / "group.jpg").write_bytes((DATA / "dlib-faces" / "2008_001009.jpg").read_bytes())
    (arch / "notes.jpg").write_text("not an image")
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert jobs_main(["bulk-label", str(arch), "--out", str(local), "--n-jobs", "1"]) == 0
    argv = ["bulk-label", str(arch), "--out", str(remote), "--scheduler", cluster.scheduler_address]
    assert jobs_main(argv) == 0
    assert "4 files, 3 ok, 0 no_face, 1 error" in capsys.readouterr().out.strip().splitlines()[-1]
    with distributed.Client(cluster.scheduler_address) as client:
        assert list(client.run(_models_loaded).values()) == [1]  # the worker process did the work
    assert _report(remote) == _report(local)
    a, b = read_landmarks_csv(local / "landmarks.csv"), read_landmarks_csv(remote / "landmarks.csv")
    assert a.keys() == b.keys() and sum(len(f) for f in a.values()) >= 3
    for name in a:
        assert len(a[name]) == len(b[name])
        for fa, fb in zip(a[name], b[name]):
            np.testing.assert_allclose(fb.landmarks, fa.landmarks, atol=1e-2, err_msg=name)


def test_team_means_on_the_cluster_matches_a_local_run(cluster, tmp_path, capsys):
    coll = tmp_path / "team"
    for group in ("a", "b"):  # two groups of two faces (--min-faces 2)
        (coll / group).mkdir(parents=True)
        for p in sorted((DATA / "portraits").glob("*.jpg")):
            (coll / group / p.name).write_bytes(p.read_bytes())
    assert jobs_main(["team-means", str(coll), "--out", str(tmp_path / "local"), "--n-jobs", "1"]) == 0
    with distributed.Client(cluster.scheduler_address) as client:
        before = sum(client.run(_models_loaded).values())
    argv = ["team-means", str(coll), "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]
    assert jobs_main(argv) == 0
    local = np.asarray(Image.open(tmp_path / "local" / "comparison.png"), np.int16)
    remote = np.asarray(Image.open(tmp_path / "dask" / "comparison.png"), np.int16)
    assert local.shape == remote.shape and np.abs(local - remote).mean() < 0.5
    assert _report(tmp_path / "local") == _report(tmp_path / "dask")
    with distributed.Client(cluster.scheduler_address) as client:  # the worker labelled (model kept loaded)
        assert sum(client.run(_models_loaded).values()) >= max(before, 1)


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import landmarker.inference.parallel

    monkeypatch.setattr(landmarker.inference.parallel, "CONNECT_TIMEOUT", 1.0)
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with dask_cluster("tcp://127.0.0.1:9", connect_timeout=1):
            pass
    (tmp_path / "a.jpg").write_bytes((DATA / "portraits" / "A000360.jpg").read_bytes())
    argv = ["bulk-label", str(tmp_path), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]
    assert jobs_main(argv) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
