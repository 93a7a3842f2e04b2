"""The int8 check: does this CPU's int8 arithmetic give the fp32 network's landmarks?

ONNX Runtime's int8 convolution kernels differ by CPU. Without VNNI (AVX2-only
x86, e.g. AMD Zen 3) uint8 x int8 products are summed in pairs by ``vpmaddubsw``
into int16, which saturates: a model quantised with full-range int8 weights gave
landmarks up to 42% of the inter-ocular distance (IOD) away from the fp32
network's on such a CPU, and within 1% on a VNNI one. ONNX Runtime's documentation
on quantisation names the cure (7-bit weights, ``reduce_range``, or uint8 weights);
this module is the guard for CPUs nobody has measured.

A quantised model ships with *reference outputs* beside it
(``<stem>.reference.npz``): a handful of face crops (uint8, the network's input
before normalisation) and the fp32 network's outputs on them. When
:class:`landmarker.model.backends.OnnxBackend` loads the model it runs the crops (about
60 ms on a 2-core AMD EPYC, once per process and file) and compares: each face's worst point,
as a fraction of its IOD. If the int8 result drifts beyond the bound, the same file runs without the int8
kernels (ONNX Runtime's session option ``session.disable_quant_qdq``: the QDQ
model's arithmetic in float), which is checked against the references in turn.

The file format (``numpy.savez``):

- ``crops``: uint8 ``(k, S, S)`` grayscale face crops (:func:`landmarker.model.crop.warp_crop`).
- ``targets``: float32 ``(k, 136)`` the fp32 network's outputs on them
  (offsets from the crop centre over the crop side, :func:`landmarker.model.crop.to_targets`).
- ``sources``: str ``(k,)`` where each crop comes from (image and face).
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landmarker.model.crop import normalise
from morphkit.errors import InvalidInput
from morphkit.ibug68 import inter_ocular_distance

#: A face drifts too far when its worst point is this fraction of its IOD from the fp32 network's.
DRIFT_BOUND = 0.02
REFERENCE_SUFFIX = ".reference.npz"
#: x86 CPU flags (Linux ``/proc/cpuinfo`` names) that decide which int8 kernels ONNX Runtime runs.
INT8_FLAGS = ("avx2", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def reference_path(model_path: str | os.PathLike) -> Path:
    """The reference-output file beside a model: ``<stem>.reference.npz``."""
    p = Path(model_path)
    return p.with_name(p.stem + REFERENCE_SUFFIX)


@dataclass(frozen=True)
class Reference:
    """Reference crops and the fp32 network's outputs on them.

    Attributes:
        crops: uint8 ``(k, S, S)`` grayscale face crops.
        targets: float32 ``(k, 136)`` fp32 outputs (crop-side units).
        sources: where each crop comes from.
        path: the file it was read from.
    """

    crops: np.ndarray
    targets: np.ndarray
    sources: tuple[str, ...]
    path: Path | None = None

    def inputs(self) -> np.ndarray:
        """The crops as the network takes them: float32 ``(k, S, S)`` in ``[-1, 1]``."""
        return normalise(self.crops)


def save_reference(path: str | os.PathLike, crops: np.ndarray, targets: np.ndarray, sources) -> Path:
    """Write a reference file (format in the module docstring); returns its path.

    Raises:
        ValueError: crops not uint8 ``(k, S, S)``, or targets not ``(k, 136)``.
    """
    crops, targets = np.asarray(crops), np.asarray(targets, np.float32)
    if crops.dtype != np.uint8 or crops.ndim != 3 or crops.shape[1] != crops.shape[2]:
        raise InvalidInput(f"reference crops must be uint8 (k, S, S), got {crops.dtype} {crops.shape}")
    if targets.shape != (len(crops), 136):
        raise InvalidInput(f"reference targets must be ({len(crops)}, 136), got {targets.shape}")
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, crops=crops, targets=targets, sources=np.asarray(list(sources), dtype=str))
    return path


def load_reference(path: str | os.PathLike) -> Reference:
    """Read a reference file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a reference file (the message names the file and the problem).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            crops, targets, sources = z["crops"], z["targets"], tuple(str(s) for s in z["sources"])
    except FileNotFoundError:
        raise
    except (OSError, KeyError, ValueError) as err:
        raise InvalidInput(f"{path}: not a reference-output file ({err})") from err
    if crops.dtype != np.uint8 or crops.ndim != 3 or targets.shape != (len(crops), 136) or len(sources) != len(crops):
        raise InvalidInput(f"{path}: reference crops {crops.dtype} {crops.shape} and targets {targets.shape} "
                           "do not match")
    return Reference(crops, targets.astype(np.float32), sources, path)


