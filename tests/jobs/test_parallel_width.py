"""The job's workers are all used: morphkit's ordered map keeps as many tasks in flight as the
executor it is given has workers (it once kept 4, whatever ``--n-jobs`` or a Dask cluster offered)."""

import csv
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import morphkit.mean
from jobs.__main__ import main as jobs_main
from landmarker.inference.predictor import Landmarker
from landmarker.io.landmarks_csv import HEADER, face_row
from morphkit.parallel import ordered_map, use_executor


def _meet(barrier: threading.Barrier, item: int) -> int:
    barrier.wait()  # returns only once `parties` tasks run at the same time
    return item


@pytest.mark.parametrize("width", [6, 9])
def test_ordered_map_keeps_every_worker_of_an_executor_busy(width):
    barrier = threading.Barrier(width, timeout=20)
    with ThreadPoolExecutor(width) as pool, use_executor(pool, width):
        out = list(ordered_map(lambda i: _meet(barrier, i), range(3 * width), n_jobs=1))
    assert out == list(range(3 * width))


def test_use_executor_refuses_a_width_that_is_not_a_count():
    with ThreadPoolExecutor(2) as pool:
        for bad in (0, -1, 2.5, None, True):
            with pytest.raises(ValueError, match="width"), use_executor(pool, bad):
                pass


def test_team_means_warps_on_as_many_workers_as_n_jobs(tmp_path, data_dir, monkeypatch):
    """48 faces = 6 chunks of morphkit.parallel.CHUNK_SIZE; --n-jobs 6 must warp all 6 at once."""
    root, n_jobs = tmp_path / "team", 6
    (root / "all").mkdir(parents=True)
    model = Landmarker()
    rows = []
    for p in sorted((data_dir / "portraits").glob("*.jpg")):
        image = np.asarray(Image.open(p).convert("RGB"))
        face = model.predict(image)[0]
        for k in range(24):  # distinct photos (brightness), same face
            name = f"all/{p.stem}-{k:02d}.png"
            Image.fromarray(np.clip(image.astype(int) + k, 0, 255).astype(np.uint8)).save(root / name)
            rows.append(face_row(name, 0, face, (image.shape[1], image.shape[0])))
    landmarks = tmp_path / "landmarks.csv"
    with open(landmarks, "w", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])

    running, peak, lock = 0, 0, threading.Lock()
    real = morphkit.mean._sum_chunk

    def counting(*args, **kwargs):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.5)  # long enough for every worker to pick up a chunk
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(morphkit.mean, "_sum_chunk", counting)
    out = tmp_path / "means"
    assert jobs_main(["team-means", str(root), "--out", str(out), "--landmarks", str(landmarks),
                      "--n-jobs", str(n_jobs), "--width", "90", "--height", "110"]) == 0
    assert (out / "all.png").is_file()
    assert peak == n_jobs
