"""Texture-preserving means as the eye sees them: detail inside the face, and no scribbles around it.

For each collection (the first ``--n`` congress portraits by name, the 40 frl-canada studio
portraits), faces are labelled with our landmarker and averaged into the default 450 x 550
frame three ways: the plain mean, the texture-preserving mean with the texture restored
everywhere (as before issue 21), and the texture-preserving mean as ``team-means --texture``
makes it now (restored only inside :func:`morphkit.masks.face_region` of the mean shape,
feathered). Detail is measured two ways on the gray image: the mean gradient magnitude (3 x 3
Sobel, gray levels per pixel) and the mean absolute Laplacian (OpenCV's 3 x 3 aperture, the
measure of ``bench_texture_mean.py`` and of the README before issue 21; it weighs fine texture
more, the gradient weighs strong edges more), in two regions:

- **interior**: the convex hull of the brow, eye, nose and mouth points (17-67) of the mean
  shape; for reference the same on each individual portrait aligned into the same frame
  (:func:`morphkit.align_face`, its own landmarks), averaged over the portraits;
- **band**: the pixels 0.1 to 0.6 inter-ocular distances (outer eye corners) outside the
  convex hull of all 68 points of the mean shape: hair, ears, neck, collar, background.

Done when (issue 21): interior detail of the texture mean >= 2x the plain mean's, band detail
<= 1.3x the plain mean's. Writes a before/after picture with ``--picture``, and with ``--docs``
the README's pictures of masks and of symmetrised frl-canada portraits (before: the landmark hull
and the whole frame averaged with its mirror image, as until issue 21; after: the face region).

    .venv/bin/python benchmarks/bench_stimuli.py --n 100 --picture docs/texture_mean.png --docs docs

frl-canada: DeBruine and Jones, Face Research Lab London Set (2017), CC BY 4.0; the pictures say so.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
from anchor_runs import PORTRAITS, cpu_name

from morphkit.ibug68 import inter_ocular_distance

FRL = PORTRAITS.parents[1] / "frl-canada"
CREDIT = "frl-canada portraits: L. DeBruine and B. Jones, Face Research Lab London Set (2017), CC BY 4.0"
INTERIOR = slice(17, 68)  # brows, nose, eyes, mouth (morphkit.ibug68: BROWS.start to the end)


def _gradient(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)) / 8.0


def _hull(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask.astype(bool)


def regions(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(H, W)`` masks: the face interior (hull of points 17-67) and the band 0.1-0.6
    inter-ocular distances outside the hull of all 68 points."""
    hull = _hull(landmarks, shape)
    outside = cv2.distanceTransform((~hull).astype(np.uint8), cv2.DIST_L2, 5)
    iod = float(inter_ocular_distance(landmarks))
    return _hull(landmarks[INTERIOR], shape), (outside > 0.1 * iod) & (outside <= 0.6 * iod)


