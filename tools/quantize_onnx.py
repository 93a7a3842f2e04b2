"""Export the shipped weights to ONNX, quantise them to int8, check the result and write its reference outputs.

    python tools/quantize_onnx.py --data ytf68:../shared/datasets/ytf68 --out landmarker/weights/resnet18_ibug68.onnx

1. Export the fp32 network (:func:`landmarker.model.export.export_onnx`).
2. Quantise it with ONNX Runtime's static quantisation (:func:`landmarker.training.quantize.quantize_int8`:
   QDQ, per-channel 7-bit int8 weights, uint8 activations, min-max calibration,
   convolutions only, the first convolution kept in float),
   calibrated on face crops of the training split of ``--data`` (identity split
   with ``--val-fraction``/``--seed`` as in training), never on a test set.
3. Check it on this CPU against the fp32 network, int8 kernels and float path, on
   the validation split of ``--data`` and on the faces of ``--reference-images``:
   each face's worst point as % of its inter-ocular distance. A file whose int8
   kernels drift beyond the bound (2%) on any face here is not written.
4. Write the reference outputs beside the file (``<stem>.reference.npz``,
   :mod:`landmarker.model.int8_check`): the ``--reference-faces`` faces of
   ``--reference-images`` that the quantisation moves most (float path, the same on
   every CPU), with the fp32 outputs on them. The ONNX backend runs them at load
   time and leaves the int8 kernels of a CPU on which they drift.
5. Record the settings and the drift in the model card (``onnx.quantisation``,
   ``onnx.int8_check``). Written beside its safetensors (the shipped case), the
   two files share one card.

``benchmarks/bench_quantisation.py`` measures the other settings (full-range
int8 weights, u8u8, per-tensor, more op types, layers kept in float).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def default_reference_images() -> list[Path]:
    """Public-domain and Boost-licensed photos the reference crops may come from (they ship in the repo):
    every third of the congress portraits (200) and dlib's example faces."""
    congress = sorted((DATASETS / "congress-headshots" / "images").glob("*.jpg"))[::3][:200]
    return congress + sorted((DATASETS / "dlib-faces").glob("*.jpg"))


def identity_split(specs: str | list[str], val_fraction: float, seed: int) -> tuple[list, list]:
    """``(train, val)`` :class:`landmarker.io.datasets.FaceSample` lists of the datasets ``specs`` (one
    ``FORMAT:PATH`` or several), split by identity as training splits them."""
    from landmarker.io.datasets import load_dataset, split_by_identity

    specs = [specs] if isinstance(specs, str) else specs
    return split_by_identity([s for spec in specs for s in load_dataset(spec)], val_fraction, seed)


def calibration_crops(specs: str | list[str], n: int, card, val_fraction: float, seed: int,
                      train: list | None = None) -> np.ndarray:
    """``n`` normalised crops float32 ``(n, S, S)`` of training-split faces of the datasets ``specs`` (one
    ``FORMAT:PATH`` or several) by ``card``'s crop rule (:class:`landmarker.model.card.ModelCard`; boxes
    from the data or the landmarks); ``train``: that split when the caller has loaded it already."""
    from landmarker.model.crop import normalise
    from landmarker.training.quantize import dataset_crops

    if train is None:
        train, _ = identity_split(specs, val_fraction, seed)
    picks = np.random.default_rng(seed).choice(len(train), size=min(n, len(train)), replace=False)
    return normalise(dataset_crops([train[i] for i in picks], card))


def _pct(stats: dict) -> dict:
    return {k: round(100 * v, 3) for k, v in stats.items()}


