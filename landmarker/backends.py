"""Inference backends: normalised crops in, network outputs out.

A backend is a callable ``backend(crops) -> targets`` with ``crops`` float32
``(N, S, S)`` grayscale crops normalised to ``[-1, 1]`` (:func:`landmarker.crop.normalise`)
and ``targets`` float32 ``(N, 136)``: ``x0, y0, ..., x67, y67`` as offsets from the
crop centre over the crop side (:func:`landmarker.crop.to_targets`). Crops are run
in chunks of at most ``batch_size``.

- :class:`TorchBackend`: the safetensors weights in PyTorch (CPU or CUDA).
- :class:`OnnxBackend`: an ``.onnx`` export (:mod:`landmarker.onnx_export`) in
  ONNX Runtime on the CPU.

Both read the model card beside the weights file; :func:`load_backend` picks one by name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .model import N_OUTPUTS, SHIPPED_WEIGHTS, load_card

BACKENDS = ("torch", "onnx")


def _check_crops(crops: np.ndarray) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim != 3 or crops.shape[1] != crops.shape[2]:
        raise ValueError(f"crops must be (N, S, S), got shape {crops.shape}")
    return np.ascontiguousarray(crops, dtype=np.float32)


class TorchBackend:
    """The network in PyTorch.

    Args:
        weights: safetensors file with its card beside it; None: the shipped weights.
        device: torch device; default CUDA when available, else CPU.
        batch_size: most crops per forward pass.

    Attributes:
        model: the ``torch.nn.Module`` in eval mode; card: the model card dict; device.

    Raises:
        FileNotFoundError, ValueError: missing or unusable weights (see :func:`landmarker.model.load_model`).
    """

    name = "torch"

    def __init__(self, weights=None, device=None, batch_size: int = 64):
        import torch

        from .model import load_model

        self.model, self.card = load_model(weights)
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.batch_size = batch_size

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(N, S, S)`` crops -> float32 ``(N, 136)`` targets."""
        import torch

        crops = _check_crops(crops)
        outs = [np.zeros((0, N_OUTPUTS), np.float32)]
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch_size):
                x = torch.from_numpy(crops[i : i + self.batch_size][:, None]).to(self.device)
                outs.append(self.model(x).float().cpu().numpy())
        return np.concatenate(outs)


class OnnxBackend:
    """The network exported to ONNX, run by ONNX Runtime's CPU execution provider.

    Args:
        path: the ``.onnx`` file, with its model card (``.json``) beside it.
        num_threads: ONNX Runtime intra-op threads (None: its default, one per core).
        batch_size: most crops per session run.

    Raises:
        FileNotFoundError: the file or its card is missing.
        ValueError: the file is not an ONNX model ONNX Runtime can load.
    """

    name = "onnx"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None, batch_size: int = 64):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file (make one with `landmarker export --format onnx`)")
        self.card = load_card(path)
        opts = ort.SessionOptions()
        if num_threads is not None:
            opts.intra_op_num_threads = int(num_threads)
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise ValueError(f"{path}: not an ONNX model ONNX Runtime can load ({str(err).splitlines()[0]})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = batch_size

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(N, S, S)`` crops -> float32 ``(N, 136)`` targets."""
        crops = _check_crops(crops)
        outs = [np.zeros((0, N_OUTPUTS), np.float32)]
        for i in range(0, len(crops), self.batch_size):
            x = crops[i : i + self.batch_size][:, None]
            outs.append(np.asarray(self.session.run(None, {self.input_name: x})[0], np.float32))
        return np.concatenate(outs)


def default_onnx_path() -> Path:
    """Where an ONNX export of the shipped weights is looked for: beside them, ``.onnx``."""
    return SHIPPED_WEIGHTS.with_suffix(".onnx")


def load_backend(kind: str = "torch", weights=None, device=None, batch_size: int = 64, num_threads: int | None = None):
    """A backend by name.

    Args:
        kind: ``"torch"`` (``weights``: safetensors) or ``"onnx"`` (``weights``: ``.onnx``;
            None: :func:`default_onnx_path`).
        device: torch device (torch only).
        num_threads: CPU threads: ``torch.set_num_threads`` for torch (process-wide),
            intra-op threads for ONNX Runtime.

    Raises:
        ValueError: unknown kind, or unusable weights.
        FileNotFoundError: missing weights or model card.
    """
    if kind == "torch":
        if num_threads is not None:
            import torch

            torch.set_num_threads(num_threads)
        if weights is not None and Path(weights).suffix.lower() == ".onnx":
            raise ValueError(f"{weights}: an ONNX file needs the onnx backend (--backend onnx)")
        return TorchBackend(weights, device=device, batch_size=batch_size)
    if kind == "onnx":
        return OnnxBackend(weights if weights is not None else default_onnx_path(), num_threads, batch_size)
    raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
