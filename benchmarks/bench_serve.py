"""Load test of `landmarker serve` on loopback: requests per second and latency percentiles.

Starts `landmarker serve` in a subprocess on a free port, waits for /healthz, sends a
fixed number of POST /v1/landmarks requests (one test portrait) from a few concurrent
clients (threads, one httpx.Client each, keep-alive), prints a table, stops the server.
For reference it also times Landmarker.predict in this process on the decoded image
(same weights and detector), i.e. the work without HTTP, upload and decoding.

    .venv/bin/python benchmarks/bench_serve.py [--requests 200] [--concurrency 4]
        [--image tests/data/portraits/A000360.jpg] [--weights FILE] [--detector NAME] [--direct 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, weights: str | None, detector: str | None, log) -> subprocess.Popen:
    """`landmarker serve` on 127.0.0.1:port, output to ``log``; returns once /healthz answers 200."""
    cmd = [sys.executable, "-m", "landmarker.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    cmd += ["--weights", weights] if weights else []
    cmd += ["--detector", detector] if detector else []
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited with {proc.returncode}:\n{log.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not answer /healthz within 120 s")


def load_test(url: str, payload: bytes, name: str, requests: int, concurrency: int):
    """Send ``requests`` uploads from ``concurrency`` threads; returns (latencies s, wall s, statuses, faces)."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies, statuses, faces = [], [], []

    def worker():
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                t0 = time.perf_counter()
                r = http.post("/v1/landmarks", files={"image": (name, payload, "image/jpeg")})
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    statuses.append(r.status_code)
                    faces.append(len(r.json().get("faces", [])) if r.status_code == 200 else -1)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(worker) for _ in range(concurrency)]:
            f.result()
    return np.array(latencies), time.perf_counter() - t0, statuses, faces


def direct_latencies(image_path: Path, weights, detector, n: int) -> dict[str, np.ndarray]:
    """Seconds per Landmarker.predict on the decoded image in this process (after one warm-up),
    called from the main thread and from a worker thread (as the server calls it)."""
    from landmarker.inference.predictor import Landmarker
    from landmarker.io.decode import read_image

    kwargs = {"detector": detector} if detector else {}
    model = Landmarker(weights, **kwargs)
    image = read_image(image_path)

    def timings():
        model.predict(image)
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            model.predict(image)
            out.append(time.perf_counter() - t0)
        return np.array(out)

    with ThreadPoolExecutor(1) as pool:
        in_worker = pool.submit(timings).result()
    return {"main thread": timings(), "worker thread": in_worker}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--image", default=str(ROOT / "tests/data/portraits/A000360.jpg"))
    ap.add_argument("--weights")
    ap.add_argument("--detector")
    ap.add_argument("--direct", type=int, default=10, help="in-process predict() timings (0: skip)")
    args = ap.parse_args()
    payload = Path(args.image).read_bytes()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = start_server(port, args.weights, args.detector, log)
        startup = time.perf_counter() - t0
        try:
            health = httpx.get(f"{url}/healthz").json()
            load_test(url, payload, Path(args.image).name, 2, 1)  # warm-up, not counted
            lat, wall, statuses, faces = load_test(url, payload, Path(args.image).name, args.requests,
                                                   args.concurrency)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    model = health["model"]
    print(f"server: weights {model['weights']}, detector {model['detector']}, {model['backend']} on "
          f"{model['device']}; start to /healthz {startup:.1f} s; {os.cpu_count()} CPU cores")
    print(f"image: {args.image} ({len(payload) / 1024:.0f} kB); "
          f"statuses {dict(Counter(statuses))}; faces per reply {sorted(set(faces))}")
    print()
    print("| what | requests | concurrency | req/s | p50 ms | p95 ms | max ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    p50, p95 = np.percentile(lat, [50, 95]) * 1000
    print(f"| POST /v1/landmarks | {len(lat)} | {args.concurrency} | {len(lat) / wall:.1f} | {p50:.0f} | "
          f"{p95:.0f} | {lat.max() * 1000:.0f} |")
    if args.direct > 0:
        for where, d in direct_latencies(Path(args.image), args.weights, args.detector, args.direct).items():
            q50, q95 = np.percentile(d, [50, 95]) * 1000
            print(f"| Landmarker.predict in-process, {where} | {len(d)} | 1 | {len(d) / d.sum():.1f} | "
                  f"{q50:.0f} | {q95:.0f} | {d.max() * 1000:.0f} |")


if __name__ == "__main__":
    main()
