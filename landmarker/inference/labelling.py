"""One labelling path for every command: a model specification and a labelling function.

:class:`ModelSpec` says which model labels (weights, backend, detector, test-time
flip averaging); :func:`add_model_options` gives every command that labels faces
the same options with the same meaning (``landmarker predict``, ``evaluate``,
``serve``, and the jobs ``bulk-label``, ``team-means``, ``morph-movie``).

:func:`label_images` takes a chunk of image files (and optionally their face boxes)
and returns one :class:`ImageResult` per file; it never raises for a bad file. It
runs on local worker threads or Dask workers alike (:mod:`landmarker.inference.parallel`),
and each worker thread loads its model once and keeps it.
"""

from __future__ import annotations

import argparse
import math
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from landmarker.inference.detect import DEFAULT_DETECTOR, DETECTORS, SEARCH_MAX_PIXELS, SEARCH_SIDE
from landmarker.io.decode import ImageDecodeError, read_image, read_image_reduced
from landmarker.io.face import scaled_faces, visible_area
from landmarker.io.files import file_sha1
from landmarker.io.overlay import OVERLAY_SUFFIX, overlay_base
from landmarker.model.backends import BACKENDS, describe_backend, load_backend, resolve_backend

__all__ = ["ModelSpec", "ImageResult", "add_model_options", "label_images", "faces_for_boxes", "overlay_path"]


@dataclass(frozen=True)
class ModelSpec:
    """Which model labels faces.

    Attributes:
        weights: ``.onnx`` or safetensors file (model card beside it); None: the shipped model.
        backend: ``onnx``, ``torch`` or None (from the file, see
            :func:`landmarker.model.backends.resolve_backend`).
        detector: one of :data:`landmarker.inference.detect.DETECTORS`, or None when boxes are given.
        flip_average: also predict mirrored crops and average (twice the network time).
    """

    weights: str | None = None
    backend: str | None = None
    detector: str | None = DEFAULT_DETECTOR
    flip_average: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ModelSpec:
        """The spec of parsed :func:`add_model_options` options."""
        return cls(args.weights, args.backend, getattr(args, "detector", DEFAULT_DETECTOR),
                   bool(getattr(args, "flip_average", False)))

    def resolved(self) -> ModelSpec:
        """The same spec with the backend chosen and the weights as an absolute path.

        Raises:
            ValueError: weights the backend cannot run (see :func:`~landmarker.model.backends.resolve_backend`).
            FileNotFoundError: the weights file does not exist.
        """
        kind, path = resolve_backend(self.backend, self.weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file")
        return ModelSpec(str(path.resolve()), kind, self.detector, self.flip_average)

    def settings(self) -> dict:
        """The spec as a JSON-able dict (recorded by resumable jobs; weights resolved)."""
        return asdict(self.resolved())

    def load(self, num_threads: int | None = None, batch_size: int = 64):
        """A :class:`landmarker.inference.predictor.Landmarker` for this spec."""
        from landmarker.inference.predictor import Landmarker

        return Landmarker(self.weights, detector=self.detector, backend=self.backend, batch_size=batch_size,
                          num_threads=num_threads, flip_average=self.flip_average)

    def describe(self) -> str:
        """One line for ``-v``: the weights, the backend and, for ONNX, which arithmetic runs
        (int8 kernels or the float path, :mod:`landmarker.model.int8_check`) and the CPU's int8 features.

        Raises:
            the errors of :func:`landmarker.model.backends.load_backend`.
        """
        spec = self.resolved()
        backend = load_backend(spec.backend, spec.weights)
        return f"model: {spec.weights} ({describe_backend(backend)}); detector: {spec.detector or 'boxes given'}"


def add_model_options(parser: argparse.ArgumentParser, detector: bool = True) -> None:
    """Add ``--weights``, ``--backend``, ``--detector`` and ``--flip-average`` to ``parser``."""
    parser.add_argument("--weights", help="model file: .onnx (OpenVINO or ONNX Runtime) or .safetensors (PyTorch, "
                        "needs the [train] extra); model card beside it (default: the shipped model, int8 ONNX)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="what runs the network: onnx (the .onnx file on the faster engine installed, OpenVINO, "
                        "else ONNX Runtime), openvino or onnxruntime (that engine), torch (PyTorch); default: from "
                        "--weights: onnx for .onnx and the shipped model, torch for .safetensors")
    if detector:
        parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS,
                            help="face detector: dlib HOG with a Haar-verified fallback, dlib HOG, OpenCV Haar")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="say which model labels the faces: weights, engine and, for ONNX, whether the int8 "
                        "kernels or ONNX Runtime's float path runs (checked on this CPU when the model loads), and "
                        "the CPU's int8 features")
    parser.add_argument("--flip-average", action="store_true",
                        help="also predict each mirrored face crop and average (test-time augmentation: lower "
                        "error, twice the network time)")


