"""Make the README's pictures in ``docs/`` from ``sample_data/`` (run after changing the face tools).

    .venv/bin/python tools/make_docs_pictures.py

(``docs/texture_mean.png``, ``masks.png``, ``symmetrize.png``, ``transform.png`` come from
``benchmarks/bench_stimuli.py``.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def morphkit(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "jobs", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def main() -> None:
    from landmarker.io.decode import read_image
    from morphkit import image_grid

    DOCS.mkdir(exist_ok=True)
    face = str(ROOT / "sample_data" / "images" / "B001242.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        morphkit("team-means", "sample_data", "--manifest", "sample_data/manifest.csv", "--group-by", "party",
                 "--out", str(t / "means"))
        dem, rep = str(t / "means" / "Democrat.png"), str(t / "means" / "Republican.png")
        morphkit("transform", face, "--from", dem, "--to", rep, "--shape", "100", "--color", "100",
                 "--out", str(t / "tr"))
        morphkit("caricature", face, "--mean", dem, "--shape", "80", "--out", str(t / "car"))
        morphkit("symmetrize", face, "--out", str(t / "sym"))
        morphkit("symmetrize", face, "--out", str(t / "symo"), "--mask", "oval")
        morphkit("continuum", dem, rep, "--steps", "5", "--out", str(t / "cont"), "--mask", "outline")
        from landmarker.inference.predictor import Landmarker
        from morphkit import CanonicalFrame, align_face

        image = read_image(face)
        aligned, _ = align_face(image, Landmarker().predict(image)[0].landmarks, CanonicalFrame())
        tiles = [aligned] + [read_image(next((t / d).glob("*.png"))) for d in ("tr", "car", "sym", "symo")]
        labels = ["photo (aligned)", "Democrat -> Republican 100%", "caricature 80% vs mean", "symmetrised",
                  "symmetrised, oval mask"]
        grid = image_grid([cv2.resize(x, (225, 275), interpolation=cv2.INTER_AREA) for x in tiles], labels,
                          columns=5)
        cv2.imwrite(str(DOCS / "face_tools.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        strip = read_image(t / "cont" / "strip.png")
        cv2.imwrite(str(DOCS / "continuum.png"), cv2.cvtColor(np.ascontiguousarray(strip), cv2.COLOR_RGB2BGR))
    print(f"wrote {DOCS / 'face_tools.png'}, {DOCS / 'continuum.png'}")


if __name__ == "__main__":
    main()
