"""Where landmarker keeps what it can make again but would rather not at every start.

Two things, both keyed so that a stale entry is never used: OpenVINO's compiled models
(:mod:`landmarker.model.engines`: OpenVINO names each blob by the model's contents and the
settings) and dlib's frontal face detector (:func:`landmarker.inference.detect.frontal_face_detector`:
one file per dlib version). Building them takes 0.3-0.7 s per process on a 2-core AMD EPYC;
loading them, 1-80 ms. Deleting the folder is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path | None:
    """The folder ``name`` under ``$MORPHKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/morphkit`` (default
    ``~/.cache/morphkit``), made when missing; None when it cannot be made (a read-only home): the
    caller then builds what it wanted every time.
    """
    root = os.environ.get("MORPHKIT_CACHE_DIR")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "morphkit"
    try:
        (base / name).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base / name