def detail(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude of the gray ``image`` inside ``mask``."""
    return float(_gradient(image)[mask].mean())


def laplacian(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute Laplacian of the gray ``image`` inside ``mask``."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F))[mask].mean())


MEASURES = {"grad": detail, "lap": laplacian}


def label(paths: list[Path]) -> list[tuple[Path, np.ndarray]]:
    from landmarker.inference.labelling import ModelSpec, label_images
    from landmarker.inference.parallel import label_chunks

    chunks = [[(str(p), p.name) for p in paths[i:i + 8]] for i in range(0, len(paths), 8)]
    results = [r for chunk in label_chunks(label_images, chunks, spec=ModelSpec().resolved()) for r in chunk]
    return [(p, r.faces[0].landmarks) for p, r in zip(paths, results) if r.faces]


def measure(name: str, paths: list[Path]) -> tuple[dict, dict]:
    """Rows of the table for one collection, and its images (for the picture)."""
    from landmarker.io.decode import read_image
    from morphkit import CanonicalFrame, align_face, mean_face

    used = label(paths)
    sources = [partial(read_image, p) for p, _ in used]
    lms = np.stack([lm for _, lm in used])
    images, seconds = {}, {}
    for kind, texture, everywhere in (("plain mean", False, False), ("texture mean, everywhere (before)", True, True),
                                      ("texture mean, face region (now)", True, False)):
        t = time.perf_counter()
        if everywhere:  # the texture restored over the whole frame, as before issue 21
            with mock.patch("morphkit.mean.face_region", lambda shape, w, h: np.ones((h, w), np.float32)):
                m = mean_face(sources, lms, texture=texture, n_jobs=1)
        else:
            m = mean_face(sources, lms, texture=texture, n_jobs=1)
        seconds[kind] = time.perf_counter() - t
        images[kind] = m.image
    shape = m.shape.astype(np.float64)
    interior, band = regions(shape, m.image.shape[:2])
    rows = {k: {f"{where} {m}": f(im, mask) for where, mask in (("interior", interior), ("band", band))
                for m, f in MEASURES.items()} | {"seconds": seconds[k]} for k, im in images.items()}
    singles = []
    for p, lm in used:
        img, alm = align_face(read_image(p), lm, CanonicalFrame())
        i, b = regions(alm.astype(np.float64), img.shape[:2])
        singles.append({f"{where} {m}": f(img, mask) for where, mask in (("interior", i), ("band", b))
                        for m, f in MEASURES.items()})
    rows["one portrait (mean over the portraits)"] = {k: float(np.mean([s[k] for s in singles])) for k in singles[0]}
    rows["one portrait (mean over the portraits)"]["seconds"] = float("nan")
    images["one portrait"] = align_face(read_image(used[0][0]), used[0][1], CanonicalFrame())[0]
    print(f"\n{name}: {len(used)} of {len(paths)} faces labelled; frame 450 x 550; detail: gradient (grad) and "
          "|Laplacian| (lap), and its ratio to the plain mean's")
    cols = [f"{w} {m}" for w in ("interior", "band") for m in MEASURES]
    print("| image | " + " | ".join(f"{c} | x plain" for c in cols) + " | seconds |")
    print("|---|" + "---:|" * (2 * len(cols) + 1))
    plain = rows["plain mean"]
    for k, r in rows.items():
        cells = " | ".join(f"{r[c]:.2f} | {r[c] / plain[c]:.2f}" for c in cols)
        print(f"| {k} | {cells} | {r['seconds']:.1f} |")
    now = rows["texture mean, face region (now)"]
    single = rows["one portrait (mean over the portraits)"]
    for m in MEASURES:
        ok = now[f"interior {m}"] >= 2 * plain[f"interior {m}"] and now[f"band {m}"] <= 1.3 * plain[f"band {m}"]
        print(f"{m}: done-when (interior >= 2x plain, band <= 1.3x plain) {'met' if ok else 'NOT met'}; interior of "
              f"the texture mean / one portrait's: {now[f'interior {m}'] / single[f'interior {m}']:.2f}")
    return rows, images


def _with_credit(grid: np.ndarray, text: str = CREDIT) -> np.ndarray:
    """``grid`` (RGB) with a line of ``text`` under it."""
    from PIL import Image, ImageDraw, ImageFont

    band = np.full((22, grid.shape[1], 3), 255, np.uint8)
    im = Image.fromarray(band)
    ImageDraw.Draw(im).text((6, 4), text, fill=(60, 60, 60), font=ImageFont.load_default(12))
    return np.vstack([grid, np.asarray(im)])


def _save(path: Path, image: np.ndarray) -> None:
    """A PNG of 256 colours (dithered), to keep the README's pictures small."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"picture: {path} ({path.stat().st_size // 1024} KB)")


def picture(path: Path, collections: dict[str, dict]) -> None:
    from morphkit import image_grid

    tiles, labels = [], []
    for name, images in collections.items():
        for k in ("plain mean", "texture mean, everywhere (before)", "texture mean, face region (now)"):
            tiles.append(cv2.resize(images[k], (220, 269), interpolation=cv2.INTER_AREA))
            labels.append(f"{name}: {k.replace('texture mean, ', 'texture, ')}")
    grid = image_grid(tiles, labels, columns=3, tile_width=220, padding=6)
    _save(path, _with_credit(grid) if "frl-canada" in collections else grid)


def _crop(image: np.ndarray, lm: np.ndarray, width: int = 200) -> np.ndarray:
    """The head of a portrait: 3.6 x 4.4 eye-centre distances around the eyes, resized to ``width``."""
    from morphkit.ibug68 import eye_centres

    eyes = eye_centres(lm)
    d = float(np.linalg.norm(eyes[1] - eyes[0]))
    cx, cy = eyes.mean(axis=0)
    x0, y0 = int(max(0, cx - 1.8 * d)), int(max(0, cy - 1.9 * d))
    x1, y1 = int(min(image.shape[1], cx + 1.8 * d)), int(min(image.shape[0], cy + 2.5 * d))
    crop = image[y0:y1, x0:x1]
    return cv2.resize(crop, (width, int(round(width * crop.shape[0] / crop.shape[1]))), interpolation=cv2.INTER_AREA)


def _checker(rgba: np.ndarray, size: int = 12) -> np.ndarray:
    """An RGBA image over a grey checkerboard (how viewers show transparency)."""
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // size + xx // size) % 2)[..., None] == 0, 200, 150).astype(np.float64)
    a = rgba[..., 3:].astype(np.float64) / 255
    return np.clip(np.rint(rgba[..., :3] * a + board * (1 - a)), 0, 255).astype(np.uint8)


def _old_transform(image, lm, a, sa, b, sb, color_pct, texture_pct):
    """The colour and texture transform as it was before issue 21 (whole frame, no face region), shape 0%."""
    from morphkit.research import _warp
    from morphkit.texture import transfer_texture

    a_w, b_w = _warp(a, sa, lm), _warp(b, sb, lm)
    out = image.astype(np.float64) + color_pct / 100 * (b_w.astype(np.float64) - a_w)
    return transfer_texture(np.clip(out, 0, 255), a_w, b_w, texture_pct)


def transform_picture(folder: Path, congress: list[Path]) -> None:
    """``transform.png``: a portrait moved 50% in colour and texture from the Democrat to the Republican texture
    mean of ``congress`` (the README's example), before and after issue 21."""
    import csv

    from landmarker.io.decode import read_image
    from morphkit import CanonicalFrame, align_face, image_grid, mean_face
    from morphkit.research import transform

    with open(congress[0].parents[1] / "members.csv", newline="") as fh:
        party = {row["bioguide"]: row["party"] for row in csv.DictReader(fh)}
    used = label(congress)
    protos = {}
    for side in ("Democrat", "Republican"):
        group = [(p, lm) for p, lm in used if party.get(p.stem) == side]
        sources, lms = [partial(read_image, p) for p, _ in group], np.stack([lm for _, lm in group])
        with mock.patch("morphkit.mean.face_region", lambda shape, w, h: np.ones((h, w), np.float32)):
            old = mean_face(sources, lms, texture=True)
        new = mean_face(sources, lms, texture=True, target_shape=old.shape)
        protos[side] = (old, new)
    tiles, labels = [], []
    for p, lm in used[1:4]:
        face, flm = align_face(read_image(p), lm, CanonicalFrame())
        (a_old, a_new), (b_old, b_new) = protos["Democrat"], protos["Republican"]
        before = _old_transform(face, flm, a_old.image, a_old.shape, b_old.image, b_old.shape, 50, 50)
        after, _ = transform(face, flm, a_new.image, a_new.shape, b_new.image, b_new.shape, 0, 50, 50)
        for im, text in ((face, p.stem), (before, "colour+texture 50% (before)"), (after, "colour+texture 50% (now)")):
            tiles.append(cv2.resize(im, (200, 244), interpolation=cv2.INTER_AREA))
            labels.append(text)
    _save(folder / "transform.png", image_grid(tiles, labels, columns=3, tile_width=200, padding=6))


def yaw_picture(folder: Path, congress: list[Path], targets=(5, 10, 12, 15, 20)) -> None:
    """``symmetrize_yaw.png``: congress portraits turned about ``targets`` degrees (the nearest of ``congress``
    by :func:`morphkit.research.estimate_yaw`) and their symmetric faces: how :data:`MAX_YAW` was chosen."""
    from jobs.face_tools import photo_frame
    from landmarker.io.decode import read_image
    from morphkit import align_face, image_grid
    from morphkit.research import estimate_yaw, symmetrize

    used = label(congress)
    yaws = np.array([estimate_yaw(lm) for _, lm in used])
    tiles, labels = [], []
    for target in targets:
        p, lm = used[int(np.argmin(np.abs(np.abs(yaws) - target)))]
        image = read_image(p)
        face, flm = align_face(image, lm, photo_frame(lm, image.shape[1], image.shape[0]))
        sym, _ = symmetrize(face, flm, max_yaw=None)
        for im, text in ((face, f"{p.stem}: {abs(estimate_yaw(flm)):.0f} degrees"), (sym, "symmetric")):
            tiles.append(cv2.resize(im, (160, 196), interpolation=cv2.INTER_AREA))
            labels.append(text)
    _save(folder / "symmetrize_yaw.png", image_grid(tiles, labels, columns=6, tile_width=160,
                                                    padding=4))


def docs_pictures(folder: Path, congress: list[Path], frl: list[Path]) -> None:
    """``masks.png`` (before/after of the outline mask), ``symmetrize.png`` (three frl-canada portraits) and
    ``transform.png`` (:func:`transform_picture`), ``symmetrize_yaw.png`` (:func:`yaw_picture`)."""
    yaw_picture(folder, congress)
    transform_picture(folder, congress)
    from landmarker.io.decode import read_image
    from morphkit import align_face, image_grid
    from morphkit.masks import apply_mask, composite_on_background, face_region
    from morphkit.research import _warp, mirror_landmarks, symmetrize

    tiles, labels = [], []
    for p, lm in label(congress[:1] + frl[:1]):
        image = read_image(p)
        h, w = image.shape[:2]
        old = composite_on_background(image, face_region(lm, w, h, forehead=0), (255, 255, 255))
        new = apply_mask(image, lm, "outline", (255, 255, 255))
        clear = _checker(apply_mask(image, lm, "outline", None), max(4, w // 60))
        for im, text in ((image, "photo"), (old, "outline before"), (new, "outline now"), (clear, "now, transparent")):
            tiles.append(_crop(im, lm, 170))
            labels.append(text)
    _save(folder / "masks.png", _with_credit(image_grid(tiles, labels, columns=4, tile_width=170, padding=6)))

    from jobs.face_tools import photo_frame

    tiles, labels = [], []
    for p, lm in label(frl[:3]):
        image = read_image(p)
        face, flm = align_face(image, lm, photo_frame(lm, image.shape[1], image.shape[0]))
        w = face.shape[1]
        m = mirror_landmarks(flm, w).astype(np.float64)
        target = (flm.astype(np.float64) + m) / 2
        before = np.clip(np.rint((_warp(face, flm, target).astype(np.float64)
                                  + _warp(np.ascontiguousarray(face[:, ::-1]), m, target)) / 2), 0, 255)
        after, _ = symmetrize(face, flm)
        for im, text in ((face, p.stem), (before.astype(np.uint8), "whole frame (before)"), (after, "face only (now)")):
            tiles.append(_crop(im, target, 200))
            labels.append(text)
    _save(folder / "symmetrize.png", _with_credit(image_grid(tiles, labels, columns=3, tile_width=200, padding=6)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--congress", type=Path, default=PORTRAITS)
    ap.add_argument("--frl", type=Path, default=FRL)
    ap.add_argument("--n", type=int, default=100, help="congress portraits (the first N by name)")
    ap.add_argument("--picture", type=Path, default=None, help="write the before/after picture here")
    ap.add_argument("--docs", type=Path, default=None, help="write masks.png and symmetrize.png into this folder")
    ap.add_argument("--pictures-only", action="store_true", help="with --docs: only the pictures, no measurement")
    args = ap.parse_args()
    sets = {"congress": sorted(args.congress.glob("*.jpg"))[: args.n], "frl-canada": sorted(args.frl.glob("*.jpg"))}
    if args.docs is not None:
        docs_pictures(args.docs, sets["congress"], sets["frl-canada"])
        if args.pictures_only:
            return
    print(f"{cpu_name()}, {os.cpu_count()} CPUs (means on one core)")
    collections = {}
    for name, paths in sets.items():
        if paths:
            collections[name] = measure(name, paths)[1]
    if args.picture is not None:
        picture(args.picture, collections)


if __name__ == "__main__":
    main()
