"""Inference backends: normalised crops in, network outputs out.

A backend is a callable ``backend(crops) -> targets`` with ``crops`` float32
``(N, S, S)`` grayscale crops normalised to ``[-1, 1]`` (:func:`landmarker.model.crop.normalise`)
and ``targets`` float32 ``(N, 136)``: ``x0, y0, ..., x67, y67`` as offsets from the
crop centre over the crop side (:func:`landmarker.model.crop.to_targets`). Crops are run
in chunks of at most ``batch_size``.

- :class:`OnnxBackend` (the default): an ``.onnx`` file on the CPU, run by OpenVINO or
  ONNX Runtime (:mod:`landmarker.model.engines`: the faster one on the CPUs measured,
  OpenVINO, when it is installed); the shipped file is int8 (``tools/quantize_onnx.py``),
  checked against its reference outputs when it loads (:mod:`landmarker.model.int8_check`);
  one's own weights are exported with ``landmarker export`` (:mod:`landmarker.model.export`).
  Needs no torch.
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
from landmarker.model.engines import default_engine, installed, open_session, version
from landmarker.model.int8_check import DRIFT_BOUND, Int8Check, describe_cpu, drift_iod, load_reference, reference_path
from morphkit.errors import InvalidInput, MissingDependency, extra_hint

#: ``--backend`` choices: ``onnx`` is the ONNX file on this machine's default engine; ``openvino`` and
#: ``onnxruntime`` name the engine; ``torch`` runs safetensors weights in PyTorch.
BACKENDS = ("onnx", "openvino", "onnxruntime", "torch")
ONNX_KINDS = ("onnx", "openvino", "onnxruntime")
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
    """The network exported to ONNX, run on the CPU by OpenVINO or ONNX Runtime (:mod:`landmarker.model.engines`).

    A quantised (int8) model is checked when it loads (:mod:`landmarker.model.int8_check`):
    its reference crops run through the engine's int8 kernels, and if any face's landmarks
    drift more than ``drift_bound`` of its inter-ocular distance from the fp32
    network's, a one-line warning says so and the next way to run the same file is
    checked in turn: ONNX Runtime's int8 kernels (when the engine was OpenVINO), then
    ONNX Runtime's float path (``session.disable_quant_qdq``: no int8 kernels, about 2x
    slower). A quantised file without reference outputs runs on the float path. The
    check runs once per process for a file and engine.

    Args:
        path: the ``.onnx`` file, with its model card (``.json``) beside it.
        num_threads: the engine's CPU threads (None: its default, one per core).
        batch_size: most crops per engine call.
        drift_bound: the largest drift allowed, a fraction of the IOD (default 2%).
        engine: ``openvino``, ``onnxruntime`` or None (:func:`landmarker.model.engines.default_engine`).

    Attributes:
        session: the :class:`landmarker.model.engines.Session` in use; card: the model card.
        check: :class:`landmarker.model.int8_check.Int8Check`: which engine and arithmetic run
            (``fp32``, ``int8`` or ``float``), the drift measured at load, the CPU's int8 features.
        engine: the engine that runs (after any fallback).

    Raises:
        FileNotFoundError: the file or its card is missing.
        ValueError: the file is not an ONNX model the engine can load, or its
            reference outputs are unusable or not reproduced even on the float path
            (the model and its reference file do not belong together).
        MissingDependency: the engine asked for is not installed.
    """

    name = "onnx"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None, batch_size: int = 64,
                 drift_bound: float = DRIFT_BOUND, engine: str | None = None):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file (make one with `landmarker export --format onnx`)")
        self.card = ModelCard.load(path)
        self.batch_size = batch_size
        self.check, self.session = _checked_session(path, self.card, engine or default_engine(), num_threads,
                                                    drift_bound)
        self.engine = self.session.engine

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """float32 ``(N, S, S)`` crops -> float32 ``(N, 136)`` targets."""
        return run_session(self.session, _check_crops(crops), self.batch_size)


def onnx_session(path: str | os.PathLike, num_threads: int | None = None, float_path: bool = False):
    """An ONNX Runtime CPU :class:`~landmarker.model.engines.Session` of ``path``; ``float_path`` runs a
    quantised (QDQ) model without int8 kernels.

    ``float_path`` sets ONNX Runtime's ``session.disable_quant_qdq``: the
    QuantizeLinear/DequantizeLinear nodes stay float operations instead of being
    fused with the convolutions into int8 kernels, so the result is the quantised
    model's arithmetic done in float, the same on every CPU.

    Raises:
        ValueError: not an ONNX model ONNX Runtime can load.
    """
    return open_session("onnxruntime", path, num_threads, float_path)


def run_session(session, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Normalised crops float32 ``(N, S, S)`` through a :class:`~landmarker.model.engines.Session` in
    chunks of ``batch_size``; returns float32 ``(N, 136)``."""
    outs = [np.zeros((0, N_OUTPUTS), np.float32)]
    for i in range(0, len(crops), batch_size):
        outs.append(session(np.ascontiguousarray(crops[i : i + batch_size][:, None], dtype=np.float32)))
    return np.concatenate(outs)


