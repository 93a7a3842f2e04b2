"""Semi-supervised training on unlabelled portraits: equivariance consistency.

Honari et al., "Improving Landmark Localization with Semi-Supervised Learning",
CVPR 2018: a landmark model should be equivariant to the transforms of its input.
For an unlabelled face, two random crops (rotated, scaled, shifted, maybe mirrored,
photometrically jittered, as in training) are predicted; both predictions are
mapped back into the face's context crop (inverse affine, 68-point permutation
for a mirrored crop) and their squared difference is the consistency loss, added
to the supervised loss with a weight (``landmarker train --unlabelled DIR
--consistency-weight W``). Real portraits of the kind users hold thereby shape
the network without labels.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from landmarker.io.files import find_images
from landmarker.model import crop as C
from landmarker.training.data import Augment, context_crop, photometric, random_crop_matrix
from morphkit.errors import InvalidInput
from morphkit.ibug68 import MIRROR


def build_unlabelled_cache(
    folder: str | os.PathLike, img_size: int, detector: str = "hog", cache_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """Context crops of the largest face of every image under ``folder`` (recursive).

    Returns:
        uint8 ``(n, 2N, 2N)`` grayscale context crops at the network's pixel scale
        (``N = img_size``), as :func:`landmarker.training.data.build_cache` makes
        them; images without a face or unreadable are skipped.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: no face found in any image.
    """
    from landmarker.inference.detect import make_detector
    from landmarker.io.decode import ImageDecodeError, read_image, to_gray

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (--unlabelled takes a folder of portraits)")
    path = None
    images = find_images([folder])
    if cache_dir is not None:
        h = hashlib.sha1(repr((img_size, detector, C.CROP_SCALE, C.CROP_SHIFT_Y)).encode())
        for image_path, _ in images:
            h.update(str(image_path).encode() + b"\0")
        path = Path(cache_dir) / f"unlabelled-{h.hexdigest()[:16]}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
    detect = make_detector(detector)
    crops = []
    for image_path, _ in images:
        try:
            image = read_image(image_path)
        except ImageDecodeError:
            continue
        faces = detect(image)
        if not faces:
            continue
        crops.append(context_crop(to_gray(image), faces[0].box, img_size)[0])
    if not crops:
        raise InvalidInput(f"{folder}: no face found in any of its {len(images)} images")
    out = np.stack(crops).astype(np.uint8)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out


class UnlabelledPairs(torch.utils.data.Dataset):
    """Two augmented crops of each unlabelled face, with the maps back to its context crop.

    Items are ``(xa, xb, inv_a, inv_b, flip_a, flip_b)``: crops float32 ``(1, N, N)``
    in ``[-1, 1]``, the inverse crop matrices float32 ``(2, 3)`` (crop pixels ->
    context-crop pixels) and whether each crop is mirrored (bool tensors).
    """

    def __init__(self, contexts: np.ndarray, img_size: int, aug: Augment, seed: int = 0):
        self.contexts = contexts
        self.img_size = img_size
        self.aug = aug
        self.rng = np.random.default_rng(seed)

    def reseed(self, *seed: int) -> None:
        self.rng = np.random.default_rng(list(seed))

    def __len__(self) -> int:
        return len(self.contexts)

    def _view(self, i: int):
        m, flip = random_crop_matrix(self.img_size, self.rng, self.aug)
        img = photometric(C.warp_crop(self.contexts[i], m, self.img_size), self.rng, self.aug)
        return (torch.from_numpy(C.normalise(img))[None], torch.from_numpy(C.invert_affine(m).astype(np.float32)),
                torch.tensor(flip))

    def __getitem__(self, i: int):
        xa, inv_a, flip_a = self._view(i)
        xb, inv_b, flip_b = self._view(i)
        return xa, xb, inv_a, inv_b, flip_a, flip_b


def to_context(pred: torch.Tensor, inv: torch.Tensor, flip: torch.Tensor, img_size: int) -> torch.Tensor:
    """Network outputs ``(B, 136)`` of augmented crops -> landmarks ``(B, 68, 2)`` in context-crop pixels.

    Undoes the crop's affine map (``inv``, ``(B, 2, 3)``) and, for mirrored crops
    (``flip``, bool ``(B,)``), the 68-point re-ordering (the permutation is its own inverse).
    """
    pts = C.from_targets(pred.float().reshape(-1, 68, 2), img_size)
    ctx = pts @ inv[:, :, :2].transpose(1, 2) + inv[:, None, :, 2]
    perm = torch.as_tensor(MIRROR, device=ctx.device)
    return torch.where(flip[:, None, None], ctx[:, perm], ctx)


def consistency_loss(model: torch.nn.Module, batch, img_size: int, device: torch.device) -> torch.Tensor:
    """Mean squared distance (context pixels, i.e. crop pixels) between the two views' landmarks."""
    xa, xb, inv_a, inv_b, flip_a, flip_b = (t.to(device, non_blocking=True) for t in batch)
    x = torch.cat([xa, xb]).contiguous(memory_format=torch.channels_last)
    pa, pb = model(x).chunk(2)
    return torch.nn.functional.mse_loss(to_context(pa, inv_a, flip_a, img_size),
                                        to_context(pb, inv_b, flip_b, img_size))
