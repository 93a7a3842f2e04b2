"""Texture means without crackle or rings (issue 29): the median texture target against the mean.

A texture-preserving mean (:mod:`morphkit.texture`, Tiddeman, Burt and Perrett 2001) restores detail to a
target energy taken from the faces. With the faces' *mean* energy as the target (until issue 29), what a
minority has at a place (fringes on the forehead, glasses frames around the eyes) sets the target there,
and the prototype gets it: a cracked forehead, rings around the eyes. For each group of the collection
(default: the 610 congress headshots by gender) the texture mean is made three ways:

- **before**: the mean energy as target, rescaling the mean image's own detail, in the fixed
  450 x 550 frame (the defaults until issue 29);
- **mean target, collection frame**: the same in the frame chosen from the faces
  (:func:`morphkit.frame.collection_frame`);
- **trimmed target (now)**: ``team-means --texture`` now: per place, the mean energy of the faces
  that are not outliers there, and the detail of those faces (:func:`morphkit.texture.texture_target`,
  :func:`morphkit.texture.inlier_details`), in that frame.

**Excess detail** (the measures), in two regions of the mean shape inside its face region
(:func:`morphkit.masks.face_region` > 0.5): the **forehead** (above the highest brow point) and the
**eyes** (from there down to the tip of the nose, point 30: brows, eyes, the rings around them, the
bridge of the nose). Detail is the local energy of each wavelet level and subband
(:func:`morphkit.texture.local_energy`), compared place by place with the faces' own there:

- **ratio** (the main one): the 95th percentile over the region of the mean's local energy divided by
  the median face's there. Above 1: at a twentieth of the region the mean has more detail than half of
  the faces; a crackle or a ring that only a minority has makes it several times 1.
- **share > p75, > p90**: the share of the region where the mean's local energy is above the faces'
  75th (90th) percentile there: more detail than three faces in four (nine in ten).

**Interior** is the restoration ``bench_stimuli.py`` checks: the mean gradient magnitude inside the
hull of points 17-67, as a multiple of the plain mean's.

    .venv/bin/morphkit bulk-label ../shared/datasets/congress-headshots/images --out /tmp/congress-run
    .venv/bin/python benchmarks/bench_texture_robust.py --landmarks /tmp/congress-run/landmarks.csv \\
        --picture docs/texture_robust.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
from anchor_runs import PORTRAITS, cpu_name
from bench_stimuli import _save, detail, regions

from morphkit.texture import local_energy, texture_prototype, texture_target

VARIANTS = ("before (mean target, 450 x 550)", "mean target, collection frame", "trimmed target (now)")


def _sampled(mask: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """A frame-size boolean ``mask`` on a level's sample grid (``shape`` of :func:`local_energy`'s arrays:
    the frame padded to a multiple of 16, sampled every 2, 4, 8 or 16 pixels)."""
    h, w = shape[1:]
    padded = np.zeros((mask.shape[0] + (-mask.shape[0]) % 16, mask.shape[1] + (-mask.shape[1]) % 16), np.float32)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return cv2.resize(padded, (w, h), interpolation=cv2.INTER_AREA) > 0.5


def upper_regions(shape: np.ndarray, width: int, height: int) -> dict[str, np.ndarray]:
    """Boolean frame masks of the mean ``shape``: ``forehead`` and ``eyes`` (module docstring)."""
    from morphkit.masks import face_region

    face = face_region(shape, width, height) > 0.5
    y = np.arange(height)[:, None]
    brow_top, nose_tip = shape[17:27, 1].min(), shape[30, 1]
    return {"forehead": face & (y < brow_top), "eyes": face & (y >= brow_top) & (y <= nose_tip)}


def excess(image: np.ndarray, quantiles: dict, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Share of each region's samples (every level and subband) where ``image``'s local energy is above the
    faces' 75th (and 90th) percentile there, and the 95th percentile of its ratio to the faces' median."""
    mine = local_energy(image)
    out = {}
    for name, mask in masks.items():
        above = {75: 0, 90: 0}
        ratios = []
        total = 0
        for i, e in enumerate(mine):
            m = _sampled(mask, e.shape)
            for k in above:
                above[k] += int((e[:, m] > quantiles[k][i][:, m]).sum())
            ratios.append((e[:, m] / np.maximum(quantiles[50][i][:, m], 1e-9)).ravel())
            total += 3 * int(m.sum())
        out[name] = above[75] / max(total, 1)
        out[name + " p90"] = above[90] / max(total, 1)
        out[name + " ratio"] = float(np.percentile(np.concatenate(ratios), 95))
    return out


