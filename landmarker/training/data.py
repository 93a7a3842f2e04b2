"""Training data: decode and detect once, cache context crops, augment in memory.

For every labelled face, :func:`build_cache` finds its face box (the detector's box
that overlaps the landmarks, else the dataset's box, else a box made from the
landmarks, see :mod:`landmarker.model.crop`) and stores a grayscale *context crop*:
a square twice the side of the network crop, at the network's pixel scale, with
the landmarks mapped into it. Epochs then read no files: :class:`LandmarkDataset`
cuts each training crop out of the context crop with one affine warp that also
rotates, scales, shifts and mirrors it, and maps the landmarks with the same
matrix.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from tqdm import tqdm

from landmarker.inference.detect import Detection, make_detector
from landmarker.io.atomic import atomic_path
from landmarker.io.datasets import FaceSample
from landmarker.io.decode import read_image, to_gray
from landmarker.model import crop as C
from landmarker.model.crop import face_box_for
from landmarker.training.config import Augment
from landmarker.training.shape_augment import blended_shape, shape_warped_crop
from morphkit.ibug68 import MIRROR

CACHE_VERSION = 2


@dataclass
class ContextCache:
    """Context crops of labelled faces.

    Attributes:
        images: uint8 ``(n, 2N, 2N)`` grayscale context crops, ``N`` = ``img_size``.
        landmarks: float32 ``(n, 68, 2)`` in context-crop pixels.
        box_source: ``(n,)`` strings: ``detector``, ``dataset`` or ``landmarks``.
        img_size: ``N``.
    """

    images: np.ndarray
    landmarks: np.ndarray
    box_source: np.ndarray
    img_size: int

    def __len__(self) -> int:
        return len(self.images)


def _context_of(samples: list[FaceSample], img_size: int, detector_name: str | None, boxes=None):
    detector = make_detector(detector_name) if detector_name and boxes is None else None
    out = []
    by_image: dict[Path, list[FaceSample]] = {}
    for s in samples:
        by_image.setdefault(s.image_path, []).append(s)
    for image_path, faces in by_image.items():
        image = read_image(image_path)
        gray = to_gray(image)
        if boxes is not None:
            dets = [Detection(tuple(b), 0.0) for b in boxes.get(image_path, [])]
        else:
            dets = detector(image) if detector is not None else []
        for s in faces:
            box, source = face_box_for(s, dets)
            ctx, m = context_crop(gray, box, img_size)
            out.append((s, ctx, C.apply_affine(s.landmarks, m), source))
    return out


def context_crop(gray: np.ndarray, box, img_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The context crop of a face box: twice the network crop's side, at the network's pixel scale.

    Args:
        gray: uint8 ``(H, W)`` image.
        box: ``(left, top, right, bottom)`` pixels.
        img_size: network input side ``N``.

    Returns:
        ``(uint8 (2N, 2N) crop, float64 (2, 3) matrix from image to context-crop pixels)``.
    """
    cx, cy, side = C.crop_square(box)
    m = C.crop_matrix(cx, cy, 2 * side, 2 * img_size)
    return C.warp_crop(gray, m, 2 * img_size), m


def _cache_key(samples: list[FaceSample], img_size: int, detector: str | None, boxes=None) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([CACHE_VERSION, img_size, detector, C.CROP_SCALE, C.CROP_SHIFT_Y]).encode())
    for s in samples:
        h.update(str(s.image_path).encode())
        h.update(s.landmarks.tobytes())
        if boxes is not None:
            h.update(json.dumps(boxes.get(s.image_path, [])).encode())
    return h.hexdigest()[:16]


