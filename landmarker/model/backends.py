"""Inference backends: normalised crops in, network outputs out.

A backend is a callable ``backend(crops) -> targets`` with ``crops`` float32
``(N, S, S)`` grayscale crops normalised to ``[-1, 1]`` (:func:`landmarker.model.crop.normalise`)
and ``targets`` float32 ``(N, 136)``: ``x0, y0, ..., x67, y67`` as offsets from the
crop centre over the crop side (:func:`landmarker.model.crop.to_targets`). Crops are run
in chunks of at most ``batch_size``.

- :class:`OnnxBackend` (the default): an ``.onnx`` file in ONNX Runtime on the
  CPU; the shipped one is int8 (``tools/quantize_onnx.py``), checked against its
  reference outputs when it loads (:mod:`landmarker.model.int8_check`); one's own weights
  are exported with ``landmarker export`` (:mod:`landmarker.model.export`). Needs no torch.
- :class:`TorchBackend`: safetensors weights in PyTorch (CPU or CUDA); needs the
  ``[train]`` extra (torch, torchvision).

Both read the model card beside the weights file; :func:`resolve_backend` says which
backend a weights file takes, :func:`load_backend` loads it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from landmarker.model.card import N_OUTPUTS, SHIPPED_ONNX, SHIPPED_WEIGHTS, ModelCard
from landmarker.model.int8_check import DRIFT_BOUND, Int8Check, describe_cpu, drift_iod, load_reference, reference_path
from morphkit.errors import InvalidInput, MissingDependency, extra_hint

BACKENDS = ("onnx", "torch")
log = logging.getLogger(__name__)


def _check_crops(crops: np.ndarray) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim != 3 or crops.shape[1] != crops.shape[2]:
        raise InvalidInput(f"crops must be (N, S, S), got shape {crops.shape}")
    return np.ascontiguousarray(crops, dtype=np.float32)


class TorchBackend:
    """The network in PyTorch.

    Args:
        weights: safetensors file with its card beside it; None: the shipped weights.
        device: torch device; default CUDA when available, else CPU.
        batch_size: most crops per forward pass.

    Attributes:
        model: the ``torch.nn.Module`` in eval mode; card: the :class:`~landmarker.model.card.ModelCard`; device.

    Raises:
        FileNotFoundError, ValueError: missing or unusable weights (see :func:`landmarker.model.network.load_model`).
    """

    name = "torch"

    def __init__(self, weights=None, device=None, batch_size: int = 64):
        import torch

        from landmarker.model.network import load_model

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

    A quantised (int8) model is checked when it loads (:mod:`landmarker.model.int8_check`):
    its reference crops run through the int8 kernels, and if any face's landmarks
    drift more than ``drift_bound`` of its inter-ocular distance from the fp32
    network's, a one-line warning says so and the same file runs on ONNX Runtime's
    float path instead (``session.disable_quant_qdq``: no int8 kernels, about 2x
    slower), checked in turn. A quantised file without reference outputs runs on the
    float path. The check runs once per process for a file.

    Args:
        path: the ``.onnx`` file, with its model card (``.json``) beside it.
        num_threads: ONNX Runtime intra-op threads (None: its default, one per core).
        batch_size: most crops per session run.
        drift_bound: the largest drift allowed, a fraction of the IOD (default 2%).

    Attributes:
        session: the ONNX Runtime session in use; card: the model card.
        check: :class:`landmarker.model.int8_check.Int8Check`: which path runs (``fp32``,
            ``int8`` or ``float``), the drift measured at load, the CPU's int8 features.

    Raises:
        FileNotFoundError: the file or its card is missing.
        ValueError: the file is not an ONNX model ONNX Runtime can load, or its
            reference outputs are unusable or not reproduced even on the float path
            (the model and its reference file do not belong together).
    """

    name = "onnx"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None, batch_size: int = 64,
                 drift_bound: float = DRIFT_BOUND):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file (make one with `landmarker export --format onnx`)")
        self.card = ModelCard.load(path)
        self.batch_size = batch_size
        self.check, self.session = _checked_session(path, self.card, num_threads, drift_bound)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(N, S, S)`` crops -> float32 ``(N, 136)`` targets."""
        return run_session(self.session, _check_crops(crops), self.batch_size)


def onnx_session(path: str | os.PathLike, num_threads: int | None = None, float_path: bool = False):
    """An ONNX Runtime CPU session of ``path``; ``float_path`` runs a quantised (QDQ) model without int8 kernels.

    ``float_path`` sets ONNX Runtime's ``session.disable_quant_qdq``: the
    QuantizeLinear/DequantizeLinear nodes stay float operations instead of being
    fused with the convolutions into int8 kernels, so the result is the quantised
    model's arithmetic done in float, the same on every CPU.

    Raises:
        ValueError: not an ONNX model ONNX Runtime can load.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if num_threads is not None:
        opts.intra_op_num_threads = int(num_threads)
    if float_path:
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise InvalidInput(f"{path}: not an ONNX model ONNX Runtime can load ({str(err).splitlines()[0]})") from err