_CHECKS: dict[tuple, Int8Check] = {}  # one int8 check per file, engine and bound in a process
_CHECKS_LOCK = threading.Lock()


def _checked_session(path: Path, card: ModelCard, engine: str, num_threads, bound: float):
    """``(Int8Check, session)``: the engine and arithmetic a model runs on (checked once per process) and its
    session."""
    ref = reference_path(path)
    quantised = bool((card.data.get("onnx") or {}).get("quantisation")) or ref.is_file()
    if not quantised:
        return Int8Check("fp32", bound, engine=engine), open_session(engine, path, num_threads)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, ref.stat().st_mtime_ns if ref.is_file() else None,
           bound, engine)
    with _CHECKS_LOCK:  # other threads loading the same file wait for this check instead of repeating it
        if key not in _CHECKS:
            check, session = _check_int8(path, card, ref, engine, num_threads, bound)
            _CHECKS[key] = check
            return check, session
    check = _CHECKS[key]
    return check, open_session(check.engine, path, num_threads, float_path=check.path == "float")


def _ways(engine: str) -> list[tuple[str, bool]]:
    """The ways to run a quantised model, in the order they are tried: ``(engine, float_path)``: the engine's
    int8 kernels, then ONNX Runtime's int8 kernels and its float path (where it is installed)."""
    ways = [(engine, False)]
    if installed("onnxruntime"):
        ways += [w for w in (("onnxruntime", False), ("onnxruntime", True)) if w != ways[0]]
    return ways


def _check_int8(path: Path, card: ModelCard, ref: Path, engine: str, num_threads, bound: float):
    if not ref.is_file():
        log.warning(f"{path}: an int8 model without reference outputs ({ref.name}) to check this CPU's int8 "
                    f"kernels against: running it without them (ONNX Runtime's float path, about 2x slower)")
        return (Int8Check("float", bound, reason=f"no {ref.name}", engine="onnxruntime"),
                open_session("onnxruntime", path, num_threads, float_path=True))
    reference = load_reference(ref)
    if reference.crops.shape[1] != card.img_size:
        raise InvalidInput(f"{ref}: reference crops are {reference.crops.shape[1]} px, the model takes {card.img_size}")
    inputs = reference.inputs()
    drifts: dict[tuple[str, bool], float] = {}
    for way in _ways(engine):
        session = open_session(way[0], path, num_threads, float_path=way[1])
        drifts[way] = float(drift_iod(run_session(session, inputs), reference.targets).max())
        if drifts[way] <= bound:
            break
    else:
        raise InvalidInput(
            f"{path}: landmarks {100 * drifts[way]:.1f}% of the inter-ocular distance from its reference outputs "
            f"({ref.name}) even without int8 kernels (bound {100 * bound:.0f}%): the model and its reference "
            f"outputs do not belong together (re-make both with tools/quantize_onnx.py)"
        )
    failed = [w for w in drifts if w != way]
    if not failed:
        return Int8Check("int8", bound, drifts[way], faces=len(inputs), engine=way[0]), session
    said = ", ".join(f"{version(e)}'s int8 kernels drift {100 * drifts[(e, f)]:.1f}% of IOD" for e, f in failed)
    if way[1]:  # the float path: drift is the first engine's int8 drift, float_drift the float path's
        check = Int8Check("float", bound, drifts[failed[0]], drifts[way], faces=len(inputs),
                          reason=f"{said} on this CPU", engine=way[0])
    else:  # another engine's int8 kernels
        check = Int8Check("int8", bound, drifts[way], faces=len(inputs), reason=f"{said} on this CPU", engine=way[0])
    log.warning(f"{path.name}: on this CPU ({describe_cpu(check.cpu)}) {said} from the fp32 network's "
                f"landmarks (bound {100 * bound:.0f}%): running on {version(way[0])}"
                + ("'s float path (int8 kernels off, about 2x slower)" if way[1] else "'s int8 kernels"))
    return check, session


