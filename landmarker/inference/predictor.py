"""Serving the landmark model: :class:`Landmarker` finds faces and predicts 68 points.

Pipeline per image: detector -> face boxes -> crop rule from the model card ->
grayscale crops through the network in batches -> landmarks mapped back to image
pixels with the inverse crop transform.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from landmarker.inference.detect import DEFAULT_DETECTOR, by_visible_area, make_detector
from landmarker.io.face import Face
from landmarker.model import crop as C
from landmarker.model.backends import load_backend
from morphkit.ibug68 import MIRROR, inter_ocular_distance


def _as_image(image) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        from landmarker.io.decode import read_image

        return read_image(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an RGB uint8 (H, W, 3) numpy array or an image file path, got "
                        f"{type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise TypeError(f"expected an RGB (H, W, 3) or gray (H, W) image array, got shape {image.shape}")
    return image


class Landmarker:
    """Detect faces and predict their 68 landmarks.

    Inference needs no torch with the default onnx backend (OpenVINO or ONNX Runtime).

    Args:
        weights: an ``.onnx`` file (OpenVINO or ONNX Runtime) or safetensors (PyTorch) with its
            model card beside it; None: the shipped model (int8 ONNX, or its
            safetensors with ``backend="torch"``).
        detector: ``"hog+haar"`` (default: dlib's HOG with a Haar-verified fallback),
            ``"hog"`` (dlib), ``"haar"`` (OpenCV), or any callable mapping an RGB image
            to a list of :class:`landmarker.inference.detect.Detection` (see :mod:`landmarker.inference.detect`).
            Named detectors search photos over 24 MP at a reduced size.
        device: torch device name; default CUDA when available, else CPU (torch backend only).
        batch_size: most face crops per network call.
        num_threads: CPU threads: torch's (process-wide) or the ONNX engine's threads per call
            (None leaves the library's default).
        backend: ``"onnx"`` (the ONNX file on the default engine, :mod:`landmarker.model.engines`),
            ``"openvino"``, ``"onnxruntime"``, ``"torch"``, or None (the default: from the weights file,
            see :func:`landmarker.model.backends.resolve_backend`).
        flip_average: also predict each mirrored crop, un-mirror its landmarks with
            the 68-point permutation and average the two (test-time augmentation;
            twice the network time), and give every face a fit score (:attr:`Face.fit`:
            how far the two predictions disagree). Sound only for weights trained on
            mirror-consistent labels (all weights since the ytf68 label correction).

    Raises:
        FileNotFoundError, ValueError: missing or unusable weights, or weights the
            chosen backend cannot run.
        ImportError: ``backend="torch"`` without PyTorch installed.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        detector=DEFAULT_DETECTOR,
        device: str | None = None,
        batch_size: int = 64,
        num_threads: int | None = None,
        backend: str | None = None,
        flip_average: bool = False,
    ):
        self.backend = load_backend(backend, weights, device, batch_size, num_threads)
        self.card = self.backend.card
        self.model = getattr(self.backend, "model", None)  # the torch module (torch backend only)
        self.device = getattr(self.backend, "device", "cpu")
        self.img_size = self.card.img_size
        self.crop_scale = self.card.crop_scale
        self.crop_shift_y = self.card.crop_shift_y
        self.detector = make_detector(detector) if isinstance(detector, str) else detector
        self.batch_size = batch_size
        self.flip_average = flip_average

    def _crops(self, image: np.ndarray, boxes) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each box's normalised grayscale crop (only its region of ``image`` is read, :func:`C.warp_crop`)."""
        crops, inverses = [], []
        for box in boxes:
            crop, m = C.face_crop(image, box, self.img_size, self.crop_scale, self.crop_shift_y)
            crops.append(C.normalise(crop))
            inverses.append(C.invert_affine(m))
        return np.stack(crops) if crops else np.zeros((0, self.img_size, self.img_size), np.float32), inverses

    def _run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised crops float32 ``(N, S, S)`` -> landmarks in crop pixels float32 ``(N, 68, 2)``
        and fit scores float64 ``(N,)`` (% IOD; ``nan`` without ``flip_average``)."""
        if len(crops) == 0:
            return np.zeros((0, 68, 2), np.float32), np.zeros(0)
        self.backend.batch_size = self.batch_size
        if not self.flip_average:
            pts = C.from_targets(self.backend(crops).reshape(-1, 68, 2), self.img_size).astype(np.float32)
            return pts, np.full(len(crops), np.nan)
        # the mirrored crop of a box is the crop of the mirrored image's box: crop[:, ::-1]
        both = C.from_targets(
            self.backend(np.concatenate([crops, np.ascontiguousarray(crops[:, :, ::-1])])).reshape(-1, 68, 2),
            self.img_size,
        )
        plain, mirrored = both[: len(crops)], both[len(crops) :]
        mirrored = mirrored[:, MIRROR]
        mirrored[..., 0] = self.img_size - 1 - mirrored[..., 0]
        mean = (plain + mirrored) / 2
        iod = np.maximum(inter_ocular_distance(mean), 1e-6)
        fit = 100.0 * np.linalg.norm(plain - mirrored, axis=2).mean(axis=1) / iod
        return mean.astype(np.float32), fit

    def predict_boxes(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """Landmarks for given face boxes of one image.

        Args:
            image: RGB uint8 ``(H, W, 3)`` or gray ``(H, W)``.
            boxes: ``(left, top, right, bottom)`` boxes in pixels.

        Returns:
            float32 ``(len(boxes), 68, 2)`` in image pixels.
        """
        return self.predict_boxes_many([image], [boxes])[0]

    def predict_boxes_many(self, images: Sequence[np.ndarray], boxes: Sequence[Sequence]) -> list[np.ndarray]:
        """Landmarks for the boxes of several images, all crops batched through the network.

        Args:
            images: RGB uint8 ``(H, W, 3)`` or gray ``(H, W)`` arrays.
            boxes: per image, ``k_i`` boxes ``(left, top, right, bottom)`` in pixels.

        Returns:
            one float32 ``(k_i, 68, 2)`` array of ``(x, y)`` pixels per image, boxes in the given order.

        Raises:
            ValueError: a box without area.
        """
        return [pts for pts, _ in self.predict_boxes_with_fit(images, boxes)]

    def predict_boxes_with_fit(self, images, boxes) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`predict_boxes_many` with the fit scores.

        Args:
            images: RGB uint8 ``(H, W, 3)`` or gray ``(H, W)`` arrays.
            boxes: per image, ``k_i`` boxes ``(left, top, right, bottom)`` in pixels.

        Returns:
            per image ``(landmarks float32 (k_i, 68, 2) (x, y) px, fit float64 (k_i,))``;
            fit in % of the inter-ocular distance (:attr:`Face.fit`), ``nan`` without
            ``flip_average``.

        Raises:
            ValueError: a box without area.
        """
        all_crops, all_inv, counts = [], [], []
        for image, bxs in zip(images, boxes):
            crops, inv = self._crops(image, bxs)
            all_crops.append(crops)
            all_inv.extend(inv)
            counts.append(len(inv))
        crop_pts, fit = self._run(np.concatenate(all_crops) if all_crops else np.zeros((0, 1, 1), np.float32))
        pts = np.stack([C.apply_affine(p, m) for p, m in zip(crop_pts, all_inv)]) if all_inv else crop_pts
        out, start = [], 0
        for k in counts:
            out.append((pts[start : start + k].astype(np.float32), fit[start : start + k]))
            start += k
        return out

    def predict(self, image) -> list[Face]:
        """Detect every face in an image and predict its landmarks.

        Args:
            image: RGB uint8 ``(H, W, 3)`` array (or gray ``(H, W)``), or an image file's
                path (decoded with :func:`landmarker.io.decode.read_image`). The channels must be
                in RGB order: an OpenCV ``cv2.imread`` array is BGR, and the gray crop the network
                sees is then weighted wrongly (points move by a fraction of a pixel to a pixel or
                more); convert it first with ``cv2.cvtColor(image, cv2.COLOR_BGR2RGB)``, or pass the path.

        Returns:
            list of :class:`Face` (box ``(l, t, r, b)`` px, detector score, landmarks float32
            ``(68, 2)`` ``(x, y)`` px), largest visible box area first
            (:func:`landmarker.io.face.visible_area`; empty when no face is found).

        Raises:
            TypeError: ``image`` is neither an array nor a path.
            landmarker.io.decode.ImageDecodeError: a path that is not a decodable image.
        """
        return self.predict_many([image])[0]

    def predict_many(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """:meth:`predict` for several images (RGB arrays, not BGR: see :meth:`predict`; or paths), their
        faces batched through the network together."""
        images = [_as_image(image) for image in images]
        # our detectors already order their faces; a detector given as a callable may not
        detections = [by_visible_area(self.detector(image), image.shape) for image in images]
        landmarks = self.predict_boxes_with_fit(images, [[d.box for d in dets] for dets in detections])
        return [
            [Face(d.box, d.score, lm, float(f)) for d, lm, f in zip(dets, lms, fit)]
            for dets, (lms, fit) in zip(detections, landmarks)
        ]
