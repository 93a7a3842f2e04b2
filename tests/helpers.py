"""Shared test helpers (pytest puts tests/ on sys.path)."""

from pathlib import Path

from landmarker.datasets import load_dlib_xml

DLIB_FACES = Path(__file__).resolve().parent / "data" / "dlib-faces"


def dlib_faces(xml_name: str):
    """``(image path, float32 (68, 2) landmarks)`` for each labelled face of a dlib/iBUG XML in tests/data."""
    return [(s.image_path, s.landmarks) for s in load_dlib_xml(DLIB_FACES / xml_name)]
