"""Quantisation options for the int8 model: drift from the fp32 network and ms/face, on this CPU.

    .venv/bin/python benchmarks/bench_quantisation.py [--weights W.safetensors] [--json OUT.json]

Every option quantises the same fp32 export (calibrated on the same 1,024 ytf68
training crops) and runs the same face crops, found by the default detector on
photos the model never trained on: the golden test images, ytf68 validation
frames, frl-canada's studio portraits, 200 congress portraits and dlib-faces.
For each option and each of ONNX Runtime's two paths (int8 kernels; the float path
with ``session.disable_quant_qdq``) it prints each face's worst point distance
from the fp32 network's, as % of the inter-ocular distance (IOD): the worst face,
the mean over faces, and the mean point distance; and ms per face for a batch of
64 crops (best of 3, options alternating, 2 threads unless ``--threads``). The
CPU is named with its int8 flags: the int8 kernels differ between CPUs, so these
figures hold for the CPU they were measured on. The load-time check column runs
the shipped model's reference faces (``resnet18_ibug68.reference.npz``) through each
option's int8 kernels: the worst drift, and the path the ONNX backend would take.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT / "tools"))

FIRST = ["/conv1/Conv"]
LAYER1 = FIRST + [f"/layer1/layer1.{b}/conv{c}/Conv" for b in (0, 1) for c in (1, 2)]
OPTIONS = {  # name -> quantize_int8 keywords (all of them: each option is complete)
    "u8s8 per-channel 8-bit, minmax (shipped before issue 17)": dict(reduce_range=False, keep_float=(),
                                                                   method="minmax"),
    "u8s8 per-channel 7-bit, minmax": dict(keep_float=(), method="minmax"),
    "u8u8 per-channel, minmax": dict(reduce_range=False, weight_type="uint8", keep_float=(), method="minmax"),
    "u8s8 per-tensor 7-bit, minmax": dict(per_channel=False, keep_float=(), method="minmax"),
    "u8s8 per-channel 7-bit, minmax, every op": dict(op_types=None, keep_float=(), method="minmax"),
    "u8s8 per-channel 7-bit, minmax, conv1 float (shipped)": dict(keep_float=FIRST, method="minmax"),
    "u8s8 per-channel 7-bit, minmax, conv1+layer1 float": dict(keep_float=LAYER1, method="minmax"),
    "u8s8 per-channel 8-bit, minmax, conv1 float": dict(reduce_range=False, keep_float=FIRST, method="minmax"),
    "u8s8 per-channel 7-bit, percentile, conv1 float": dict(keep_float=FIRST, method="percentile"),
}


def ms_per_face(session, crops: np.ndarray) -> float:
    """Milliseconds per face for one batch of ``crops`` (float32 ``(N, S, S)``) after a warm-up run."""
    from landmarker.model.backends import run_session

    run_session(session, crops[:2])
    t0 = time.perf_counter()
    run_session(session, crops, batch_size=len(crops))
    return 1000 * (time.perf_counter() - t0) / len(crops)


def held_out_sets(card) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Crops (uint8 ``(n, S, S)``, ``card``'s crop rule) and sources of each held-out set, default detector."""
    from make_golden import DATA, GOLDEN_IMAGES

    from landmarker.io.datasets import load_dataset, split_by_identity
    from landmarker.training.quantize import detected_crops

    def face_crops(paths):
        return detected_crops(paths, card)

    _, val = split_by_identity(load_dataset(f"ytf68:{DATASETS / 'ytf68'}"), 0.1, 0)
    congress = sorted((DATASETS / "congress-headshots" / "images").glob("*.jpg"))[::3][:200]
    return {
        "golden images": face_crops([DATA / n for n in GOLDEN_IMAGES]),
        "ytf68 val": face_crops(sorted({s.image_path for s in val})),
        "frl-canada": face_crops(sorted((DATASETS / "frl-canada").glob("*.jpg"))),
        "congress 200": face_crops(congress),
        "dlib-faces": face_crops(sorted((DATASETS / "dlib-faces").glob("*.jpg"))),
    }


