"""``landmarker predict``: landmarks for image files and folders into one CSV.

Images go through :func:`landmarker.inference.labelling.label_images` in chunks of
:data:`IMAGES_PER_BATCH` (the faces of a chunk share network calls), on local
worker threads (``--n-jobs``) or a Dask cluster (``--scheduler``), the same path as
the jobs. With ``--boxes FILE`` the face boxes come from that file
(:mod:`landmarker.io.boxes_csv`) instead of the detector, and their ``score`` is left
empty.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from tqdm import tqdm

from landmarker.clihelp import count
from landmarker.inference.labelling import ModelSpec, label_images
from landmarker.inference.parallel import cluster, label_chunks
from landmarker.io.atomic import atomic_write
from landmarker.io.boxes_csv import match_boxes, read_boxes_csv
from landmarker.io.files import find_images, mark_output
from landmarker.io.landmarks_csv import HEADER, face_row
from morphkit.errors import InvalidInput

IMAGES_PER_BATCH = 16


def predict_command(args) -> int:
    """Run ``landmarker predict``; returns the exit code.

    Raises:
        ValueError: no image found, or an unusable ``--boxes`` file or model (exit 2).
    """
    images, seen = [], set()
    for path, name in find_images(args.paths):  # a file given twice is labelled once, where it first comes
        if path.resolve() not in seen:
            seen.add(path.resolve())
            images.append((path, name))
    if not images:
        raise InvalidInput(f"no image files found under {' '.join(args.paths)}")
    given = None
    if getattr(args, "boxes", None):
        given = match_boxes(args.boxes, read_boxes_csv(args.boxes), images)
        if len(given) < len(images):
            print(f"{len(images) - len(given)} images have no box in {args.boxes}: skipped", file=sys.stderr)
        images = [(p, n) for p, n in images if n in given]
    if args.overlay:
        mark_output(args.overlay)  # our overlays are never taken for photos by a later run
    spec = ModelSpec.from_args(args)
    spec = ModelSpec(spec.weights, spec.backend, None if given is not None else spec.detector, spec.flip_average)
    spec = spec.resolved()
    if getattr(args, "verbose", False):
        print(spec.describe(), file=sys.stderr)
    out = Path(args.out)
    if out.is_dir():
        raise InvalidInput(f"--out {out}: is a folder; give the CSV file to write, e.g. {out / 'landmarks.csv'}")
    n_faces = n_errors = n_none = 0
    t0 = time.time()
    items = [(str(p), name) for p, name in images]
    chunks = [items[i : i + IMAGES_PER_BATCH] for i in range(0, len(items), IMAGES_PER_BATCH)]
    with atomic_write(out, newline="") as fh, tqdm(total=len(images), desc="predict", unit="image") as bar:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        with cluster(getattr(args, "scheduler", None)) as client:
            for results in label_chunks(label_images, chunks, getattr(args, "n_jobs", None), client, spec=spec,
                                      overlay_dir=args.overlay, boxes=given):
                for r in results:
                    if r.status == "error":
                        n_errors += 1
                        print(f"skipped {r.name}: {r.message}", file=sys.stderr)
                    n_none += r.status == "no_face"
                    for i, face in enumerate(r.faces):
                        writer.writerow(face_row(r.name, i, face, r.size, r.sha1))
                    n_faces += len(r.faces)
                bar.update(len(results))
    print(
        f"{count(len(images), 'image')}, {count(n_faces, 'face')}, {n_none} without a face, {n_errors} unreadable, "
        f"{time.time() - t0:.1f}s -> {out}"
    )
    return 0
