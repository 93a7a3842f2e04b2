"""Write the golden landmarks of the shipped weights: ``tests/data/golden/landmarks.csv``.

They are predicted with the PyTorch backend (fp32, the same on every CPU); the test
holds PyTorch to 0.05 px of them and the default int8 ONNX model to 2% of each
face's inter-ocular distance at every point, on every CPU (the int8 file's own drift
is in its model card, ``onnx.int8_check``).

``tests/landmarker/test_golden.py`` predicts the same images again and compares, so that a
silent change of the model (weights, crop rule, detector, preprocessing) fails a
test. Run this only when the model changes on purpose, and say so in the commit:

    .venv/bin/python tools/make_golden.py
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from landmarker.inference.predictor import Landmarker
from landmarker.io.decode import read_image
from landmarker.io.landmarks_csv import HEADER, face_row
from landmarker.model.card import SHIPPED_ONNX, SHIPPED_WEIGHTS

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
# portraits, a frame, a small-face group photo: images the tests ship
GOLDEN_IMAGES = [
    "portraits/A000360.jpg",
    "portraits/S000033.jpg",
    "dlib-faces/Tom_Cruise_avp_2014_4.jpg",
    "dlib-faces/2008_001322.jpg",
    "ytf68-hard/images/" + sorted(p.name for p in (DATA / "ytf68-hard" / "images").iterdir())[0],
]
GOLDEN_CSV = DATA / "golden" / "landmarks.csv"


def weights_sha256(paths=(SHIPPED_WEIGHTS, SHIPPED_ONNX)) -> str:
    """SHA-256 of each shipped model file (safetensors, ONNX), hex, space-separated."""
    return " ".join(hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths)


def main() -> None:
    model = Landmarker(backend="torch")
    GOLDEN_CSV.parent.mkdir(parents=True, exist_ok=True)
    with open(GOLDEN_CSV, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for name in GOLDEN_IMAGES:
            image = read_image(DATA / name)
            faces = model.predict(image)
            if not faces:
                raise SystemExit(f"{name}: no face found; golden images must hold faces")
            for i, face in enumerate(faces):
                w.writerow(face_row(name, i, face, (image.shape[1], image.shape[0])))
    (GOLDEN_CSV.parent / "weights.sha256").write_text(weights_sha256() + "\n")
    print(f"wrote {GOLDEN_CSV} ({len(GOLDEN_IMAGES)} images) for weights {weights_sha256()[:12]}")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0].strip('"'),
                            epilog="Overwrites tests/data/golden/; no options.").parse_args()
    main()
