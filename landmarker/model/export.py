"""Export the landmark network to ONNX for :class:`landmarker.model.backends.OnnxBackend`.

The exported graph takes ``crops`` float32 ``(N, 1, S, S)`` (dynamic ``N``,
``S`` = the card's ``img_size``, pixels normalised to ``[-1, 1]``) and gives
``targets`` float32 ``(N, 136)``, exactly as the PyTorch model. The model card
is copied beside the ``.onnx`` file (same stem, ``.json``) with ``"format": "onnx"``
added, so the predictor finds the input size and crop rule there.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from landmarker.io.atomic import atomic_path
from landmarker.model.card import ModelCard
from landmarker.model.network import SHIPPED_WEIGHTS, card_path, load_model
from morphkit.errors import InvalidInput

INPUT_NAME, OUTPUT_NAME = "crops", "targets"


def export_onnx(
    weights_path: str | os.PathLike | None,
    out_path: str | os.PathLike,
    opset: int = 17,
    atol: float = 1e-3,
) -> Path:
    """Write ``out_path`` (ONNX) and its model card ``<stem>.json``; returns ``out_path``.

    Uses the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``),
    checks the file with ``onnx.checker`` and compares ONNX Runtime's output on a
    random batch of 3 with PyTorch's.

    Args:
        weights_path: safetensors weights (card beside them); None: the shipped weights.
        out_path: the ``.onnx`` file to write (folders are made).
        opset: ONNX opset version.
        atol: largest allowed absolute difference between the two outputs (crop-side units).

    Raises:
        FileNotFoundError, ValueError: unusable weights (see :func:`landmarker.model.network.load_model`).
        RuntimeError: the exported model fails the checker or disagrees with PyTorch.
    """
    import onnx

    weights = Path(weights_path) if weights_path is not None else SHIPPED_WEIGHTS
    out = Path(out_path)
    if out.suffix.lower() != ".onnx":
        raise InvalidInput(f"{out}: the ONNX file name must end in .onnx")
    model, card = load_model(weights)
    model.cpu().eval()
    size = ModelCard.from_dict(card, weights).img_size
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        # The TorchScript exporter is deprecated; the dynamo one needs onnxscript and opset >= 18.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            _torchscript_export(model, size, tmp, opset)
        onnx.checker.check_model(str(tmp))
        _compare_with_torch(model, tmp, size, atol)
    card = {**card, "format": "onnx", "onnx": {"opset": opset, "exported_from": weights.name,
                                                 "input": f"{INPUT_NAME} float32 (N, 1, {size}, {size})",
                                                 "output": f"{OUTPUT_NAME} float32 (N, 136)"}}
    card_path(out).write_text(json.dumps(card, indent=2) + "\n")
    return out


def _torchscript_export(model, size: int, path: Path, opset: int) -> None:
    import torch

    torch.onnx.export(
        model,
        (torch.zeros(1, 1, size, size),),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )


def _compare_with_torch(model, onnx_path: Path, size: int, atol: float) -> None:
    import onnxruntime as ort
    import torch

    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, size, size)).astype(np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: x})[0]
    diff = float(np.abs(got - want).max())
    if got.shape != want.shape or not diff <= atol:
        raise RuntimeError(f"{onnx_path}: ONNX output differs from PyTorch (max |diff| {diff:.2e} > {atol})")