@dataclass
class ImageResult:
    """What happened to one file.

    Attributes:
        name: the image's name (relative POSIX path) as given.
        status: ``ok``, ``no_face`` or ``error``.
        faces: :class:`landmarker.io.face.Face` list, largest visible box area first.
        message: why a file is ``no_face`` or ``error``.
        size: the decoded (upright) image's ``(width, height)`` in pixels; None for an error.
        sha1: the hex SHA-1 of the file's bytes (:func:`landmarker.io.files.file_sha1`): which photo
            the faces belong to; None for an error.
        preview: with :func:`label_images`'s ``preview_side``: the decoded photo, RGB uint8, reduced to
            at most that many pixels on its long side (:func:`landmarker.io.overlay.overlay_base`), so
            an overlay is drawn without decoding the photo again; else None.
    """

    name: str
    status: str
    faces: list = field(default_factory=list)
    message: str = ""
    size: tuple[int, int] | None = None
    sha1: str | None = None
    preview: np.ndarray | None = field(default=None, repr=False, compare=False)


_LOCAL = threading.local()
_LOADS = {"models": 0}  # models loaded in this process (tests check where the work ran)
_LOADS_LOCK = threading.Lock()


def models_loaded() -> int:
    """How many models :func:`label_images` has loaded in this process (one per worker thread and spec)."""
    return _LOADS["models"]


def _model(spec: ModelSpec, threads: int | None):
    """This thread's model for ``spec``, loaded on first use."""
    models = getattr(_LOCAL, "models", None)
    if models is None:
        models = _LOCAL.models = {}
    key = (spec, threads)
    if key not in models:
        models[key] = spec.load(num_threads=threads)
        with _LOADS_LOCK:
            _LOADS["models"] += 1
    return models[key]


def overlay_path(overlay_dir, name: str) -> Path:
    """Where the overlay of image ``name`` (relative POSIX path) goes: same sub-path, plus ``.jpg``
    (``a/x.png`` -> ``overlay_dir/a/x.png.jpg``: ``x.png`` and ``x.jpg`` never share one)."""
    rel = Path(*[p for p in Path(name).parts if p not in ("..", "/", "\\")])
    return Path(overlay_dir) / rel.with_suffix(rel.suffix + OVERLAY_SUFFIX)


def faces_for_boxes(model, images, boxes) -> list[list]:
    """:class:`~landmarker.io.face.Face` lists for given boxes (score ``nan``), the box with the
    largest visible area first (:func:`landmarker.io.face.visible_area`: the part inside the image).

    Args:
        model: a :class:`landmarker.inference.predictor.Landmarker`.
        images: RGB uint8 ``(H, W, 3)`` arrays.
        boxes: per image, ``(left, top, right, bottom)`` boxes in pixels.

    Raises:
        ValueError: a box without area.
    """
    from landmarker.io.face import Face

    ordered = [sorted(bxs, key=lambda b, im=im: -visible_area(b, (im.shape[1], im.shape[0])))
               for im, bxs in zip(images, boxes)]
    landmarks = model.predict_boxes_with_fit(images, ordered)
    return [[Face(tuple(b), math.nan, lm, float(f)) for b, lm, f in zip(bxs, lms, fit)]
            for bxs, (lms, fit) in zip(ordered, landmarks)]


