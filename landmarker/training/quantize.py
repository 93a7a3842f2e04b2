"""Static int8 quantisation of an exported ONNX model, and its check against fp32.

Needs the ``[train]`` extra (``onnx``, for ONNX Runtime's quantisation tools).
:func:`quantize_int8` writes a QDQ model with ONNX Runtime's ``quantize_static``;
:func:`int8_drift` measures, on the CPU it runs on, how far a quantised model's
outputs are from the fp32 model's, for the int8 kernels and for the float path;
:func:`choose_reference` picks the faces whose fp32 outputs ship beside the model
for the load-time check (:mod:`landmarker.model.int8_check`).

Default settings (``benchmarks/bench_quantisation.py`` measures the others):
per-channel weights, 7-bit (``reduce_range``) so that uint8 x int8 pair sums
cannot saturate int16 on CPUs without VNNI, uint8 activations, min-max
calibration, convolutions only, the first convolution kept in float
(it sees raw pixels: quantising it was most of the drift from fp32). Min-max,
not percentile (99.999%): on the 300-W-trained weights (issue 19) percentile
calibration clipped activations that one turned face of the 447 validation
faces needs (its worst point 2.28% of the IOD from fp32, over the 2% bound);
min-max gave 1.68% worst, 0.17% mean (0.14% with percentile), on a 2-core AMD EPYC.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path

import numpy as np

from landmarker.model.backends import onnx_session, run_session
from landmarker.model.export import INPUT_NAME
from landmarker.model.int8_check import drift_iod
from landmarker.training.metrics import nme
from morphkit.errors import InvalidInput

FIRST_CONV = "/conv1/Conv"  # the exported ResNet18's 7x7 stem convolution (raw pixels in)

def quantize_int8(
    fp32_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration: np.ndarray,
    reduce_range: bool = True,
    weight_type: str = "int8",
    per_channel: bool = True,
    op_types=("Conv",),
    keep_float=(FIRST_CONV,),
    method: str = "minmax",
) -> Path:
    """Quantise an fp32 ONNX model to int8 (QDQ format); returns ``out_path``.

    Args:
        fp32_path: the fp32 export (:func:`landmarker.model.export.export_onnx`).
        out_path: the int8 file to write (its model card is not written here).
        calibration: normalised crops float32 ``(N, S, S)`` (training faces, never test faces).
        reduce_range: 7-bit weights (no int16 saturation of u8 x s8 pairs without VNNI).
        weight_type: ``"int8"`` (u8s8 kernels) or ``"uint8"`` (u8u8 kernels: no saturation, other speed).
        per_channel: a scale per output channel (else per tensor).
        op_types: op types to quantise (None: every op ONNX Runtime can).
        keep_float: node names left in float.
        method: calibration, ``"minmax"``, ``"entropy"`` or ``"percentile"``.

    Raises:
        ValueError: an unknown ``weight_type`` or ``method``.

    Reference: ONNX Runtime, "Quantize ONNX models" (quantize_static, QDQ format,
    and the note on u8s8 saturation without VNNI).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    if method not in methods or weight_type not in types:
        raise InvalidInput(f"unknown calibration {method!r} or weight type {weight_type!r}")
    # equal batches: ONNX Runtime's histogram calibrators (percentile, entropy) stack them
    step = max(d for d in range(1, 17) if len(calibration) % d == 0)
    batches = [np.ascontiguousarray(calibration[i : i + step][:, None], np.float32)
               for i in range(0, len(calibration), step)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            batch = next(self.it, None)
            return None if batch is None else {INPUT_NAME: batch}

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre))
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=types[weight_type], reduce_range=reduce_range,
                        op_types_to_quantize=list(op_types) if op_types else None, calibrate_method=methods[method],
                        nodes_to_exclude=list(keep_float))
    return out


#: The settings :func:`quantize_int8` defaults to (read from its signature, so written once), for tools' options.
QUANT_DEFAULTS = {name: p.default for name, p in inspect.signature(quantize_int8).parameters.items()
                  if p.default is not inspect.Parameter.empty}


def int8_drift(model_path, fp32_targets: np.ndarray, crops: np.ndarray, num_threads: int | None = None) -> dict:
    """How far a quantised model's outputs are from fp32's, on this CPU, int8 kernels and float path.

    Args:
        model_path: the quantised ``.onnx``.
        fp32_targets: float32 ``(N, 136)`` the fp32 model's outputs on ``crops``.
        crops: normalised crops float32 ``(N, S, S)``.

    Returns:
        ``{"int8": stats, "float": stats}`` with stats ``{"worst": max over faces,
        "mean_worst": mean over faces of the worst point, "mean": mean point
        distance}``, all as fractions of each face's IOD (fp32 points 36-45), and
        ``"per_face_int8"``, ``"per_face_float"``: float64 ``(N,)`` each face's worst point.
    """
    out = {}
    for path_name, float_path in (("int8", False), ("float", True)):
        got = run_session(onnx_session(model_path, num_threads, float_path), crops)
        per_face = drift_iod(got, fp32_targets)
        out[path_name] = {"worst": float(per_face.max()), "mean_worst": float(per_face.mean()),
                          "mean": float(nme(got.reshape(-1, 68, 2), fp32_targets.reshape(-1, 68, 2)).mean())}
        out[f"per_face_{path_name}"] = per_face
    return out


def choose_reference(per_face_sensitivity: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices (int64 ``(k,)``) of the ``k`` faces with the largest sensitivity: the tool passes each
    face's drift on the float path (the quantisation itself, the same on every CPU)."""
    return np.argsort(-np.asarray(per_face_sensitivity))[:k]


def dataset_crops(samples, card) -> np.ndarray:
    """uint8 ``(n, S, S)`` crops of labelled faces by the crop rule of ``card``
    (:class:`landmarker.model.card.ModelCard`), each from its dataset box, else from a box
    made from its landmarks (:func:`landmarker.model.crop.box_from_landmarks`).

    Raises:
        landmarker.io.decode.ImageDecodeError: an image that does not decode.
    """
    from landmarker.io.decode import read_image, to_gray
    from landmarker.model import crop as C

    crops = []
    for s in samples:
        box = s.box if s.box is not None else C.box_from_landmarks(s.landmarks)
        gray = to_gray(read_image(s.image_path))
        crops.append(C.face_crop(gray, box, card.img_size, card.crop_scale, card.crop_shift_y)[0])
    return np.stack(crops) if crops else np.zeros((0, card.img_size, card.img_size), np.uint8)


def detected_crops(paths, card) -> tuple[np.ndarray, list[str]]:
    """uint8 ``(n, S, S)`` crops, by the crop rule of ``card``, of every face the default
    detector finds in the images ``paths``, and where each comes from (``"<folder>/<file> face <i>"``).

    Raises:
        landmarker.io.decode.ImageDecodeError: an image that does not decode.
    """
    from landmarker.inference.detect import DEFAULT_DETECTOR, make_detector
    from landmarker.io.decode import read_image, to_gray
    from landmarker.model import crop as C

    detector = make_detector(DEFAULT_DETECTOR)
    crops, sources = [], []
    for p in map(Path, paths):
        image = read_image(p)
        gray = to_gray(image)
        for j, det in enumerate(detector(image)):
            crops.append(C.face_crop(gray, det.box, card.img_size, card.crop_scale, card.crop_shift_y)[0])
            sources.append(f"{p.parent.name}/{p.name} face {j}")
    return (np.stack(crops) if crops else np.zeros((0, card.img_size, card.img_size), np.uint8)), sources