def drift_iod(targets: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each face's worst point distance from the reference, over the reference's IOD.

    Args:
        targets, reference: float ``(k, 136)`` network outputs (any common unit).

    Returns:
        float64 ``(k,)``: max over the 68 points of the distance, divided by the
        distance between the reference's outer eye corners (points 36 and 45,
        :func:`morphkit.ibug68.inter_ocular_distance`).
    """
    r = np.asarray(reference, np.float64).reshape(-1, 68, 2)
    t = np.asarray(targets, np.float64).reshape(-1, 68, 2)
    return np.linalg.norm(t - r, axis=-1).max(axis=1) / inter_ocular_distance(r)


@functools.cache
def cpu_int8_features() -> dict:
    """The CPU's name and the flags that decide ONNX Runtime's int8 kernels (read once per process).

    Returns:
        ``{"cpu": str, "flags": {flag: bool} or None}``; flags from ``/proc/cpuinfo``
        (Linux), None where that is not readable (the name then comes from :mod:`platform`).
        The same dict every call: do not change it.
    """
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {"cpu": platform.processor() or platform.machine(), "flags": None}
    name, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name == platform.machine():
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"cpu": name, "flags": {f: f in flags for f in INT8_FLAGS} if flags else None}


def describe_cpu(features: dict | None = None) -> str:
    """One line: the CPU's name and its int8 flags, e.g.
    ``AMD EPYC (avx2; no avx512bw, avx512_vnni, avx_vnni, amx_int8)``."""
    f = features or cpu_int8_features()
    if not f["flags"]:
        return f"{f['cpu']} (int8 flags unknown)"
    has = [k for k, v in f["flags"].items() if v]
    lacks = [k for k, v in f["flags"].items() if not v]
    return f"{f['cpu']} ({', '.join(has) or 'none of ' + ', '.join(INT8_FLAGS)}" + (
        f"; no {', '.join(lacks)})" if lacks else ")")


@dataclass(frozen=True)
class Int8Check:
    """Which arithmetic an ONNX model runs on, and why (:class:`landmarker.model.backends.OnnxBackend`).

    Attributes:
        path: ``"fp32"`` (a float export: nothing to check), ``"int8"`` (ONNX
            Runtime's int8 kernels, checked) or ``"float"`` (a quantised model on the
            float path: its int8 kernels drifted here, or could not be checked).
        bound: the largest drift allowed, fraction of the IOD.
        drift: the int8 kernels' worst reference face, fraction of the IOD (None: not run).
        float_drift: the float path's worst reference face (None: not run).
        faces: how many reference faces were run.
        reason: why the float path or a fallback engine runs ("" otherwise).
        cpu: :func:`cpu_int8_features` of this machine.
        engine: the engine that runs (:mod:`landmarker.model.engines`) after any fallback.
    """

    path: str
    bound: float
    drift: float | None = None
    float_drift: float | None = None
    faces: int = 0
    reason: str = ""
    cpu: dict = field(default_factory=lambda: cpu_int8_features())
    engine: str = "onnxruntime"

    def describe(self) -> str:
        """One line for ``-v`` and logs, e.g.
        ``int8 kernels (reference faces within 0.9% of IOD of fp32, bound 2%)``."""
        if self.path == "fp32":
            text = "fp32 (not quantised)"
        elif self.path == "int8":
            text = (f"int8 kernels ({self.faces} reference faces within {100 * self.drift:.2f}% of the IOD of fp32, "
                    f"bound {100 * self.bound:.0f}%)") + (f"; {self.reason}" if self.reason else "")
        else:
            text = f"float path, int8 kernels off ({self.reason})"
        return f"{text}; CPU {describe_cpu(self.cpu)}"

    def as_dict(self) -> dict:
        """JSON-able: path, bound, drift, float_drift, faces, reason, cpu, engine."""
        return {"path": self.path, "bound": self.bound, "drift": self.drift, "float_drift": self.float_drift,
                "faces": self.faces, "reason": self.reason, "cpu": self.cpu, "engine": self.engine}
