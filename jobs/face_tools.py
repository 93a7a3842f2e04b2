"""``morphkit transform | caricature | continuum | symmetrize``: face-research stimuli from files.

Each input face is labelled (:func:`landmarker.labelling.label_images`, the largest
face) and aligned into the frame of the prototypes (:func:`morphkit.align_face`: eye
centres fixed), or, for an image that team-means wrote, taken as it is with its mean
shape from the ``shapes.csv`` beside it. The arrays work is :mod:`morphkit.research`.
Outputs are PNG files in ``--out`` (RGBA with ``--mask-color transparent``), plus a
``report.csv`` of what was made from what; a bad input is reported and skipped.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from landmarker.atomic import atomic_write
from landmarker.decode import ImageDecodeError, read_image
from landmarker.files import mark_output
from landmarker.labelling import ModelSpec, label_images
from landmarker.landmarks_csv import read_landmarks_csv
from landmarker.names import bounded_file_stem
from landmarker.overlay import save_png
from morphkit import CanonicalFrame, align_face, image_grid
from morphkit.research import apply_mask, continuum, symmetrize, transform

from .collection import CollectionError, check_options

COLORS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128)}


class Face:
    """An aligned face: ``image`` uint8 ``(H, W, 3)`` in the frame and its ``landmarks`` float32 ``(68, 2)``."""

    def __init__(self, path: Path, image: np.ndarray, landmarks: np.ndarray, source: str):
        self.path, self.image, self.landmarks, self.source = path, image, landmarks, source


def _mean_shape_of(path: Path):
    """The mean shape team-means wrote for ``path`` (``shapes.csv`` beside it), or None."""
    table = path.parent / "shapes.csv"
    if not table.is_file():
        return None
    try:
        faces = read_landmarks_csv(table).get(path.name)
    except (ValueError, OSError):
        return None
    return faces[0].landmarks if faces else None


def load_faces(paths, frame: CanonicalFrame | None, spec: ModelSpec) -> tuple[list[Face], list[tuple[str, str]]]:
    """Aligned faces of ``paths`` (mean images with their ``shapes.csv`` shape as they are).

    ``frame`` None takes the frame of the first mean image, else the default 450 x 550.

    Returns:
        ``(faces, problems)``: problems are ``(path, reason)`` of inputs skipped.
    """
    faces, problems, todo = [], [], []
    for p in map(Path, paths):
        shape = _mean_shape_of(p)
        if shape is not None:
            try:
                image = read_image(p)
            except ImageDecodeError as err:
                problems.append((str(p), err.reason))
                continue
            faces.append(Face(p, image, shape, "shapes.csv"))
        else:
            todo.append(p)
    if frame is None:
        frame = CanonicalFrame(width=faces[0].image.shape[1], height=faces[0].image.shape[0]) if faces else CanonicalFrame()
    for f in faces:
        if f.image.shape[:2] != (frame.height, frame.width):
            problems.append((str(f.path), f"a {f.image.shape[1]}x{f.image.shape[0]} mean, not the frame's "
                                          f"{frame.width}x{frame.height}"))
    faces = [f for f in faces if f.image.shape[:2] == (frame.height, frame.width)]
    if todo:
        results = label_images([(str(p), str(p)) for p in todo], spec.resolved())
        for p, r in zip(todo, results):
            if not r.faces:
                problems.append((str(p), r.message or "no face found"))
                continue
            image, lm = align_face(read_image(p), r.faces[0].landmarks, frame)
            faces.append(Face(p, image, lm, "landmarker"))
    order = {Path(p): i for i, p in enumerate(paths)}
    faces.sort(key=lambda f: order.get(f.path, 0))
    return faces, problems


def _finish(image, landmarks, mask: str | None, mask_color: str):
    if mask is None:
        return image
    return apply_mask(image, landmarks, mask, None if mask_color == "transparent" else COLORS[mask_color])


def _one(paths: list[str], what: str, spec: ModelSpec, frame=None) -> Face:
    faces, problems = load_faces(paths, frame, spec)
    if not faces:
        raise CollectionError(f"{what} {paths[0]}: {problems[0][1] if problems else 'no face'}")
    return faces[0]


def _write_report(out: Path, rows: list[list[str]]) -> None:
    with atomic_write(out / "report.csv", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["output", "input", "status", "message"])
        w.writerows(rows)


def run_tool(tool: str, images: list[str], out: str, spec: ModelSpec = ModelSpec(), *, source=None, dest=None,
             mean=None, shape: float = 100.0, color: float = 0.0, texture: float = 0.0, steps: int = 11,
             sym: str = "both",
             mask: str | None = None, mask_color: str = "white") -> dict:
    """Run one of the tools over ``images`` into the folder ``out``; returns ``{"written": n, "skipped": n, "seconds"}``.

    Raises:
        jobs.collection.CollectionError: a prototype that cannot be used, bad options, or nothing written.
    """
    t0 = time.time()
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CollectionError(f"--out {out_dir}: is a file; give a folder")
    if mask_color not in (*COLORS, "transparent"):
        raise CollectionError(f"--mask-color {mask_color}: use {', '.join(COLORS)} or transparent")
    if tool == "continuum":
        check_options(("--steps", steps, 2 <= steps <= 101, "must be 2..101"))
    protos: dict[str, Face] = {}
    if tool == "transform":
        protos["from"] = _one([source], "--from", spec)
        frame = CanonicalFrame(width=protos["from"].image.shape[1], height=protos["from"].image.shape[0])
        protos["to"] = _one([dest], "--to", spec, frame)
    elif tool == "caricature":
        protos["mean"] = _one([mean], "--mean", spec)
        frame = CanonicalFrame(width=protos["mean"].image.shape[1], height=protos["mean"].image.shape[0])
    else:
        frame = None
    faces, problems = load_faces(images, frame, spec)
    mark_output(out_dir)
    rows = [["", p, "skipped", why] for p, why in problems]
    taken: set[str] = set()
    written = 0

    def save(name: str, image, landmarks, source_path) -> str:
        nonlocal written
        stem = bounded_file_stem(name, taken)
        save_png(_finish(image, landmarks, mask, mask_color), out_dir / f"{stem}.png")
        written += 1
        rows.append([f"{stem}.png", str(source_path), "ok", ""])
        return f"{stem}.png"

    if tool == "continuum":
        if len(faces) != 2:
            raise CollectionError(f"continuum needs two faces, got {len(faces)} usable of {len(images)} "
                                  f"({'; '.join(f'{p}: {w}' for p, w in problems)})")
        a, b = faces
        strip = []
        for i, (img, lm) in enumerate(continuum(a.image, a.landmarks, b.image, b.landmarks, steps)):
            pct = round(100 * i / (steps - 1))
            save(f"{a.path.stem}-{b.path.stem}-{pct:03d}", img, lm, f"{a.path} -> {b.path}")
            strip.append((_finish(img, lm, mask, mask_color)[..., :3], f"{pct}%"))
        save_png(image_grid([s for s, _ in strip], [t for _, t in strip], columns=len(strip),
                            tile_width=min(200, strip[0][0].shape[1])), out_dir / "strip.png")
    else:
        for f in faces:
            if tool == "transform":
                a, b = protos["from"], protos["to"]
                img, lm = transform(f.image, f.landmarks, a.image, a.landmarks, b.image, b.landmarks, shape, color,
                                    texture)
                name = f"{f.path.stem}-transform-{shape:g}-{color:g}" + (f"-{texture:g}" if texture else "")
            elif tool == "caricature":
                m = protos["mean"]
                img, lm = transform(f.image, f.landmarks, m.image, m.landmarks, f.image, f.landmarks, shape, color,
                                    texture)
                name = f"{f.path.stem}-caricature-{shape:g}"
            else:
                img, lm = symmetrize(f.image, f.landmarks, shape=sym in ("both", "shape"), color=sym in ("both", "color"))
                name = f"{f.path.stem}-symmetric-{sym}"
            save(name, img, lm, f.path)
    _write_report(out_dir, rows)
    if not written:
        raise CollectionError(f"nothing written: {'; '.join(f'{p}: {w}' for p, w in problems) or 'no input face'}")
    return {"written": written, "skipped": len(problems), "seconds": round(time.time() - t0, 1)}
