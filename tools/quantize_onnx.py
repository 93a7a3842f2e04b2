"""Export the shipped weights to ONNX and quantise them to int8 with ONNX Runtime.

    python tools/quantize_onnx.py --data ytf68:../shared/datasets/ytf68 --out landmarker/weights/resnet18_ytf68.onnx

Static quantisation (ONNX Runtime's ``quantize_static``, QDQ format, per-channel
int8 weights, uint8 activations) calibrated on face crops of the training split
only (identity split of ``--data`` with ``--val-fraction``/``--seed`` as in
training), never on a test set. Also writes ``<out stem>.fp32.onnx`` beside the
output when ``--keep-fp32`` is given, to compare. The model card goes beside the
file (same stem, ``.json``) with the quantisation recorded; written beside its
safetensors (the shipped case), the two files share one card, which gains an
``onnx`` section.

Only the convolutions are quantised (``--op-types Conv``): on the shipped weights
that kept the NME of the fp32 export on ytf68 val and dlib-faces (+0.00, +0.00,
+0.02 points) at 1.8 ms a face against 5.1 ms (2-core AMD EPYC, AVX2, batch 64);
quantising every op ORT can was 1.6 ms but +0.15 points on ytf68 val.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def calibration_crops(spec: str, n: int, img_size: int, val_fraction: float, seed: int) -> np.ndarray:
    """``n`` normalised crops float32 ``(n, 1, S, S)`` of training-split faces, boxes from landmarks."""
    from landmarker import crop as C
    from landmarker.datasets import load_dataset, split_by_identity
    from landmarker.decode import read_image, to_gray

    train, _ = split_by_identity(load_dataset(spec), val_fraction, seed)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(train), size=min(n, len(train)), replace=False)
    crops = []
    for i in picks:
        s = train[i]
        gray = to_gray(read_image(s.image_path))
        box = s.box if s.box is not None else C.box_from_landmarks(s.landmarks)
        cx, cy, side = C.crop_square(box)
        crops.append(C.normalise(C.warp_crop(gray, C.crop_matrix(cx, cy, side, img_size), img_size)))
    return np.stack(crops)[:, None].astype(np.float32)


def main(argv=None) -> int:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from landmarker.card import SHIPPED_WEIGHTS, card_path, load_card
    from landmarker.onnx_export import INPUT_NAME, export_onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="safetensors (default: the shipped weights)")
    ap.add_argument("--data", required=True, help="FORMAT:PATH of the training data (calibration: its train split)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=1024, help="calibration faces (default 1024)")
    ap.add_argument("--method", default="minmax", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--keep-float", nargs="*", default=[], help="node names left in float (default none)")
    ap.add_argument("--reduce-range", action="store_true",
                    help="7-bit weights: avoids the int16 saturation of u8s8 products on CPUs without VNNI")
    ap.add_argument("--weight-type", default="int8", choices=["int8", "uint8"])
    ap.add_argument("--op-types", nargs="*", default=["Conv"],
                    help="quantise only these op types (default Conv: quantising the residual additions and the "
                    "head too was 1.1x faster but cost 0.1-0.15 points of NME on ytf68 val)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep-fp32", action="store_true")
    args = ap.parse_args(argv)

    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(args.weights, Path(tmp) / "fp32.onnx")
        card = load_card(fp32)
        size = int(card["input"]["img_size"])
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))
        crops = calibration_crops(args.data, args.n, size, args.val_fraction, args.seed)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(crops[i : i + 16] for i in range(0, len(crops), 16))

            def get_next(self):
                batch = next(self.it, None)
                return None if batch is None else {INPUT_NAME: batch}

        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[args.method]
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8 if args.weight_type == "int8" else QuantType.QUInt8,
                        reduce_range=args.reduce_range, op_types_to_quantize=args.op_types, calibrate_method=method,
                        nodes_to_exclude=list(args.keep_float))
        if args.keep_fp32:
            fp32_out = out.with_name(out.stem + ".fp32.onnx")
            fp32_out.write_bytes(fp32.read_bytes())
            card_path(fp32_out).write_text(json.dumps(card, indent=2) + "\n")
    weights = Path(args.weights) if args.weights else SHIPPED_WEIGHTS
    card["onnx"]["quantisation"] = (
        f"int8: onnxruntime.quantization.quantize_static, QDQ, per-channel int8 weights, uint8 activations, "
        f"{args.method} calibration on {len(crops)} face crops of the training split of {args.data} "
        f"(tools/quantize_onnx.py); kept in float: {', '.join(args.keep_float) or 'none'}"
    )
    if card_path(out).resolve() == card_path(weights).resolve():  # beside its safetensors: one shared card
        shared = load_card(weights)
        shared["onnx"] = card["onnx"]
        card = shared
    card_path(out).write_text(json.dumps(card, indent=2) + "\n")
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