def main(argv=None) -> int:
    from landmarker.model.backends import onnx_session, run_session
    from landmarker.model.card import SHIPPED_WEIGHTS, ModelCard, card_path, load_card
    from landmarker.model.crop import normalise
    from landmarker.model.export import export_onnx
    from landmarker.model.int8_check import DRIFT_BOUND, describe_cpu, reference_path, save_reference
    from landmarker.training.quantize import (
        QUANT_DEFAULTS,
        choose_reference,
        dataset_crops,
        detected_crops,
        int8_drift,
        quantize_int8,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="safetensors (default: the shipped weights)")
    ap.add_argument("--data", required=True, action="append",
                    help="FORMAT:PATH of the training data (calibration: its train split); repeat for several sets")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=1024, help="calibration faces (default 1024)")
    ap.add_argument("--method", default=QUANT_DEFAULTS["method"], choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--keep-float", nargs="*", default=list(QUANT_DEFAULTS["keep_float"]),
                    help="node names left in float (default: the first convolution, which sees raw pixels)")
    ap.add_argument("--full-range", action="store_true",
                    help="8-bit weights instead of 7-bit: u8 x s8 pair sums then saturate int16 on CPUs without "
                    "VNNI (AVX2-only x86), where the landmarks drift up to 42%% of the inter-ocular distance")
    ap.add_argument("--weight-type", default="int8", choices=["int8", "uint8"])
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor (default per channel)")
    ap.add_argument("--op-types", nargs="*", default=list(QUANT_DEFAULTS["op_types"]),
                    help="quantise only these op types (default Conv; every op: more drift, see the benchmark)")
    ap.add_argument("--reference-images", nargs="*", type=Path, default=None,
                    help="photos the reference crops come from; they ship beside the model, so their licence must "
                    "allow it (default: 200 congress portraits, public domain, and dlib's example faces)")
    ap.add_argument("--reference-faces", type=int, default=8)
    ap.add_argument("--bound", type=float, default=DRIFT_BOUND, help="largest drift, fraction of the IOD (0.02)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep-fp32", action="store_true", help="also write <out stem>.fp32.onnx and its card")
    args = ap.parse_args(argv)

    out = Path(args.out)
    settings = dict(reduce_range=not args.full_range, weight_type=args.weight_type, per_channel=not args.per_tensor,
                    op_types=tuple(args.op_types), keep_float=tuple(args.keep_float), method=args.method)
    ref_images = args.reference_images if args.reference_images is not None else default_reference_images()
    cpu = describe_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(args.weights, Path(tmp) / "fp32.onnx")
        card = load_card(fp32)
        rule = ModelCard.from_dict(card, fp32)  # the crop rule and input size
        train, val = identity_split(args.data, args.val_fraction, args.seed)  # loaded once: calibration, check
        calib = calibration_crops(args.data, args.n, rule, args.val_fraction, args.seed, train=train)
        quantised = quantize_int8(fp32, Path(tmp) / "int8.onnx", calib, **settings)

        val_crops = normalise(dataset_crops(val, rule))
        pool, sources = detected_crops(ref_images, rule)
        if len(pool) < args.reference_faces:
            sys.exit(f"--reference-images: {len(pool)} faces found, {args.reference_faces} needed")
        fp32_session = onnx_session(fp32)
        checks = {}
        for name, crops in (("validation split", val_crops), ("reference images", normalise(pool))):
            if not len(crops):  # e.g. --val-fraction 0
                continue
            want = run_session(fp32_session, crops)
            checks[name] = int8_drift(quantised, want, crops)
            checks[name]["want"] = want
        for name, d in checks.items():
            print(f"{name} ({len(d['want'])} faces), drift from fp32 in % IOD on {cpu}: "
                  f"int8 kernels {_pct(d['int8'])}, float path {_pct(d['float'])}")
        worst = max(d["int8"]["worst"] for d in checks.values())
        if worst > args.bound:
            sys.exit(f"not written: the int8 kernels drift {100 * worst:.2f}% of the IOD from fp32 on this CPU "
                     f"({cpu}), over the bound of {100 * args.bound:.0f}%")

        pick = choose_reference(checks["reference images"]["per_face_float"], args.reference_faces)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(quantised, out)
        ref = save_reference(reference_path(out), pool[pick], checks["reference images"]["want"][pick],
                             [sources[i] for i in pick])
        if args.keep_fp32:
            fp32_out = out.with_name(out.stem + ".fp32.onnx")
            shutil.copyfile(fp32, fp32_out)
            card_path(fp32_out).write_text(json.dumps(card, indent=2) + "\n")

    weight_bits = "8-bit" if args.full_range else "7-bit (reduce_range)"
    card["onnx"]["quantisation"] = (
        f"int8: onnxruntime.quantization.quantize_static, QDQ, {'per-tensor' if args.per_tensor else 'per-channel'} "
        f"{weight_bits} {args.weight_type} weights, uint8 activations, op types {', '.join(args.op_types) or 'all'}, "
        f"{args.method} calibration on {len(calib)} face crops of the training split of {' + '.join(args.data)} "
        f"(tools/quantize_onnx.py); kept in float: {', '.join(args.keep_float) or 'none'}"
    )
    card["onnx"]["int8_check"] = {
        "reference": ref.name,
        "reference_faces": [sources[i] for i in pick],
        "bound_iod": args.bound,
        "text": "each face's worst point from the fp32 network's, fraction of its inter-ocular distance; the ONNX "
                "backend runs the reference faces at load and leaves the int8 kernels where they drift beyond the "
                "bound",
        "measured_at_export": {
            "cpu": cpu,
            **{name: {"faces": len(d["want"]), "int8_kernels": d["int8"], "float_path": d["float"]}
               for name, d in checks.items()},
            "reference_faces_int8_worst": float(checks["reference images"]["per_face_int8"][pick].max()),
        },
    }
    weights = Path(args.weights) if args.weights else SHIPPED_WEIGHTS
    if card_path(out).resolve() == card_path(weights).resolve():  # beside its safetensors: one shared card
        shared = load_card(weights)
        shared["onnx"] = card["onnx"]
        card = shared
    card_path(out).write_text(json.dumps(card, indent=2) + "\n")
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB; reference outputs {ref.name} ({len(pick)} faces)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
