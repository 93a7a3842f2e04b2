"""``landmarker inspect``: pictures of the model.

Writes into ``--out``:

- ``conv1_filters.png``: the 64 first-layer 7 x 7 filters (each scaled to its own range;
  the network sees grayscale, so they are gray), the edge and blob detectors it learned;
- ``feature_maps.png`` (with ``--image``): for the largest face of that image, its
  network crop and the first 16 channels of the feature maps after each ResNet stage
  (32 x 32 down to 4 x 4 for a 128 px crop);
- ``training_curves.png``: train and validation loss and validation NME per epoch of
  the runs that made the weights (``<weights stem>.training_log.csv`` beside them, or a
  run's ``metrics.csv``), when there is one;
- ``ced.png``: the cumulative error distribution of the weights' last ``landmarker
  evaluate --update-card`` (``ced_val.png`` beside the shipped weights), when there is one.

Needs PyTorch (the ``[train]`` extra): it reads the network's weights and activations.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

from morphkit.errors import InvalidInput


def _grid(tiles: list[np.ndarray], columns: int, pad: int = 2) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = t
    return out


def _to_uint8(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return np.zeros(a.shape, np.uint8) if hi <= lo else np.rint(255 * (a - lo) / (hi - lo)).astype(np.uint8)


def _upscale(a: np.ndarray, k: int) -> np.ndarray:
    return np.kron(a, np.ones((k, k), np.uint8))


def inspect_command(args) -> int:
    """Run ``landmarker inspect``; returns 0.

    Raises:
        FileNotFoundError, ValueError: unusable weights or image, or no face in ``--image``.
    """
    import torch

    from landmarker.io.overlay import save_png
    from landmarker.model.card import SHIPPED_WEIGHTS
    from landmarker.model.network import load_model

    weights = Path(args.weights) if args.weights else SHIPPED_WEIGHTS
    model, card = load_model(weights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    filters = model.conv1.weight.detach().cpu().numpy()[:, 0]  # (64, 7, 7)
    tiles = [_upscale(_to_uint8(f), 6) for f in filters]
    save_png(np.dstack([_grid(tiles, 8)] * 3), out / "conv1_filters.png")
    written.append("conv1_filters.png")

    if args.image:
        from landmarker.inference.predictor import Landmarker
        from landmarker.io.decode import read_image, to_gray
        from landmarker.model import crop as C

        image = read_image(args.image)
        faces = Landmarker(weights, backend="torch").predict(image)
        if not faces:
            raise InvalidInput(f"{args.image}: no face found")
        size = int(card["input"]["img_size"])
        cx, cy, side = C.crop_square(faces[0].box)
        crop = C.normalise(C.warp_crop(to_gray(image), C.crop_matrix(cx, cy, side, size), size))
        x = torch.from_numpy(crop[None, None])
        rows, acts = [], {}
        hooks = [getattr(model, name).register_forward_hook(lambda m, i, o, name=name: acts.__setitem__(name, o))
                 for name in ("layer1", "layer2", "layer3", "layer4")]
        with torch.inference_mode():
            model(x)
        for h in hooks:
            h.remove()
        rows.append(_grid([_to_uint8(crop)], 1, 0))
        for name in ("layer1", "layer2", "layer3", "layer4"):
            maps = acts[name][0, :16].cpu().numpy()
            k = max(1, 64 // maps.shape[-1])
            rows.append(_grid([_upscale(_to_uint8(m), k) for m in maps], 16))
        width = max(r.shape[1] for r in rows)
        page = np.full((sum(r.shape[0] + 8 for r in rows), width), 255, np.uint8)
        y = 0
        for r in rows:
            page[y:y + r.shape[0], : r.shape[1]] = r
            y += r.shape[0] + 8
        save_png(np.dstack([page] * 3), out / "feature_maps.png")
        written.append("feature_maps.png")

    log = weights.with_name(weights.stem + ".training_log.csv")
    if log.is_file():
        from matplotlib.figure import Figure

        rows = list(csv.DictReader(open(log, newline="")))
        epochs = np.arange(1, len(rows) + 1)
        fig = Figure(figsize=(10, 4))
        a, b = fig.subplots(1, 2)
        a.plot(epochs, [float(r["train_loss"]) for r in rows], label="train loss")
        a.plot(epochs, [float(r["val_loss"]) for r in rows], label="validation loss")
        a.set_xlabel("epoch (all runs in order)")
        a.legend()
        b.plot(epochs, [100 * float(r["val_nme_mean"]) for r in rows], label="validation NME mean")
        b.set_xlabel("epoch (all runs in order)")
        b.set_ylabel("% of inter-ocular distance")
        b.legend()
        fig.suptitle(f"{weights.name}: {', '.join(dict.fromkeys(r.get('run', '') for r in rows))}")
        fig.tight_layout()
        fig.savefig(out / "training_curves.png", dpi=100)
        written.append("training_curves.png")
    ced = weights.with_name("ced_val.png")
    if ced.is_file():
        shutil.copyfile(ced, out / "ced.png")
        written.append("ced.png")
    print(f"landmarker inspect: {', '.join(written)} -> {out}")
    return 0