def build_cache(
    samples: list[FaceSample],
    img_size: int,
    detector: str | None = "hog",
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = -1,
    desc: str = "caching faces",
    boxes: dict[Path, list[tuple[float, float, float, float]]] | None = None,
) -> ContextCache:
    """Decode each image once, find each face's box and store its context crop.

    Args:
        samples: labelled faces.
        img_size: network input side ``N`` in pixels; context crops are ``2N``.
        detector: ``"hog"``, ``"haar"`` or None (boxes from the dataset or landmarks only).
        boxes: given face boxes ``(left, top, right, bottom)`` in pixels per image
            path (``landmarker train --boxes``), used instead of the detector: each
            labelled face takes the given box it overlaps best, exactly as it would
            take a detector's box; an image without boxes falls back as above.
        cache_dir: if given, the cache is saved there as ``faces-<key>.npz`` and
            reloaded on the next call with the same samples and settings.
        n_jobs: joblib workers for decoding and detection.

    Raises:
        landmarker.io.decode.ImageDecodeError: a training image cannot be read.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"faces-{_cache_key(samples, img_size, detector, boxes)}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return ContextCache(z["images"], z["landmarks"], z["box_source"], int(z["img_size"]))
    chunks = [samples[i : i + 64] for i in range(0, len(samples), 64)]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_context_of)(chunk, img_size, detector, _boxes_of(chunk, boxes)) for chunk in chunks
    )
    items = []
    with tqdm(total=len(samples), desc=desc, unit="face") as bar:
        for res in results:
            items.extend(res)
            bar.update(len(res))
    cache = ContextCache(
        images=np.stack([it[1] for it in items]).astype(np.uint8),
        landmarks=np.stack([it[2] for it in items]).astype(np.float32),
        box_source=np.array([it[3] for it in items]),
        img_size=img_size,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, images=cache.images, landmarks=cache.landmarks, box_source=cache.box_source,
                     img_size=img_size)
    return cache


def _boxes_of(chunk: list[FaceSample], boxes):
    if boxes is None:
        return None
    return {s.image_path: boxes[s.image_path] for s in chunk if s.image_path in boxes}


def training_boxes(path: str | os.PathLike,
                   samples: list[FaceSample]) -> dict[Path, list[tuple[float, float, float, float]]]:
    """Read a boxes CSV (``image,left,top,right,bottom``, :mod:`landmarker.io.boxes_csv`) for training.

    ``image`` names a training image by its path (as the dataset gives it, or the
    same file on disk) or by its file name alone when that is unique.

    Returns:
        image path -> boxes ``(left, top, right, bottom)`` in pixels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed file, or a box for an image that is not in the data
            (the message names the file and the image).
    """
    from landmarker.io.boxes_csv import match_boxes, read_boxes_csv

    paths = list(dict.fromkeys(s.image_path for s in samples))
    by_name = {p.as_posix(): p for p in paths}
    matched = match_boxes(path, read_boxes_csv(path), [(p, p.as_posix()) for p in paths])
    return {by_name[name]: bxs for name, bxs in matched.items()}


def augmented_crop(
    context: np.ndarray, landmarks: np.ndarray, img_size: int, rng: np.random.Generator | None, aug: Augment | None,
    donors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one ``(N, N)`` training crop out of a ``(2N, 2N)`` context crop.

    With ``aug`` and ``rng`` the crop is randomly rotated, scaled, shifted, mirrored
    (landmarks re-ordered with :data:`morphkit.ibug68.MIRROR`) and
    photometrically jittered; without, it is the plain centre crop. With
    ``aug.shape_p`` and ``donors`` (float32 ``(n, 68, 2)`` landmarks of other faces, any
    frame), the face is first warped onto a shape between its own and a random donor's
    (:mod:`landmarker.training.shape_augment`), in the same resampling as the crop.

    Returns:
        ``(crop uint8 (N, N), landmarks float32 (68, 2) in crop pixels)``.
    """
    n = img_size
    if aug is None or rng is None:
        c = (2 * n - 1) / 2.0
        m = C.crop_matrix(c, c, n, n)
        return C.warp_crop(context, m, n), C.apply_affine(landmarks, m)
    m, flip = random_crop_matrix(n, rng, aug)
    img = None
    if aug.shape_p and donors is not None and len(donors) and rng.random() < aug.shape_p:
        target = blended_shape(landmarks, donors[rng.integers(len(donors))], rng.uniform(0.0, 1.0))
        img = shape_warped_crop(context, landmarks, target, m, n)
        if img is not None:
            landmarks = target
    if img is None:
        img = C.warp_crop(context, m, n)
    pts = C.apply_affine(landmarks, m)
    if flip:
        pts = pts[MIRROR]
    return photometric(img, rng, aug), pts


