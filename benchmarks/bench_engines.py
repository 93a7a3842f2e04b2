"""The inference engines side by side on this CPU: the network alone, one table row per engine.

For the shipped int8 ONNX model (and its fp32 export when torch is installed, ``--fp32``) on each
installed engine of :mod:`landmarker.model.engines`, in one process, alternating the engines
``--rounds`` times (the best round counts):

- ms per face: batches of 64 on every core, batches of 64 on one core (how the jobs' workers run
  it: one worker per core), and batch 1 on every core (a request to ``landmarker serve``);
- the worst drift from the fp32 network on the model's reference crops (the load-time int8 check,
  :mod:`landmarker.model.int8_check`, % of the inter-ocular distance) and whether the check passes;
- import time (a fresh interpreter, best of 3), the time to compile the model (OpenVINO: with and
  without its compiled-model cache), and the installed size of the engine's package folder.

    .venv/bin/python benchmarks/bench_engines.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def folder_mb(package: str) -> float:
    """Megabytes of an installed package's folder."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    root = Path(list(spec.submodule_search_locations)[0])
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6


def import_seconds(package: str) -> float:
    """Best of 3 fresh interpreters: seconds to import ``package``."""
    best = float("inf")
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", f"import time; t = time.perf_counter(); import {package}; "
                              "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


def per_face_ms(session, x: np.ndarray, batch: int, reps: int) -> float:
    """Median ms per face of ``session`` over ``reps`` passes of ``x`` in batches of ``batch``."""
    from landmarker.model.backends import run_session

    run_session(session, x[: batch], batch)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run_session(session, x, batch)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)) / len(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best counts")
    ap.add_argument("--reps", type=int, default=5, help="timed passes per measure in a round")
    args = ap.parse_args()

    from landmarker.model import engines as E
    from landmarker.model.card import SHIPPED_ONNX
    from landmarker.model.int8_check import DRIFT_BOUND, describe_cpu, drift_iod, load_reference, reference_path

    ref = load_reference(reference_path(SHIPPED_ONNX))
    crops = ref.inputs()
    x = np.concatenate([crops] * 8)  # 64 faces
    cores = os.cpu_count() or 1
    names = [e for e in E.ENGINES if E.installed(e)]
    sessions, rows = {}, {}
    for engine in names:
        row = rows[engine] = {"import s": import_seconds(engine), "MB": folder_mb(engine)}
        t0 = time.perf_counter()
        sessions[(engine, cores)] = E.open_session(engine, SHIPPED_ONNX, cores)
        row["compile s"] = time.perf_counter() - t0
        if engine == "openvino":  # the same compile without the cache, in a fresh core
            with tempfile.TemporaryDirectory() as tmp:
                model = str(SHIPPED_ONNX)
                code = (f"import os, time; os.environ['MORPHKIT_CACHE_DIR'] = {tmp!r}; "
                        f"from landmarker.model import engines as E; t = time.perf_counter(); "
                        f"E.open_session('openvino', {model!r}, {cores}); print(time.perf_counter() - t)")
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                row["compile s, no cache"] = float(out.stdout.strip().splitlines()[-1])
        sessions[(engine, 1)] = E.open_session(engine, SHIPPED_ONNX, 1)
        from landmarker.model.backends import run_session

        row["drift %"] = 100 * float(drift_iod(run_session(sessions[(engine, cores)], crops), ref.targets).max())
    if E.installed("onnxruntime"):
        sessions[("onnxruntime float path", cores)] = E.open_session("onnxruntime", SHIPPED_ONNX, cores, True)
        sessions[("onnxruntime float path", 1)] = E.open_session("onnxruntime", SHIPPED_ONNX, 1, True)
        rows["onnxruntime float path"] = {"drift %": 100 * float(drift_iod(
            run_session(sessions[("onnxruntime float path", cores)], crops), ref.targets).max())}
    timed = {k: {"batched": [], "batched, 1 core": [], "batch 1": []} for k in rows}
    for _ in range(args.rounds):
        for k in rows:
            timed[k]["batched"].append(per_face_ms(sessions[(k, cores)], x, 64, args.reps))
            timed[k]["batched, 1 core"].append(per_face_ms(sessions[(k, 1)], x, 64, args.reps))
            timed[k]["batch 1"].append(per_face_ms(sessions[(k, cores)], x[:16], 1, args.reps))

    print(f"CPU: {describe_cpu()}, {cores} cores, load average {os.getloadavg()[0]:.1f}; shipped int8 model "
          f"{SHIPPED_ONNX.name}; best of {args.rounds} alternating rounds, median of {args.reps} passes each; "
          f"default engine: {E.default_engine()}")
    print(f"| engine | ms/face, batch 64, {cores} cores | ms/face, batch 64, 1 core | ms, batch 1, {cores} cores | "
          f"worst drift from fp32 (% IOD, {len(crops)} reference faces; bound {100 * DRIFT_BOUND:.0f}%) | "
          "import s | compile s | package MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k, row in rows.items():
        t = {m: min(v) for m, v in timed[k].items()}
        label = E.version(k) if k in E.ENGINES else f"{E.version('onnxruntime')}, float path"
        comp = f"{row['compile s']:.2f}" if "compile s" in row else "—"
        if "compile s, no cache" in row:
            comp += f" (cached; {row['compile s, no cache']:.2f} uncached)"
        imp = f"{row['import s']:.2f}" if "import s" in row else "—"
        mb = f"{row['MB']:.0f}" if "MB" in row else "—"
        print(f"| {label} | {t['batched']:.2f} | {t['batched, 1 core']:.2f} | {t['batch 1']:.2f} | "
              f"{row['drift %']:.2f} | {imp} | {comp} | {mb} |")


if __name__ == "__main__":
    main()