def main(argv=None) -> int:
    from quantize_onnx import calibration_crops

    from landmarker.model.backends import onnx_session, run_session
    from landmarker.model.card import SHIPPED_ONNX, ModelCard
    from landmarker.model.crop import normalise
    from landmarker.model.export import export_onnx
    from landmarker.model.int8_check import DRIFT_BOUND, describe_cpu, drift_iod, load_reference, reference_path
    from landmarker.training.quantize import int8_drift, quantize_int8

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="safetensors (default: the shipped weights)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--options", nargs="*", help="only these options (substrings of their names)")
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args(argv)

    cpu = describe_cpu()
    print(f"CPU: {cpu}, {args.threads} ONNX Runtime threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(args.weights, Path(tmp) / "fp32.onnx")
        card = ModelCard.load(fp32)
        sets = held_out_sets(card)
        names = list(sets)
        crops = normalise(np.concatenate([sets[n][0] for n in names]))
        group = np.concatenate([[n] * len(sets[n][0]) for n in names])
        print("faces: " + ", ".join(f"{n} {len(sets[n][0])}" for n in names), flush=True)
        fp32_sess = onnx_session(fp32, args.threads)
        want = run_session(fp32_sess, crops)
        calib = calibration_crops(f"ytf68:{DATASETS / 'ytf68'}", 1024, card, 0.1, 0)
        ref = load_reference(reference_path(SHIPPED_ONNX))  # the load-time check's faces
        chosen = {k: v for k, v in OPTIONS.items() if not args.options or any(s in k for s in args.options)}
        files, results = {}, {}
        for i, (name, kw) in enumerate(chosen.items()):
            files[name] = quantize_int8(fp32, Path(tmp) / f"q{i}.onnx", calib, **kw)
            d = int8_drift(files[name], want, crops, args.threads)
            per_group = {g: float(d["per_face_int8"][group == g].max()) for g in names}
            guard = float(drift_iod(run_session(onnx_session(files[name], args.threads), ref.inputs()),
                                    ref.targets).max())
            results[name] = {"int8": d["int8"], "float": d["float"], "int8_worst_by_set": per_group,
                             "size_mb": files[name].stat().st_size / 1e6, "guard_reference_int8_worst": guard}
            print(f"quantised: {name}", flush=True)
        batch = crops[:64]
        sessions = {"fp32": fp32_sess}
        for name, f in files.items():
            sessions[name] = onnx_session(f, args.threads)
            sessions[name + " [float path]"] = onnx_session(f, args.threads, float_path=True)
        times = {k: float("inf") for k in sessions}
        for _ in range(3):  # alternating rounds: each option's best
            for k, s in sessions.items():
                times[k] = min(times[k], ms_per_face(s, batch))

    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    print(f"\nCPU: {cpu}; {len(crops)} faces; drift = a face's worst point from fp32, % IOD")
    print("| option | path | worst face | mean of worst | mean point | golden worst | load-time check | "
          "ms/face (batch 64) |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    print(f"| fp32 export | float | 0 | 0 | 0 | 0 | | {times['fp32']:.2f} |")
    for name, r in results.items():
        for path in ("int8", "float"):
            key = name if path == "int8" else name + " [float path]"
            golden = pct(r["int8_worst_by_set"]["golden images"]) if path == "int8" else ""
            g = r["guard_reference_int8_worst"]
            guard = (f"{pct(g)}: {'float path' if g > DRIFT_BOUND else 'int8'}") if path == "int8" else ""
            print(f"| {name} | {path} | {pct(r[path]['worst'])} | {pct(r[path]['mean_worst'])} | "
                  f"{pct(r[path]['mean'])} | {golden} | {guard} | {times[key]:.2f} |")
    print("\nint8 path, worst face per set (% IOD):")
    for name, r in results.items():
        print(f"  {name}: " + ", ".join(f"{g} {pct(v)}" for g, v in r["int8_worst_by_set"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu, "threads": args.threads, "faces": len(crops),
                                               "results": results, "ms_per_face": times}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