def random_crop_matrix(img_size: int, rng: np.random.Generator, aug: Augment) -> tuple[np.ndarray, bool]:
    """A random geometric augmentation: the float64 ``(2, 3)`` matrix from ``(2N, 2N)`` context-crop
    pixels to ``(N, N)`` crop pixels (rotated, scaled, shifted, mirrored within ``aug``'s ranges) and
    whether it mirrors (then landmarks are re-ordered with :data:`morphkit.ibug68.MIRROR`)."""
    n = img_size
    c = (2 * n - 1) / 2.0
    side = n * (1.0 + rng.uniform(-aug.scale, aug.scale))
    dx, dy = rng.uniform(-aug.shift, aug.shift, size=2) * n
    angle = rng.uniform(-aug.rotation_deg, aug.rotation_deg)
    flip = bool(rng.random() < aug.flip_p)
    return C.crop_matrix(c + dx, c + dy, side, n, angle, flip), flip


def photometric(img: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """Contrast, brightness, blur and the degradations of ``aug`` on a uint8 ``(N, N)`` crop; uint8 out."""
    import cv2

    n = img.shape[0]
    f = img.astype(np.float32)
    mean = f.mean()
    f = (f - mean) * (1.0 + rng.uniform(-aug.contrast, aug.contrast)) + mean
    f += rng.uniform(-aug.brightness, aug.brightness)
    if rng.random() < aug.blur_p:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.5, 1.2))
    if rng.random() < aug.lowres_p:
        small = max(8, round(n * rng.uniform(0.3, 0.8)))
        f = cv2.resize(cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA), (n, n),
                       interpolation=cv2.INTER_LINEAR)
    if rng.random() < aug.noise_p:
        f = f + rng.normal(0.0, rng.uniform(2.0, 8.0), f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < aug.jpeg_p:
        _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out


def reseed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: give each worker its own augmentation stream.

    Workers start as copies of the dataset, so without this every worker would draw
    the same rotations, scales and flips. Worker ``i`` continues from the seed of
    the dataset's last :meth:`LandmarkDataset.reseed` with ``i`` appended.
    (:func:`landmarker.training.train.train` also keeps OpenCV to one thread before the
    workers fork, so they never inherit a thread pool they do not have.)
    """
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, LandmarkDataset):
        info.dataset.rng = np.random.default_rng([*info.dataset.seed, 1 + worker_id])


class LandmarkDataset(torch.utils.data.Dataset):
    """Torch dataset over a :class:`ContextCache`.

    Items are ``(x, y)``: x float32 ``(1, N, N)`` in ``[-1, 1]``; y float32 ``(136,)``,
    the targets of :func:`landmarker.model.crop.to_targets` flattened as ``x0, y0, x1, ...``.
    Call :meth:`reseed` at the start of every epoch for reproducible augmentation.
    """

    def __init__(self, cache: ContextCache, aug: Augment | None = None, seed: int = 0):
        self.cache = cache
        self.aug = aug
        self.seed = [seed]
        self.rng = np.random.default_rng(seed)

    def reseed(self, *seed: int) -> None:
        self.seed = list(seed)
        self.rng = np.random.default_rng(self.seed)

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int):
        img, pts = augmented_crop(
            self.cache.images[i], self.cache.landmarks[i], self.cache.img_size, self.rng, self.aug,
            self.cache.landmarks,
        )
        x = torch.from_numpy(C.normalise(img))[None]
        y = torch.from_numpy(C.to_targets(pts, self.cache.img_size).reshape(-1).astype(np.float32))
        return x, y