def run_session(session, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Normalised crops float32 ``(N, S, S)`` through an ONNX Runtime session in chunks of
    ``batch_size``; returns float32 ``(N, 136)``."""
    name = session.get_inputs()[0].name
    outs = [np.zeros((0, N_OUTPUTS), np.float32)]
    for i in range(0, len(crops), batch_size):
        x = np.ascontiguousarray(crops[i : i + batch_size][:, None], dtype=np.float32)
        outs.append(np.asarray(session.run(None, {name: x})[0], np.float32))
    return np.concatenate(outs)


_CHECKS: dict[tuple, Int8Check] = {}  # one int8 check per file and bound in a process
_CHECKS_LOCK = threading.Lock()


def _checked_session(path: Path, card: ModelCard, num_threads, bound: float):
    """``(Int8Check, session)``: the path a model runs on (checked once per process) and its session."""
    ref = reference_path(path)
    quantised = bool((card.data.get("onnx") or {}).get("quantisation")) or ref.is_file()
    if not quantised:
        return Int8Check("fp32", bound), onnx_session(path, num_threads)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, ref.stat().st_mtime_ns if ref.is_file() else None, bound)
    with _CHECKS_LOCK:  # other threads loading the same file wait for this check instead of repeating it
        if key not in _CHECKS:
            check, session = _check_int8(path, card, ref, num_threads, bound)
            _CHECKS[key] = check
            return check, session
    check = _CHECKS[key]
    return check, onnx_session(path, num_threads, float_path=check.path == "float")


def _check_int8(path: Path, card: ModelCard, ref: Path, num_threads, bound: float):
    if not ref.is_file():
        log.warning(f"{path}: an int8 model without reference outputs ({ref.name}) to check this CPU's int8 "
                    f"kernels against: running it without them (float path, about 2x slower)")
        return Int8Check("float", bound, reason=f"no {ref.name}"), onnx_session(path, num_threads, float_path=True)
    reference = load_reference(ref)
    if reference.crops.shape[1] != card.img_size:
        raise InvalidInput(f"{ref}: reference crops are {reference.crops.shape[1]} px, the model takes {card.img_size}")
    inputs = reference.inputs()
    session = onnx_session(path, num_threads)
    drift = float(drift_iod(run_session(session, inputs), reference.targets).max())
    if drift <= bound:
        return Int8Check("int8", bound, drift, faces=len(inputs)), session
    session = onnx_session(path, num_threads, float_path=True)
    float_drift = float(drift_iod(run_session(session, inputs), reference.targets).max())
    if float_drift > bound:
        raise InvalidInput(
            f"{path}: landmarks {100 * float_drift:.1f}% of the inter-ocular distance from its reference outputs "
            f"({ref.name}) even without int8 kernels (bound {100 * bound:.0f}%): the model and its reference "
            f"outputs do not belong together (re-make both with tools/quantize_onnx.py)"
        )
    check = Int8Check("float", bound, drift, float_drift, faces=len(inputs),
                      reason=f"int8 kernels drift {100 * drift:.1f}% of IOD on this CPU")
    log.warning(f"{path.name}: int8 landmarks on this CPU ({describe_cpu(check.cpu)}) are {100 * drift:.1f}% of "
                f"the inter-ocular distance from the fp32 network's (bound {100 * bound:.0f}%): running without "
                f"the int8 kernels (float path, about 2x slower)")
    return check, session


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
        raise InvalidInput(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    is_onnx = weights is not None and Path(weights).suffix.lower() == ".onnx"
    if kind is None:
        kind = "onnx" if weights is None or is_onnx else "torch"
    if weights is None:
        return kind, SHIPPED_ONNX if kind == "onnx" else SHIPPED_WEIGHTS
    if kind == "torch" and is_onnx:
        raise InvalidInput(f"{weights}: an ONNX file runs on the onnx backend (leave out --backend torch)")
    if kind == "onnx" and not is_onnx:
        raise InvalidInput(
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
        raise MissingDependency(
            f"the torch backend needs PyTorch: {extra_hint('train')} (or use the default onnx backend)"
        ) from None
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    return TorchBackend(path, device=device, batch_size=batch_size)