def label_images(items, spec: ModelSpec = ModelSpec(), overlay_dir=None, threads: int | None = None,
                 boxes: dict | None = None, model=None, preview_side: int | None = None) -> list[ImageResult]:
    """Faces and landmarks for a chunk of image files; never raises for a bad file.

    The decoded images of the chunk go through the network together (one batch).

    Args:
        items: ``(path, name)`` pairs: the file, and the name results carry.
        spec: the model; each worker thread loads it once and keeps it.
        overlay_dir: also write ``overlay_dir/<name>.jpg`` with the faces drawn
            (:func:`landmarker.io.overlay.save_overlay`: JPEG, long side at most 1024 px).
        threads: ONNX Runtime (or torch) CPU threads of this thread's model.
        boxes: ``name -> [(left, top, right, bottom), ...]``: use these face boxes
            instead of the detector (score ``nan``); every item must have an entry.
        model: a loaded :class:`~landmarker.inference.predictor.Landmarker` to use instead of
            this thread's model of ``spec`` (``landmarker serve`` shares one).
        preview_side: also return each decoded photo reduced to this long side (:attr:`ImageResult.preview`),
            for overlays drawn elsewhere (``bulk-label``'s writer thread) without a second decode.

    JPEG photos over 24 MP are decoded reduced (:func:`landmarker.io.decode.read_image_reduced`,
    long side at least 2,400 px, the size the detector searches such photos at anyway),
    and their faces are found and landmarked there: every face the detector can find
    there is at least 80 px wide, so its 128 px network crop loses nothing. Boxes and
    landmarks are mapped back to full-size pixels; the overlay is drawn at the reduced size.

    Returns:
        one :class:`ImageResult` per item, in the order of ``items`` (a path given twice
        is labelled once and reported at both positions). Landmarks are float32
        ``(68, 2)`` ``(x, y)`` pixels of the decoded (EXIF-upright) image.
    """
    model = _model(spec, threads) if model is None else model
    results: list[ImageResult | None] = [None] * len(items)
    first: dict[str, int] = {}  # path -> the position that labels it (a file given twice is labelled once)
    decoded = []  # (position, image, scale, size, sha1)
    for i, (path, name) in enumerate(items):
        if str(path) in first:
            continue
        first[str(path)] = i
        try:
            if boxes is None:
                image, scale, size = read_image_reduced(path, SEARCH_MAX_PIXELS, SEARCH_SIDE)
            else:  # given boxes are in full-size pixels
                image, scale = read_image(path), 1
                size = (image.shape[1], image.shape[0])
            decoded.append((i, image, scale, size, file_sha1(path)))
        except ImageDecodeError as err:
            results[i] = ImageResult(name, "error", [], err.reason)
        except OSError as err:  # a file we could not even stat or read (our own bugs surface)
            results[i] = ImageResult(name, "error", [], f"{type(err).__name__}: {err}")
    arrays = [image for _, image, _, _, _ in decoded]
    if not decoded:
        found = []
    elif boxes is not None:
        found = faces_for_boxes(model, arrays, [boxes[items[i][1]] for i, _, _, _, _ in decoded])
    else:
        found = model.predict_many(arrays)
    for (i, image, scale, size, sha1), faces in zip(decoded, found):
        name = items[i][1]
        full = scaled_faces(faces, scale)
        result = ImageResult(name, "ok" if faces else "no_face", full, "" if faces else "no face found", size, sha1,
                             None if preview_side is None else overlay_base(image, preview_side))
        if overlay_dir is not None:
            from landmarker.io.overlay import save_overlay

            try:
                save_overlay(image, faces, overlay_path(overlay_dir, name))
            except OSError as err:
                result = ImageResult(name, "error", full, f"overlay not written: {err}", size, sha1)
        results[i] = result
    for i, (path, name) in enumerate(items):  # repeats share the result of their file's first position
        if results[i] is None:
            r = results[first[str(path)]]
            results[i] = ImageResult(name, r.status, r.faces, r.message, r.size, r.sha1, r.preview)
    return results
