"""Inference engines for the ONNX model: OpenVINO and ONNX Runtime, on the CPU.

Both read the same ``.onnx`` file as it is (the shipped one is int8, QDQ format:
``tools/quantize_onnx.py``). An engine makes *sessions*: callables that take a float32
batch ``(N, 1, S, S)`` and return float32 ``(N, 136)``. Which engine runs by default is
:data:`PREFERENCE`'s first one that is installed, chosen from measurements
(``benchmarks/landmarks_vs_dlib.py``, one row per engine; the README's speed table):

- **OpenVINO** (``openvino``, Intel's runtime; its CPU plugin uses oneDNN's int8
  kernels): on a 2-core AMD EPYC (Zen 3, AVX2, no VNNI) 1.06-1.2x ONNX Runtime's speed
  batched on 2 threads and 1.2-1.36x on one thread, the way the jobs' workers run it
  (``benchmarks/bench_engines.py``); on an Intel Xeon (Sapphire Rapids: AVX-512 VNNI,
  AMX) 4.2x. Imports in 0.23 s (ONNX Runtime: 0.11-0.15 s), compiles the model in
  0.4-0.5 s, 0.2 s from its cache of compiled models (:func:`landmarker.io.cache.cache_dir`),
  and installs 185 MB (ONNX Runtime: 80 MB).
  We only read and compile models with ``openvino.Core``; its telemetry belongs to the
  model-conversion API (``openvino.convert_model``), which we never call, so nothing is
  sent (a test runs it with sockets blocked).
- **ONNX Runtime** (``onnxruntime``, CPU execution provider): the fallback, and the
  only engine with a *float path* for a quantised model (``session.disable_quant_qdq``:
  the QDQ arithmetic done in float, the same on every CPU), which the int8 check of
  :mod:`landmarker.model.int8_check` falls back to when a CPU's int8 kernels drift.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from landmarker.io.cache import cache_dir
from morphkit.errors import InvalidInput, MissingDependency

#: Engine names (``--backend``).
ENGINES = ("openvino", "onnxruntime")
#: The order the default prefers them: OpenVINO on x86-64, where it measured faster on both CPUs at hand
#: (module docstring); ONNX Runtime elsewhere (ARM: not measured, and ONNX Runtime is the engine known there).
PREFERENCE = ENGINES if platform.machine().lower() in ("x86_64", "amd64") else ENGINES[::-1]
LABELS = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}


def installed(engine: str) -> bool:
    """Whether ``engine``'s Python package is importable (without importing it)."""
    return importlib.util.find_spec(engine) is not None


def default_engine() -> str:
    """The first engine of :data:`PREFERENCE` that is installed.

    Raises:
        MissingDependency: neither engine is installed.
    """
    for engine in PREFERENCE:
        if installed(engine):
            return engine
    raise MissingDependency("no ONNX engine installed: pip install openvino (or onnxruntime)")


def version(engine: str) -> str:
    """The engine's name and version, e.g. ``OpenVINO 2026.4.1``."""
    if engine == "openvino":
        import openvino

        v = openvino.get_version().split("-")[0]
    else:
        import onnxruntime

        v = onnxruntime.__version__
    return f"{LABELS[engine]} {v}"


@dataclass(frozen=True)
class Session:
    """A model compiled by one engine; call it with a float32 ``(N, 1, S, S)`` batch of normalised crops
    for float32 ``(N, 136)`` outputs (safe to call from several threads at once).

    Attributes:
        engine: ``openvino`` or ``onnxruntime``.
        run: the engine's call, the same contract.
    """

    engine: str
    run: Callable[[np.ndarray], np.ndarray]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.run(x)


def open_session(engine: str, path: str | os.PathLike, num_threads: int | None = None,
                 float_path: bool = False) -> Session:
    """Compile ``path`` with ``engine`` on the CPU.

    Args:
        engine: ``openvino`` or ``onnxruntime``.
        path: an ``.onnx`` file.
        num_threads: the engine's CPU threads for one call (None: its default, one per core).
        float_path: run a quantised model's arithmetic in float (ONNX Runtime only).

    Raises:
        ValueError: unknown engine, ``float_path`` with OpenVINO, or a file the engine cannot load
            (the message names the file).
        MissingDependency: the engine is not installed.
    """
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if not installed(engine):
        raise MissingDependency(f"the {engine} backend needs its package: pip install {engine}")
    if engine == "onnxruntime":
        return Session(engine, _onnxruntime(path, num_threads, float_path))
    if float_path:
        raise InvalidInput("OpenVINO has no float path for a quantised model; use onnxruntime")
    return Session(engine, _openvino(path, num_threads))


def _onnxruntime(path, num_threads, float_path: bool):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if num_threads is not None:
        opts.intra_op_num_threads = int(num_threads)
    if float_path:
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise InvalidInput(f"{path}: not an ONNX model ONNX Runtime can load ({str(err).splitlines()[0]})") from err
    name = session.get_inputs()[0].name
    return lambda x: np.asarray(session.run(None, {name: x})[0], np.float32)


_CORE = None
_CORE_LOCK = threading.Lock()


def _openvino(path, num_threads):
    import openvino as ov

    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            _CORE = ov.Core()
            cache = cache_dir("openvino")
            if cache is not None:  # OpenVINO keys its blobs by the model file's contents and the settings
                _CORE.set_property({"CACHE_DIR": str(cache)})
    config = {
        "PERFORMANCE_HINT": "LATENCY",  # one stream: a call's batch runs on all of num_threads
        # the jobs run one model per worker thread: pinning would put every model's threads on the same cores
        "ENABLE_CPU_PINNING": False,
    }
    if num_threads is not None:
        config["INFERENCE_NUM_THREADS"] = int(num_threads)
    try:
        compiled = _CORE.compile_model(str(path), "CPU", config)
    except Exception as err:  # OpenVINO raises RuntimeError with multi-line messages
        raise InvalidInput(f"{path}: not an ONNX model OpenVINO can load ({str(err).strip().splitlines()[0]})") from err
    local = threading.local()  # an infer request serves one call at a time: one per calling thread

    def run(x: np.ndarray) -> np.ndarray:
        request = getattr(local, "request", None)
        if request is None:
            request = local.request = compiled.create_infer_request()
        return np.array(request.infer({0: x})[0], np.float32)  # a copy: the request reuses its output buffer

    return run