def resolve_backend(kind: str | None, weights: str | os.PathLike | None) -> tuple[str, Path]:
    """Which backend runs which file: ``(kind, weights path)``.

    ``kind`` None chooses from the file: ``.onnx`` -> ``onnx``, any other file
    (safetensors) -> ``torch``, no file -> ``onnx`` with the shipped int8 model.
    ``onnx``, ``openvino`` and ``onnxruntime`` all run an ``.onnx`` file (``onnx``: on
    :func:`landmarker.model.engines.default_engine`). With ``kind="torch"`` and no file: the
    shipped safetensors.

    Raises:
        ValueError: unknown kind, or a file the chosen backend cannot run
            (safetensors with an ONNX engine: export it first; ``.onnx`` with ``torch``).
    """
    if kind is not None and kind not in BACKENDS:
        raise InvalidInput(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    is_onnx = weights is not None and Path(weights).suffix.lower() == ".onnx"
    if kind is None:
        kind = "onnx" if weights is None or is_onnx else "torch"
    if weights is None:
        return kind, SHIPPED_ONNX if kind in ONNX_KINDS else SHIPPED_WEIGHTS
    if kind == "torch" and is_onnx:
        raise InvalidInput(f"{weights}: an ONNX file runs on the onnx backend (leave out --backend torch)")
    if kind in ONNX_KINDS and not is_onnx:
        raise InvalidInput(
            f"{weights}: the {kind} backend needs an .onnx file; make one with "
            f"`landmarker export --format onnx --weights {weights} --out MODEL.onnx`, or use --backend torch"
        )
    return kind, Path(weights)


def load_backend(kind: str | None = None, weights=None, device=None, batch_size: int = 64,
                 num_threads: int | None = None):
    """The backend that runs ``weights`` (see :func:`resolve_backend`).

    Args:
        kind: ``"onnx"`` (the default engine), ``"openvino"``, ``"onnxruntime"``, ``"torch"`` or None
            (from the file; the default).
        weights: ``.onnx`` or safetensors file; None: the shipped model.
        device: torch device (torch only).
        batch_size: most crops per network call.
        num_threads: CPU threads: the ONNX engine's threads per call,
            ``torch.set_num_threads`` for torch (process-wide).

    Raises:
        ValueError: unknown kind, or unusable weights.
        FileNotFoundError: missing weights or model card.
        ImportError: the torch backend without torch installed (the ``[train]`` extra), or an ONNX
            engine named that is not installed.
    """
    kind, path = resolve_backend(kind, weights)
    if kind in ONNX_KINDS:
        return OnnxBackend(path, num_threads, batch_size, engine=None if kind == "onnx" else kind)
    try:
        import torch
    except ImportError:
        raise MissingDependency(
            f"the torch backend needs PyTorch: {extra_hint('train')} (or use the default onnx backend)"
        ) from None
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    return TorchBackend(path, device=device, batch_size=batch_size)


def engine_name(backend) -> str:
    """What runs the network, with its version: e.g. ``OpenVINO 2026.4.1``, ``ONNX Runtime 1.22.0``,
    ``PyTorch 2.5.1``."""
    if isinstance(backend, OnnxBackend):
        return version(backend.engine)
    import torch

    return f"PyTorch {torch.__version__}"


def describe_backend(backend) -> str:
    """One line saying what runs the network, e.g. ``OpenVINO 2026.4.1, int8 kernels (...); CPU ...``
    or ``PyTorch 2.5.1 on cpu``."""
    if isinstance(backend, OnnxBackend):
        return f"{engine_name(backend)}, {backend.check.describe()}"
    return f"{engine_name(backend)} on {getattr(backend, 'device', 'cpu')}"
