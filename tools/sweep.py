"""Run several ``landmarker train`` configurations at once on one machine, inside a time budget.

Made for a rented GPU with a hard time limit: every run shares one face cache, a
short calibration (two epochs of every run, all at once) measures the epoch time
under that load, and the epoch count of the real runs is set so that all of them
finish their cosine schedule inside ``--budget`` seconds. A run still going at the
deadline is stopped; its ``best.safetensors`` is kept.

    python tools/sweep.py --data ytf68:runs/ytf68-compact --boxes runs/ytf68-compact/boxes.csv \\
        --out runs/sweep --budget 400 \\
        d96-mse="--img-size 96 --loss mse" p96-mse="--img-size 96 --head pca"

Each ``NAME="ARGS"`` is one run, in ``OUT/NAME``; ``OUT/summary.csv`` gives the
best validation epoch of every run.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from landmarker.training.train import read_metrics

COMMON = ["--val-fraction", "0.1", "--seed", "0", "--batch-size", "32"]


def _launch(name, extra, args, epochs, out, log_dir):
    cmd = [sys.executable, "-m", "landmarker.cli", "train", "--data", args.data, "--out", str(out),
           "--epochs", str(epochs), "--workers", str(args.workers), *COMMON, *shlex.split(extra)]
    if args.boxes:
        cmd += ["--boxes", args.boxes]
    log = open(log_dir / f"{name}.log", "w")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1", OMP_NUM_THREADS="2")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait(procs, deadline):
    while any(p.poll() is None for p in procs.values()):
        if time.time() > deadline:
            for p in procs.values():
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            time.sleep(3)
            break
        time.sleep(1)
    return {n: p.poll() for n, p in procs.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--boxes")
    p.add_argument("--out", required=True)
    p.add_argument("--budget", type=float, required=True, help="seconds for the real runs (after calibration)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=400)
    p.add_argument("runs", nargs="+", help='NAME="train arguments"')
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = dict(r.split("=", 1) for r in args.runs)
    t_start = time.time()

    # calibration: two epochs of every run at once (also builds each run's cache)
    calib = {n: _launch(n + "-calib", e, args, 2, out / f"calib-{n}", out) for n, e in runs.items()}
    _wait(calib, time.time() + 240)
    epoch_s = {}
    for n in runs:
        rows = read_metrics(out / f"calib-{n}" / "metrics.csv")
        epoch_s[n] = rows[-1]["seconds"] if rows else float("nan")
    print("calibration (s/epoch with all runs at once):", epoch_s, f"{time.time() - t_start:.0f}s", flush=True)

    failed = [n for n, t in epoch_s.items() if t != t]
    for n in failed:
        print(f"{n}: calibration failed, skipped:\n" + (out / f"{n}-calib.log").read_text()[-2000:], flush=True)
        runs.pop(n)
    procs = {}
    for n, e in runs.items():
        # 0.8: real epochs ran 15-25% slower than calibration's (start-up, the PCA fit, all six
        # runs in step), and a run cut before its cosine schedule ends loses its best epochs
        epochs = max(2, min(args.max_epochs, int(0.8 * args.budget / epoch_s[n])))
        run_dir = out / n
        (run_dir / "cache").mkdir(parents=True, exist_ok=True)
        for f in (out / f"calib-{n}" / "cache").glob("*.npz"):
            os.link(f, run_dir / "cache" / f.name)
        print(f"{n}: {epochs} epochs: {e}", flush=True)
        procs[n] = _launch(n, e, args, epochs, run_dir, out)
    codes = _wait(procs, time.time() + args.budget)
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "args", "exit", "epochs_done", "best_epoch", "val_nme_mean", "val_nme_median",
                    "val_failure_rate", "s_per_epoch"])
        for n, e in runs.items():
            rows = read_metrics(out / n / "metrics.csv")
            if not rows:
                w.writerow([n, e, codes[n], 0, "", "", "", "", ""])
                continue
            best = min(rows, key=lambda r: r["val_nme_mean"])
            w.writerow([n, e, codes[n], len(rows), best["epoch"], best["val_nme_mean"], best["val_nme_median"],
                        best["val_failure_rate"], f"{sum(r['seconds'] for r in rows) / len(rows):.2f}"])
    print((out / "summary.csv").read_text(), f"total {time.time() - t_start:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
