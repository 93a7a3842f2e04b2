"""Helpers of the benchmarks that run an anchor (``../shared/anchors``) against our command.

Both sides run as subprocesses from raw files, start-up included, alternating, and
the best of the rounds counts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def require_anchors_venv() -> Path:
    """The anchors' virtualenv (``$ANCHORS_VENV``, else ``../anchors-venv``); exits with how to make it."""
    venv = Path(os.environ.get("ANCHORS_VENV", ROOT.parent / "anchors-venv"))
    if not (venv / "bin" / "python").exists():
        sys.exit("no anchors virtualenv: run ../shared/anchors/setup-anchors [VENV] and set ANCHORS_VENV")
    os.environ["ANCHORS_VENV"] = str(venv.resolve())
    return venv


def copy_portraits(src: Path, dst: Path, n: int) -> int:
    """Copy the first ``n`` ``*.jpg`` of ``src`` (by name) into ``dst``; returns how many."""
    dst.mkdir(parents=True, exist_ok=True)
    paths = sorted(src.glob("*.jpg"))[:n]
    for p in paths:
        shutil.copy(p, dst / p.name)
    return len(paths)


def timed(cmd: list[str], env=None) -> float:
    """Seconds one command takes (it must exit 0)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def ours(job: str, *args: str) -> list[str]:
    """The command line of ``morphkit JOB ARGS`` with this interpreter (``python -m jobs``)."""
    return [sys.executable, "-m", "jobs", job, *args]


def ours_env() -> dict:
    """The environment for :func:`ours`: this checkout first on the path."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def best_of_alternating(anchor: list[str], variants: dict[str, list[str]], rounds: int,
                        after=None) -> dict[str, float]:
    """Run the anchor, then each of our variants, ``rounds`` times over; the best seconds of each.

    Args:
        anchor: the anchor's command line (run in the anchors' virtualenv by its script).
        variants: label -> our command line (run with :func:`ours_env`).
        rounds: how many times the whole sequence runs (alternating spreads the
            machine's drift over all of them).
        after: called as ``after(label)`` after each run of a variant (to read its output).

    Returns:
        label -> best seconds, the anchor under ``"anchor"``.
    """
    times: dict[str, list[float]] = {"anchor": [], **{label: [] for label in variants}}
    for _ in range(rounds):
        times["anchor"].append(timed(anchor))
        for label, cmd in variants.items():
            times[label].append(timed(cmd, env=ours_env()))
            if after is not None:
                after(label)
    return {label: min(t) for label, t in times.items()}
