"""End-to-end labelling speed: ``bulk-label`` against the plain dlib script (the anchor), one run.

The anchor is ``../shared/anchors/dlib-landmarks`` (dlib's HOG upsampled once +
``shape_predictor_68_face_landmarks.dat``, one process, in the anchors' virtualenv made
by ``../shared/anchors/setup-anchors``). Both label the same ``--n`` portraits from
raw files, start-up included, alternating anchor and ours ``--rounds`` times; the
best time of each counts. Prints the CPU and the ratio (anchor time / ours: above 1
means we are faster).

    bash ../shared/anchors/setup-anchors /tmp/anchors-venv
    ANCHORS_VENV=/tmp/anchors-venv .venv/bin/python benchmarks/bench_label_vs_dlib_script.py --n 100
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHORS = ROOT.parent / "shared" / "anchors"
PORTRAITS = ROOT.parent / "shared" / "datasets" / "congress-headshots" / "images"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or ``unknown CPU``."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def timed(cmd: list[str], env=None) -> float:
    """Seconds one command takes (it must exit 0)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=PORTRAITS, help="folder of portraits (default: congress)")
    ap.add_argument("--n", type=int, default=100, help="portraits to label (the first N by name)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--args", default="", help="extra bulk-label options, e.g. '--n-jobs 1'")
    args = ap.parse_args()
    if not (Path(os.environ.get("ANCHORS_VENV", ROOT.parent / "anchors-venv")) / "bin" / "python").exists():
        sys.exit("no anchors virtualenv: run ../shared/anchors/setup-anchors [VENV] and set ANCHORS_VENV")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "images"
        src.mkdir()
        for p in sorted(args.images.glob("*.jpg"))[: args.n]:
            shutil.copy(p, src / p.name)
        n = len(list(src.iterdir()))
        anchor = [str(ANCHORS / "dlib-landmarks"), str(src), str(Path(tmp) / "dlib.csv")]
        ours = [sys.executable, "-m", "jobs", "bulk-label", str(src), "--out", str(Path(tmp) / "ours"), "--restart",
                *args.args.split()]
        times: dict[str, list[float]] = {"anchor": [], "ours": []}
        for _ in range(args.rounds):
            times["anchor"].append(timed(anchor))
            times["ours"].append(timed(ours, env={**os.environ, "PYTHONPATH": str(ROOT)}))
        rows = sum(1 for _ in open(Path(tmp) / "ours" / "landmarks.csv")) - 1
        rows_dlib = sum(1 for _ in open(Path(tmp) / "dlib.csv")) - 1
    a, o = min(times["anchor"]), min(times["ours"])
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; {n} portraits from {args.images}; best of {args.rounds}, alternating")
    print(f"| method | seconds | faces |\n|---|---:|---:|\n| plain dlib script (anchor) | {a:.2f} | {rows_dlib} |\n"
          f"| bulk-label {args.args or '(defaults)'} | {o:.2f} | {rows} |")
    print(f"ratio (anchor / ours): {a / o:.2f}x")


if __name__ == "__main__":
    main()
