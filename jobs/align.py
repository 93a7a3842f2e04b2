"""``morphkit align``: every face rotated, scaled and moved into one output frame (a face tool).

The tool is :func:`jobs.face_tools._align` over the face tools' runner (inputs, labelling, workers,
``report.csv``, Ctrl-C); this module holds what is its own: the options' checks, the similarity each
face gets (:mod:`morphkit.align`), the output formats and the report's columns.

Modes (:func:`mode_of`):

- ``eyes`` (default): the eye centres (means of points 36-41 and 42-47) exactly on two points of the
  output (``--eyes LX,LY,RX,RY``; default those of :class:`morphkit.CanonicalFrame` of the size), as
  webmorphR's ``align()``, Psychomorph's "Align" and dlib's ``get_face_chip`` do;
- ``procrustes``: all 68 points onto the collection's Procrustes mean shape
  (:func:`morphkit.procrustes.mean_shape`, its eye centres placed as in ``eyes``) by least squares:
  rotation, scale, translation, or scale and translation only (``rotation=False``);
- ``ffhq``: the square of the FFHQ dataset (Karras et al. 2019, :func:`morphkit.align.ffhq_quad`)
  from the eyes and the mouth, onto a square output (1024 px by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from landmarker.io.overlay import save_jpeg, save_png
from morphkit import CanonicalFrame, mean_shape, similarity_to_eyes, similarity_to_ffhq, similarity_to_shape
from morphkit.align import transform_points, warp_face

from .collection import CollectionError, check_options

MODES = ("eyes", "procrustes", "ffhq")
#: Output side of ``--style ffhq`` when ``--width/--height`` are not given (FFHQ's own).
FFHQ_SIZE = 1024
JPEG_QUALITY = 95
#: ``--format``: the file suffix and the writer (atomic) of each output format.
IMAGE_FORMATS = {"png": (".png", save_png), "jpeg": (".jpg", partial(save_jpeg, quality=JPEG_QUALITY))}
#: The columns ``report.csv`` of ``align`` has after the face tools' ``output,input,status,message``.
REPORT_COLUMNS = ("face", "mode", "scale")


def mode_of(o) -> str:
    """The mode of the options ``o`` (:class:`jobs.face_tools._Options`): ``ffhq``, ``procrustes`` or ``eyes``."""
    return "ffhq" if o.style == "ffhq" else "procrustes" if o.procrustes else "eyes"


def output_size(o) -> tuple[int, int]:
    """``(width, height)`` of the outputs: ``--width/--height``, else 1024 x 1024 (ffhq) or the canonical frame's."""
    if o.width is not None:
        return o.width, o.height
    return (FFHQ_SIZE, FFHQ_SIZE) if mode_of(o) == "ffhq" else CanonicalFrame().size


def border_of(value: str, colors: dict) -> tuple[str, tuple[int, int, int]]:
    """``(border, fill)`` of ``--border``: ``replicate``, ``reflect``, ``transparent``, a colour name of
    ``colors`` or ``#rrggbb`` (a plain colour: ``constant`` and its RGB triple).

    Raises:
        CollectionError: anything else (the message lists what is allowed).
    """
    if value in ("replicate", "reflect", "transparent"):
        return value, (0, 0, 0)
    if value in colors:
        return "constant", tuple(colors[value])
    text = value[1:] if value.startswith("#") else ""
    if len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text):
        return "constant", tuple(int(text[i: i + 2], 16) for i in (0, 2, 4))
    raise CollectionError(f"--border {value}: use replicate, reflect, transparent, {', '.join(colors)} or a "
                          "colour #rrggbb")


