"""``index.html``: the report of a team-means or morph-movie run, beside its outputs.

The page shows the means and the comparison grid (team-means) or the movie (a
``<video>`` element; ``<img>`` for a GIF), every face used as a thumbnail with its
landmarks drawn, and the skipped faces with the reason. Every link is relative, so
the folder can be moved, zipped and sent, except one: faces whose landmarks come from a
bulk-label run's ``landmarks.csv`` link to their page in ``morphkit review RUN_DIR`` on its
default address (:data:`REVIEW_URL`; the page says to start it). Thumbnails go to ``faces/`` in the same
folder (JPEG; a movie's report: ``MOVIE.faces/``). Rendered with Jinja2 (``jobs/templates/report.html``, autoescaped).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import numpy as np

from landmarker.io.atomic import atomic_write
from landmarker.io.decode import ImageDecodeError
from landmarker.io.face import Face
from landmarker.io.names import bounded_file_stem
from landmarker.io.overlay import write_overlay

from .review.server import REVIEW_URL

#: A thumbnail's longest side, pixels (shown 130 px wide: twice that for high-density screens).
THUMB_SIDE = 320


def _href(path: Path, base: Path) -> str:
    return quote(Path(os.path.relpath(path, base)).as_posix())


def _thumbnail(portrait, path: Path) -> Path | None:
    """Write a small copy of a portrait's photo with its landmarks drawn to ``path`` (an overlay, long side
    :data:`THUMB_SIDE`: :func:`landmarker.io.overlay.write_overlay`, decoded reduced); None when it no longer
    decodes."""
    faces = []
    if portrait.landmarks is not None:
        lm = np.asarray(portrait.landmarks, np.float32)
        faces = [Face((*map(float, lm.min(axis=0)), *map(float, lm.max(axis=0))), 0.0, lm)]
    try:
        write_overlay(portrait.path, faces, path, THUMB_SIDE)
    except ImageDecodeError:
        return None
    return path


def write_report(out_html: Path, title: str, summary: str, portraits, *, groups_order=None, means=None,
                 comparison: Path | None = None, movie: Path | None = None, files=(),
                 thumbs: Path | None = None) -> Path:
    """Write ``out_html`` (and its thumbnails in ``thumbs``, default ``faces/`` beside it).

    Args:
        out_html: the page to write.
        title, summary: the heading and a one-line summary of the run.
        portraits: the run's :class:`jobs.collection.Portrait` list (used faces get thumbnails).
        groups_order: groups in display order (default: first appearance).
        means: group -> ``(PNG path, face count)`` for the groups that got a mean.
        comparison: the comparison grid; movie: the movie file.
        files: other output files to link.
        thumbs: the thumbnails' folder (default ``faces`` beside ``out_html``).

    Returns:
        ``out_html``.
    """
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    base = out_html.parent
    thumbs = Path(thumbs) if thumbs is not None else base / "faces"
    taken: set[str] = set()
    means = means or {}
    order = list(groups_order) if groups_order else list(dict.fromkeys(p.group for p in portraits if p.group))
    used = [(p, thumbs / f"{bounded_file_stem(Path(p.name).stem, taken)}.jpg")
            for g in order for p in portraits if p.group == g and p.landmarks is not None]
    from concurrent.futures import ThreadPoolExecutor

    from landmarker.inference.parallel import cpu_count

    with ThreadPoolExecutor(cpu_count()) as pool:  # decoding and JPEG encoding release the GIL
        made = dict(zip((id(p) for p, _ in used), pool.map(lambda item: _thumbnail(*item), used)))
    groups = []
    for g in order:
        faces = []
        for p in portraits:
            thumb = made.get(id(p)) if p.group == g else None
            if thumb is not None:
                review = p.extra.get("review")
                faces.append({"name": p.name, "thumb": _href(thumb, base),
                              "review": f"{REVIEW_URL}#face={review[1]}" if review else None})
        mean = means.get(g)
        groups.append({"name": g, "faces": faces, "mean": _href(mean[0], base) if mean else None,
                       "count": mean[1] if mean else len(faces),
                       "note": "" if mean or movie else "no mean: too few usable faces (see below)"})
    skipped = [{"name": p.name, "group": p.group or "", "note": p.note} for p in portraits if p.landmarks is None]
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]))
    review_runs = sorted({p.extra["review"][0] for p in portraits if p.extra.get("review")})
    html = env.get_template("report.html").render(
        title=title, summary=summary, groups=groups, skipped=skipped, review_runs=review_runs, review_url=REVIEW_URL,
        comparison=_href(comparison, base) if comparison else None,
        movie=_href(movie, base) if movie else None,
        files=[_href(Path(f), base) for f in files if Path(f).exists()],
    )
    with atomic_write(out_html) as fh:
        fh.write(html)
    return out_html
