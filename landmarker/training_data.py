"""Training data: decode and detect once, cache context crops, augment in memory.

For every labelled face, :func:`build_cache` finds its face box (the detector's box
that overlaps the landmarks, else the dataset's box, else a box made from the
landmarks, see :mod:`landmarker.crop`) and stores a grayscale *context crop*:
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

from . import crop as C
from .datasets import FaceSample
from .decode import read_image, to_gray
from .detect import box_iou, make_detector

CACHE_VERSION = 2
MATCH_IOU = 0.3


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


def face_box_for(sample: FaceSample, detections) -> tuple[tuple[float, float, float, float], str]:
    """The training face box of a labelled face and where it came from.

    The detector's box with the highest IoU (> 0.3) against the landmark-derived
    box wins; else the dataset's own box; else the landmark-derived box.
    """
    lm_box = C.box_from_landmarks(sample.landmarks)
    best, best_iou = None, MATCH_IOU
    for det in detections:
        iou = box_iou(det.box, lm_box)
        if iou > best_iou:
            best, best_iou = det, iou
    if best is not None:
        return best.box, "detector"
    if sample.box is not None:
        return sample.box, "dataset"
    return lm_box, "landmarks"


def _context_of(samples: list[FaceSample], img_size: int, detector_name: str | None):
    detector = make_detector(detector_name) if detector_name else None
    out = []
    by_image: dict[Path, list[FaceSample]] = {}
    for s in samples:
        by_image.setdefault(s.image_path, []).append(s)
    for image_path, faces in by_image.items():
        image = read_image(image_path)
        gray = to_gray(image)
        dets = detector(image) if detector is not None else []
        for s in faces:
            box, source = face_box_for(s, dets)
            cx, cy, side = C.crop_square(box)
            m = C.crop_matrix(cx, cy, 2 * side, 2 * img_size)
            ctx = C.warp_crop(gray, m, 2 * img_size)
            out.append((s, ctx, C.apply_affine(s.landmarks, m), source))
    return out


def _cache_key(samples: list[FaceSample], img_size: int, detector: str | None) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([CACHE_VERSION, img_size, detector, C.CROP_SCALE, C.CROP_SHIFT_Y]).encode())
    for s in samples:
        h.update(str(s.image_path).encode())
        h.update(s.landmarks.tobytes())
    return h.hexdigest()[:16]


def build_cache(
    samples: list[FaceSample],
    img_size: int,
    detector: str | None = "hog",
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = -1,
    desc: str = "caching faces",
) -> ContextCache:
    """Decode each image once, find each face's box and store its context crop.

    Args:
        samples: labelled faces.
        img_size: network input side ``N`` in pixels; context crops are ``2N``.
        detector: ``"hog"``, ``"haar"`` or None (boxes from the dataset or landmarks only).
        cache_dir: if given, the cache is saved there as ``faces-<key>.npz`` and
            reloaded on the next call with the same samples and settings.
        n_jobs: joblib workers for decoding and detection.

    Raises:
        landmarker.decode.ImageDecodeError: a training image cannot be read.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"faces-{_cache_key(samples, img_size, detector)}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return ContextCache(z["images"], z["landmarks"], z["box_source"], int(z["img_size"]))
    chunks = [samples[i : i + 64] for i in range(0, len(samples), 64)]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_context_of)(chunk, img_size, detector) for chunk in chunks
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
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, images=cache.images, landmarks=cache.landmarks, box_source=cache.box_source, img_size=img_size)
        os.replace(tmp, path)
    return cache


@dataclass
class Augment:
    """Augmentation ranges (all uniform).

    rotation_deg: +- degrees; scale: +- relative crop side; shift: +- share of the
    crop side; flip_p: mirror probability; brightness: +- grey levels;
    contrast: +- relative; blur_p: probability of a light Gaussian blur.
    """

    rotation_deg: float = 15.0
    scale: float = 0.10
    shift: float = 0.06
    flip_p: float = 0.5
    brightness: float = 25.0
    contrast: float = 0.3
    blur_p: float = 0.15


def augmented_crop(
    context: np.ndarray, landmarks: np.ndarray, img_size: int, rng: np.random.Generator | None, aug: Augment | None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one ``(N, N)`` training crop out of a ``(2N, 2N)`` context crop.

    With ``aug`` and ``rng`` the crop is randomly rotated, scaled, shifted, mirrored
    (landmarks re-ordered with :data:`landmarker.crop.FLIP_PERMUTATION`) and
    photometrically jittered; without, it is the plain centre crop.

    Returns:
        ``(crop uint8 (N, N), landmarks float32 (68, 2) in crop pixels)``.
    """
    n = img_size
    c = (2 * n - 1) / 2.0
    if aug is None or rng is None:
        m = C.crop_matrix(c, c, n, n)
        return C.warp_crop(context, m, n), C.apply_affine(landmarks, m)
    side = n * (1.0 + rng.uniform(-aug.scale, aug.scale))
    dx, dy = rng.uniform(-aug.shift, aug.shift, size=2) * n
    angle = rng.uniform(-aug.rotation_deg, aug.rotation_deg)
    flip = bool(rng.random() < aug.flip_p)
    m = C.crop_matrix(c + dx, c + dy, side, n, angle, flip)
    img = C.warp_crop(context, m, n)
    pts = C.apply_affine(landmarks, m)
    if flip:
        pts = pts[C.FLIP_PERMUTATION]
    f = img.astype(np.float32)
    mean = f.mean()
    f = (f - mean) * (1.0 + rng.uniform(-aug.contrast, aug.contrast)) + mean
    f += rng.uniform(-aug.brightness, aug.brightness)
    if rng.random() < aug.blur_p:
        import cv2

        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.5, 1.2))
    return np.clip(f, 0, 255).astype(np.uint8), pts


class LandmarkDataset(torch.utils.data.Dataset):
    """Torch dataset over a :class:`ContextCache`.

    Items are ``(x, y)``: x float32 ``(1, N, N)`` in ``[-1, 1]``; y float32 ``(136,)``,
    the targets of :func:`landmarker.crop.to_targets` flattened as ``x0, y0, x1, ...``.
    Call :meth:`reseed` at the start of every epoch for reproducible augmentation.
    """

    def __init__(self, cache: ContextCache, aug: Augment | None = None, seed: int = 0):
        self.cache = cache
        self.aug = aug
        self.rng = np.random.default_rng(seed)

    def reseed(self, *seed: int) -> None:
        self.rng = np.random.default_rng(list(seed))

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int):
        img, pts = augmented_crop(
            self.cache.images[i], self.cache.landmarks[i], self.cache.img_size, self.rng, self.aug
        )
        x = torch.from_numpy(C.normalise(img))[None]
        y = torch.from_numpy(C.to_targets(pts, self.cache.img_size).reshape(-1).astype(np.float32))
        return x, y