def check_align(o, colors: dict) -> None:
    """The checks of ``align``'s options ``o``, before anything is read (colour names from ``colors``).

    Raises:
        CollectionError: the message names the flag.
    """
    mode = mode_of(o)
    border, _ = border_of(o.border, colors)
    check_options(
        ("--style", o.style, o.style in (None, "ffhq"), "the one style is ffhq"),
        ("--procrustes with --style", o.style, mode != "ffhq" or not o.procrustes, "choose one of the two"),
        ("--eyes with --style", o.style, mode != "ffhq" or o.eyes is None,
         "the FFHQ crop places the face by its eyes and mouth; leave out --eyes"),
        ("--no-rotation without", "--procrustes", o.rotation or mode == "procrustes",
         "only the Procrustes fit can keep each face's roll (the eyes can sit level only if rotated)"),
        ("--format", o.image_format, o.image_format in IMAGE_FORMATS, f"use {' or '.join(IMAGE_FORMATS)}"),
        ("--format jpeg with", "transparency", o.image_format != "jpeg" or "transparent" not in (border, o.mask_color),
         "JPEG has no alpha; write png"),
    )
    width, height = output_size(o)
    check_options(("--width/--height with --style ffhq", f"{width}x{height}", mode != "ffhq" or width == height,
                   "the FFHQ crop is square: give equal sides"))
    if o.eyes is not None:
        check_options(("--eyes", o.eyes, len(o.eyes) == 4, "give four numbers LX,LY,RX,RY"))
        (lx, ly), (rx, ry) = _eyes(o.eyes)
        inside = all(0 <= x <= width - 1 for x in (lx, rx)) and all(0 <= y <= height - 1 for y in (ly, ry))
        check_options(("--eyes", ",".join(f"{v:g}" for v in np.ravel(o.eyes)), inside and lx < rx,
                       f"two points LX,LY,RX,RY inside the {width}x{height} output, the image-left eye "
                       "(points 36-41) left of the other"))


def _eyes(eyes) -> np.ndarray:
    return np.asarray(eyes, dtype=np.float64).reshape(2, 2)


def target_eyes(o) -> np.ndarray:
    """float64 ``(2, 2)`` output pixels of the two eye centres: ``--eyes``, else the canonical frame's."""
    if o.eyes is not None:
        return _eyes(o.eyes)
    width, height = output_size(o)
    return CanonicalFrame(width=width, height=height).eyes


@dataclass(frozen=True)
class Plan:
    """How ``align`` moves each face: its ``mode``, the output ``size`` ``(width, height)``, ``matrix_of``
    (float32 ``(68, 2)`` landmarks -> float64 ``(3, 3)`` matrix to output pixels), the ``border`` and its
    ``fill``. A module-level partial: it goes to the workers (threads or a Dask cluster)."""

    mode: str
    size: tuple[int, int]
    matrix_of: partial
    border: str
    fill: tuple[int, int, int]


def plan_of(o, landmarks: list[np.ndarray], colors: dict) -> Plan:
    """The :class:`Plan` of the options ``o`` for the faces' ``landmarks`` (float32 ``(68, 2)`` each: the
    Procrustes mode averages their shapes; an empty list gives a plan that is never used).

    Raises:
        CollectionError: a bad ``--border`` (checked before, by :func:`check_align`).
    """
    mode, size = mode_of(o), output_size(o)
    if mode == "ffhq":
        matrix_of = partial(similarity_to_ffhq, size=size[0])
    elif mode == "procrustes" and landmarks:
        mean = mean_shape(np.stack(landmarks))
        target = transform_points(mean, similarity_to_eyes(mean, target_eyes(o))).astype(np.float32)
        matrix_of = partial(similarity_to_shape, target=target, rotation=o.rotation)
    else:
        matrix_of = partial(similarity_to_eyes, eyes=target_eyes(o))
    return Plan(mode, size, matrix_of, *border_of(o.border, colors))


def placed(image: np.ndarray, landmarks, recipe, plan: Plan):
    """``align``'s face (a face tool's ``make``): the photo and its landmarks moved by ``plan`` into its
    output size (:func:`morphkit.align.warp_face`); uint8 ``(H, W, 3)``, or ``(H, W, 4)`` with a transparent
    border, float32 ``(68, 2)`` output pixels, and no note."""
    out, moved = warp_face(image, landmarks, plan.matrix_of(landmarks), plan.size, plan.border, plan.fill)
    return out, moved, ""


def upscale_note(scale: float) -> str:
    """The report's note for a face enlarged ``scale`` times (above 1: smaller in the photo than in the output)."""
    return f"upscaled {scale:.2f}x: the face is smaller in the photo than in the output" if scale > 1.005 else ""