def group_means(sources, lms, frames) -> dict[str, dict]:
    """The plain mean and the three texture means (:data:`VARIANTS`) of one group, with their measures."""
    from morphkit import mean_face

    out = {}
    for name, frame, statistic in ((VARIANTS[0], frames[0], "mean"), (VARIANTS[1], frames[1], "mean"),
                                   (VARIANTS[2], frames[1], "trimmed")):
        seen = {}

        def target(levels, statistic=statistic, seen=seen):
            seen.update({k: [np.percentile(x, k, axis=0) for x in levels] for k in (50, 75, 90)})
            return texture_target(levels, statistic)

        def prototype(mean_image, energy, weight, details, statistic=statistic):
            # until issue 29: the mean target rescaled the mean image's own detail (no outliers left out)
            return texture_prototype(mean_image, energy, weight, details if statistic != "mean" else None)

        t = time.perf_counter()
        with mock.patch("morphkit.mean.texture_target", target), mock.patch("morphkit.mean.texture_prototype",
                                                                           prototype):
            m = mean_face(sources, lms, frame=frame, texture=True, n_jobs=1)
        seconds = time.perf_counter() - t
        plain = mean_face(sources, lms, frame=frame, n_jobs=1).image
        shape = m.shape.astype(np.float64)
        masks = upper_regions(shape, frame.width, frame.height)
        interior = regions(shape, m.image.shape[:2])[0]
        out[name] = {"image": m.image, "shape": shape, "frame": frame, "seconds": seconds,
                     **excess(m.image, seen, masks),
                     "interior": detail(m.image, interior) / detail(plain, interior),
                     "plain": excess(plain, seen, masks)}
    return out


def _crop(image: np.ndarray, shape: np.ndarray, zoom: float) -> np.ndarray:
    """Forehead and eyes of a mean: 2.6 x 1.6 eye-centre distances from 0.8 above the highest brow point,
    enlarged ``zoom`` times."""
    from morphkit.ibug68 import eye_centres

    eyes = eye_centres(shape)
    d = float(np.linalg.norm(eyes[1] - eyes[0]))
    cx = float(eyes[:, 0].mean())
    top = float(shape[17:27, 1].min()) - 0.8 * d
    x0, x1 = int(round(cx - 1.3 * d)), int(round(cx + 1.3 * d))
    y0, y1 = int(round(top)), int(round(top + 1.6 * d))
    crop = image[max(0, y0):y1, max(0, x0):x1]
    return cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST if zoom >= 1 else cv2.INTER_AREA)


def picture(path: Path, results: dict[str, dict]) -> None:
    """Rows of groups, columns of :data:`VARIANTS`: forehead and eyes at 2x the collection frame's pixels
    (the 450 x 550 means at the same face size)."""
    from morphkit import image_grid

    tiles, labels = [], []
    for group, rows in results.items():
        now = rows[VARIANTS[2]]
        size = _crop(now["image"], now["shape"], 2.0).shape[1::-1]
        for name in VARIANTS:
            r = rows[name]
            zoom = 2.0 * now["frame"].width / r["frame"].width
            crop = _crop(r["image"], r["shape"], zoom)
            tiles.append(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
            short = {VARIANTS[0]: "before: mean, 450x550", VARIANTS[1]: f"mean, {r['frame'].width}x{r['frame'].height}",
                     VARIANTS[2]: "now: trimmed"}[name]
            labels.append(f"{group} {short}; excess {r['forehead ratio']:.1f}/{r['eyes ratio']:.1f}")
    grid = image_grid(tiles, labels, columns=len(VARIANTS), tile_width=tiles[0].shape[1], padding=6)
    _save(path, grid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=PORTRAITS)
    ap.add_argument("--manifest", type=Path, default=PORTRAITS.parent / "members.csv")
    ap.add_argument("--group-by", default="gender")
    ap.add_argument("--landmarks", type=Path, default=None, help="a bulk-label landmarks.csv of --images "
                    "(default: label them with the shipped model)")
    ap.add_argument("--picture", type=Path, default=None, help="write the before/after crops here")
    args = ap.parse_args()

    from jobs.collection import attach_landmarks, face_sources, load_collection, output_frame
    from morphkit import CanonicalFrame

    portraits = load_collection([args.images], args.manifest, args.group_by)
    attach_landmarks(portraits, args.landmarks, n_jobs=1)
    frame, why = output_frame(None, None, portraits)
    print(f"{cpu_name()}, {os.cpu_count()} CPUs (means on one core); {args.images}, by {args.group_by}")
    print(f"collection frame: {why}")
    results = {}
    for group in sorted({p.group for p in portraits if p.group is not None}):
        usable = [p for p in portraits if p.group == group and p.landmarks is not None]
        if len(usable) < 2:
            continue
        sources, lms = face_sources(usable)
        results[group] = group_means(sources, lms, (CanonicalFrame(), frame))
    print("\nexcess detail: ratio: 95th percentile over the region of the mean's local energy / the median face's; "
          "share of the region above the faces' 75th, 90th percentile; interior: gradient x the plain mean's")
    cols = [f"{w}{k}" for k in (" ratio", "", " p90") for w in ("forehead", "eyes")]
    heads = [c.replace(" p90", " > p90") if c.endswith("p90") else c if c.endswith("ratio") else c + " > p75"
             for c in cols]
    print("| group | texture mean | frame | " + " | ".join(heads) + " | interior x plain | seconds |")
    print("|---|---|---|" + "---:|" * (len(cols) + 2))

    def cells(r):
        return " | ".join(f"{r[c]:.2f}" if c.endswith("ratio") else f"{r[c]:.1%}" for c in cols)

    for group, rows in results.items():
        print(f"| {group} | plain mean (for reference) | {frame.width} x {frame.height} | "
              f"{cells(rows[VARIANTS[2]]['plain'])} | 1.00 | |")
        for name, r in rows.items():
            print(f"| {group} | {name} | {r['frame'].width} x {r['frame'].height} | {cells(r)} | "
                  f"{r['interior']:.2f} | {r['seconds']:.1f} |")
    if args.picture is not None:
        picture(args.picture, results)


if __name__ == "__main__":
    main()
