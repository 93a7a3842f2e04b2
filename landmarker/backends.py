"""Inference backends: normalised crops in, network outputs out.

A backend is a callable ``backend(crops) -> targets`` with ``crops`` float32
``(N, S, S)`` grayscale crops normalised to ``[-1, 1]`` (:func:`landmarker.crop.normalise`)
and ``targets`` float32 ``(N, 136)``: ``x0, y0, ..., x67, y67`` as offsets from the
crop centre over the crop side (:func:`landmarker.crop.to_targets`). Crops are run
in chunks of at most ``batch_size``.

- :class:`OnnxBackend` (the default): an ``.onnx`` file in ONNX Runtime on the
  CPU; the shipped one is int8 (``tools/quantize_onnx.py``), one's own weights are
  exported with ``landmarker export`` (:mod:`landmarker.onnx_export`). Needs no torch.
- :class:`TorchBackend`: safetensors weights in PyTorch (CPU or CUDA); needs the
  ``[train]`` extra (torch, torchvision).

Both read the model card beside the weights file; :func:`resolve_backend` says which
backend a weights file takes, :func:`load_backend` loads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .card import N_OUTPUTS, SHIPPED_ONNX, SHIPPED_WEIGHTS, ModelCard

BACKENDS = ("onnx", "torch")


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
        model: the ``torch.nn.Module`` in eval mode; card: the :class:`~landmarker.card.ModelCard`; device.

    Raises:
        FileNotFoundError, ValueError: missing or unusable weights (see :func:`landmarker.model.load_model`).
    """

    name = "torch"

    def __init__(self, weights=None, device=None, batch_size: int = 64):
        import torch

        from .model import load_model

        self.model, card = load_model(weights)
        self.card = ModelCard.from_dict(card, weights)
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
        self.card = ModelCard.load(path)
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


def resolve_backend(kind: str | None, weights: str | os.PathLike | None) -> tuple[str, Path]:
    """Which backend runs which file: ``(kind, weights path)``.

    ``kind`` None chooses from the file: ``.onnx`` -> ``onnx``, any other file
    (safetensors) -> ``torch``, no file -> ``onnx`` with the shipped int8 model.
    With ``kind="torch"`` and no file: the shipped safetensors.

    Raises:
        ValueError: unknown kind, or a file the chosen backend cannot run
            (safetensors with ``onnx``: export it first; ``.onnx`` with ``torch``).
    """
    if kind is not None and kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    is_onnx = weights is not None and Path(weights).suffix.lower() == ".onnx"
    if kind is None:
        kind = "onnx" if weights is None or is_onnx else "torch"
    if weights is None:
        return kind, SHIPPED_ONNX if kind == "onnx" else SHIPPED_WEIGHTS
    if kind == "torch" and is_onnx:
        raise ValueError(f"{weights}: an ONNX file runs on the onnx backend (leave out --backend torch)")
    if kind == "onnx" and not is_onnx:
        raise ValueError(
            f"{weights}: the onnx backend needs an .onnx file; make one with "
            f"`landmarker export --format onnx --weights {weights} --out MODEL.onnx`, or use --backend torch"
        )
    return kind, Path(weights)


def load_backend(kind: str | None = None, weights=None, device=None, batch_size: int = 64,
                 num_threads: int | None = None):
    """The backend that runs ``weights`` (see :func:`resolve_backend`).

    Args:
        kind: ``"onnx"``, ``"torch"`` or None (from the file; the default).
        weights: ``.onnx`` or safetensors file; None: the shipped model.
        device: torch device (torch only).
        batch_size: most crops per network call.
        num_threads: CPU threads: intra-op threads for ONNX Runtime,
            ``torch.set_num_threads`` for torch (process-wide).

    Raises:
        ValueError: unknown kind, or unusable weights.
        FileNotFoundError: missing weights or model card.
        ImportError: the torch backend without torch installed (the ``[train]`` extra).
    """
    kind, path = resolve_backend(kind, weights)
    if kind == "onnx":
        return OnnxBackend(path, num_threads, batch_size)
    try:
        import torch
    except ImportError:
        raise ImportError(
            "the torch backend needs PyTorch: pip install 'morphkit[train]' (or use the default onnx backend)"
        ) from None
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    return TorchBackend(path, device=device, batch_size=batch_size)
