"""Training loop for the landmark ResNet18.

Loss (``--loss``, default ``mse``): mean squared error on crop-pixel coordinates.
Measured here from scratch (ResNet18, 128 px, ytf68): MSE converged far faster than
wing loss (Feng et al., "Wing Loss for Robust Facial Landmark Localisation with
Convolutional Neural Networks", CVPR 2018; ``w = 10``, ``epsilon = 2``): validation
NME after 4 epochs 16.5% against 17.9%, and on an overfitting check the MSE loss fell
380,000-fold in 100 steps against 5.6-fold for wing. Wing loss's log region pays off
once errors are small, so it is offered for fine-tuning from trained weights
(``--init``), with smooth-L1 and L1 for comparison.

Optimiser: AdamW, one epoch of linear warm-up then cosine decay to zero.
Each epoch: validation (NME on un-augmented crops), ``metrics.csv``,
``loss_curve.png``, ``last.pt`` (for ``--resume``) and, when validation NME
improves, ``best.safetensors`` with its model card.

``last.pt`` records the run's configuration; ``--resume`` refuses another one
(:data:`RESUME_FREE` lists the fields that may change). Without ``--resume`` a
folder that already holds a run (:data:`RUN_FILES`) is refused, never overwritten.
The data is loaded before the run folder is made, and a run that fails before
writing anything leaves no folder behind. Batch order and
augmentation are drawn from ``(seed, epoch)``, so a resumed run ends as an
uninterrupted one would. A non-finite loss stops the run with a ``ValueError``.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import logging
import math
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from landmarker.io.atomic import atomic_path, atomic_write
from landmarker.io.datasets import FaceSample, dataset_format, load_dataset, split_by_identity
from landmarker.model import crop as C
from landmarker.model.network import adapt_state_dict, build_model, save_weights
from landmarker.training.config import TrainConfig
from landmarker.training.consistency import UnlabelledPairs, build_unlabelled_cache, consistency_loss
from landmarker.training.data import (
    LandmarkDataset,
    build_cache,
    reseed_worker,
    training_boxes,
)
from landmarker.training.metrics import nme, summarise
from morphkit.errors import InvalidInput

log = logging.getLogger(__name__)

LOSSES = ("wing", "smoothl1", "l1", "mse")


def wing_loss(pred: torch.Tensor, target: torch.Tensor, w: float = 10.0, eps: float = 2.0) -> torch.Tensor:
    """Wing loss (Feng et al. 2018), mean over all elements; inputs in pixels, same shape."""
    x = (pred - target).abs()
    c = w - w * math.log(1.0 + w / eps)
    return torch.where(x < w, w * torch.log1p(x / eps), x - c).mean()


def landmark_loss(name: str, pred: torch.Tensor, target: torch.Tensor, img_size: int) -> torch.Tensor:
    """The training loss ``name`` between normalised ``(B, 136)`` outputs, computed in crop pixels."""
    p, t = pred.float() * img_size, target * img_size
    if name == "wing":
        return wing_loss(p, t)
    if name == "smoothl1":
        return nn.functional.smooth_l1_loss(p, t, beta=1.0)
    if name == "l1":
        return nn.functional.l1_loss(p, t)
    if name == "mse":
        return nn.functional.mse_loss(p, t)
    raise InvalidInput(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def predict_crops(model: nn.Module, dataset: LandmarkDataset, batch_size: int = 128) -> np.ndarray:
    """Run the model over a dataset's un-augmented crops; returns crop-pixel ``(n, 68, 2)``."""
    device = next(model.parameters()).device
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(dataset), batch_size):
            x = torch.stack([dataset[j][0] for j in range(i, min(i + batch_size, len(dataset)))])
            outs.append(model(x.to(device)).float().cpu().numpy())
    return C.from_targets(np.concatenate(outs).reshape(-1, 68, 2), dataset.cache.img_size)


def _plot_curves(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    ep = [r["epoch"] for r in rows]
    fig = Figure(figsize=(6, 4), dpi=110)
    ax1 = fig.subplots()
    ax1.plot(ep, [r["train_loss"] for r in rows], "o-", label="train loss")
    ax1.plot(ep, [r["val_loss"] for r in rows], "s-", label="validation loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.set_yscale("log")
    ax2 = ax1.twinx()
    ax2.plot(ep, [100 * r["val_nme_mean"] for r in rows], "^-", color="C3", label="validation NME (%)")
    ax2.set_ylabel("validation NME (%)")
    lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax1.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax1.legend(lines, labels, loc="upper right", fontsize=8)
    ax1.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def data_specs(data: str | list[str] | tuple[str, ...]) -> list[str]:
    """``--data`` as a list of ``FORMAT:PATH`` specs (one string or several)."""
    return [data] if isinstance(data, str) else list(data)


def _split(cfg: TrainConfig) -> tuple[list[FaceSample], list[FaceSample], list[FaceSample]]:
    """``(train, val, every sample loaded)``; ``--max-train`` trims ``train`` only."""
    specs = data_specs(cfg.data)
    if cfg.reviewed_only and "landmarks-csv" not in map(dataset_format, specs):
        raise InvalidInput("--reviewed-only: no --data is landmarks-csv (a bulk-label run's landmarks.csv)")
    samples = [s for spec in specs
               for s in load_dataset(spec, cfg.reviewed_only and dataset_format(spec) == "landmarks-csv")]
    if cfg.val:
        train, val = samples, load_dataset(cfg.val)
    else:
        train, val = split_by_identity(samples, cfg.val_fraction, cfg.seed)
    partial = next((s for s in train + val if np.isnan(s.landmarks).any()), None)
    if partial is not None:
        raise InvalidInput(f"{partial.image_path}: labels only "
                         f"{int((~np.isnan(partial.landmarks[:, 0])).sum())} of the "
                         f"68 points (a template format such as tem): for evaluation, not training")
    if cfg.exclude:
        from landmarker.training.pseudo_label import read_exclusions

        drop = read_exclusions(cfg.exclude)
        before = len(train)
        train = [s for s in train if str(Path(s.image_path).resolve()) not in drop]
        log.info(f"--exclude {cfg.exclude}: {before - len(train)} of {before} training faces left out")
    if cfg.max_train:
        train = train[: cfg.max_train]
    if not train:
        raise InvalidInput(f"{' + '.join(specs)}: no training faces left after the split")
    if not val:
        raise InvalidInput(f"{' + '.join(specs)}: the validation split is empty; raise --val-fraction or pass --val")
    return train, val, samples + (val if cfg.val else [])


RESUME_FREE = ("resume", "out", "workers", "save_every")
"""Configuration fields that may differ between a run and its ``--resume``: they do not change the result."""


def run_config(cfg: TrainConfig) -> dict:
    """The configuration recorded in ``last.pt``: :func:`dataclasses.asdict` of ``cfg`` in
    JSON types (``data`` always a list of specs, ``augment`` a nested dict)."""
    d = asdict(cfg)
    d["data"] = data_specs(cfg.data)
    return json.loads(json.dumps(d))


def _flat(d: dict, prefix: str = "") -> dict:
    """Nested dicts as one level, keys joined by dots (``augment.flip_p``)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def check_resume_config(path: str | os.PathLike, recorded: dict, cfg: TrainConfig) -> None:
    """Refuse to resume the run recorded in ``path`` with a configuration that changes its result.

    Fields in :data:`RESUME_FREE` may differ; so may fields one of the two lacks
    (a checkpoint from an older or newer version).

    Raises:
        ValueError: the fields that differ, each with its recorded and its new value.
    """
    before, now = _flat(recorded), _flat(run_config(cfg))
    changed = [k for k in now if k in before and k not in RESUME_FREE and before[k] != now[k]]
    if changed:
        what = ", ".join(f"{k} {before[k]!r} (now {now[k]!r})" for k in changed)
        raise InvalidInput(f"{path}: the run was trained with {what}; resume with the same settings, "
                         "or train into a new --out without --resume")


def save_checkpoint(path: Path, model: nn.Module, opt, sched, epoch: int, best: float, cfg: TrainConfig) -> None:
    """Write ``last.pt`` atomically: model, optimiser and scheduler states, ``epoch`` (epochs done),
    ``best`` (best validation NME so far), the CPU torch RNG state and :func:`run_config`."""
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "best": best,
                "torch_rng": torch.get_rng_state(),
                "config": run_config(cfg),
            },
            tmp,
        )


def load_checkpoint(path: Path, cfg: TrainConfig) -> dict:
    """Read ``last.pt`` (tensors on the CPU) and check it was written by this configuration.

    Raises:
        ValueError: no checkpoint, or one recorded with another configuration
            (:func:`check_resume_config`).
    """
    if not path.is_file():
        raise InvalidInput(f"{path}: nothing to resume from")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "config" in ckpt:
        check_resume_config(path, ckpt["config"], cfg)
    else:
        log.warning(f"note: {path} records no configuration (an older landmarker wrote it); not checked")
    return ckpt


def restore_checkpoint(ckpt: dict, model: nn.Module, opt, sched) -> tuple[int, float]:
    """Load a :func:`load_checkpoint` dict into the model, optimiser, scheduler and torch RNG;
    returns ``(epochs done, best validation NME)``."""
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["torch_rng"])
    return int(ckpt["epoch"]), float(ckpt["best"])


RUN_FILES = ("last.pt", "best.safetensors", "best.json", "metrics.csv", "loss_curve.png")
"""What a run writes into its folder (besides ``cache/``, which any run may share): one of them marks a run."""


def refuse_existing_run(out: Path) -> None:
    """Refuse to start a new run in ``out`` when it already holds one (any of :data:`RUN_FILES`).

    A missing or empty folder, or one holding only ``cache/``, is fine.

    Raises:
        ValueError: names the folder and its run files, and says to use ``--resume`` or another ``--out``.
    """
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found:
        raise InvalidInput(f"--out {out}: already holds a training run ({', '.join(found)}); continue it with "
                         "--resume, or train into another --out")


@contextlib.contextmanager
def _run_folder(out: Path):
    """Make the run folder ``out`` (and its parents); if the block fails and this call made it, remove
    the folders it made that are still empty, so a failed start leaves nothing behind."""
    made = [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in made:  # deepest first; a folder holding anything (a cache) stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _check(cfg: TrainConfig) -> None:
    if cfg.loss not in LOSSES:
        raise InvalidInput(f"unknown loss {cfg.loss!r}; choose one of {', '.join(LOSSES)}")
    if cfg.save_every < 1:
        raise InvalidInput(f"--save-every must be >= 1, got {cfg.save_every}")
    if cfg.workers < 0:
        raise InvalidInput(f"--workers must be >= 0, got {cfg.workers}")
    if cfg.unlabelled and (cfg.consistency_weight < 0 or cfg.unlabelled_batch < 1):
        raise InvalidInput(f"--consistency-weight must be >= 0 and --unlabelled-batch >= 1, got "
                         f"{cfg.consistency_weight} and {cfg.unlabelled_batch}")


def _setup(cfg: TrainConfig) -> torch.device:
    """Seed torch, set the thread counts; returns the training device."""
    torch.manual_seed(cfg.seed)
    device = _device()
    if cfg.workers:
        # DataLoader workers are forked from this process: an OpenCV thread pool
        # started here (augmentation for the PCA fit, validation crops) is not
        # there in the fork, and a worker's next parallel OpenCV call can wait on
        # it for ever (seen: a --head pca run on a GPU stopped at epoch 14). One
        # OpenCV thread per process never starts the pool; the workers are the
        # parallelism.
        cv2.setNumThreads(1)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    else:
        torch.backends.cudnn.benchmark = True
    return device


def _datasets(cfg: TrainConfig, out: Path, split):
    """``(train set (augmented), val set (plain crops), val ground truth (n, 68, 2) crop px, train cache)``
    from :func:`_split`'s ``split``; context crops are cached in ``out/cache``."""
    train_samples, val_samples, all_samples = split
    cache_dir = out / "cache"
    given = training_boxes(cfg.boxes, all_samples) if cfg.boxes else None
    train_cache = build_cache(train_samples, cfg.img_size, cfg.detector, cache_dir, desc="train faces", boxes=given)
    val_cache = build_cache(val_samples, cfg.img_size, cfg.detector, cache_dir, desc="val faces", boxes=given)
    val_gt = np.stack([augment_free_landmarks(val_cache, i) for i in range(len(val_cache))])
    return LandmarkDataset(train_cache, cfg.augment, cfg.seed), LandmarkDataset(val_cache, None), val_gt, train_cache


FACES_PER_COMPONENT = 4  # fewer training faces per PCA component: a fine-tune keeps its init's shape model


def _model(cfg: TrainConfig, train_set: LandmarkDataset) -> nn.Module:
    """The network to train: fresh (PCA head fitted to ``train_set``), then ``--init`` weights if given.

    A PCA head is refitted to the training shapes, except when fine-tuning (``--init`` with a
    PCA head of as many components) on fewer than :data:`FACES_PER_COMPONENT` faces per
    component (e.g. a few dozen reviewed faces): too few shapes to span the face space, so
    the init's shape model is kept.
    """
    model = build_model(cfg.head, cfg.pca_components)
    state = None
    if cfg.init:
        from safetensors.torch import load_file

        state = {k: v.float() for k, v in adapt_state_dict(load_file(cfg.init)).items()}
    if cfg.head == "pca":
        basis = state.get("fc.basis") if state else None
        if (basis is not None and basis.shape[0] == cfg.pca_components
                and len(train_set) < FACES_PER_COMPONENT * cfg.pca_components):
            model.fc.set_shape_model(state["fc.mean"], basis)
            log.info(f"PCA shape model: the {cfg.pca_components} components of {cfg.init} kept ({len(train_set)} "
                     f"training faces are too few to refit them)")
        else:
            mean, basis, explained = fit_shape_model(train_set, cfg.pca_components, cfg.seed)
            model.fc.set_shape_model(mean, basis)
            log.info(f"PCA shape model: {cfg.pca_components} components explain {100 * explained:.2f}% of the "
                     "variance")
    if state is not None:
        if cfg.head == "pca" and "fc.basis" in state:
            state = reexpress_pca_head(state, model.fc.mean, model.fc.basis)
        missing = model.load_state_dict(state, strict=False)
        log.info(f"initialised from {cfg.init} (missing: {len(missing.missing_keys)} tensors)")
    return model


def _optimiser(cfg: TrainConfig, model: nn.Module, steps_per_epoch: int):
    """AdamW and a per-step LambdaLR: linear warm-up over the first epoch, then cosine to zero."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total, warm = cfg.epochs * steps_per_epoch, steps_per_epoch

    def lr_factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)


def steps_in_epoch(n_faces: int, batch_size: int) -> int:
    """Optimiser steps in one epoch: whole batches only (the loader drops the last partial batch,
    so a step never sees a handful of faces), or one step when all faces fit in one batch."""
    return max(1, n_faces // batch_size)


def _epoch_loader(train_set: LandmarkDataset, cfg: TrainConfig, epoch: int, device: torch.device):
    """The shuffled loader of 0-based ``epoch``; its order and augmentations depend on ``(seed, epoch)``
    only, so a resumed run sees the batches the uninterrupted one would."""
    train_set.reseed(cfg.seed, epoch)
    return torch.utils.data.DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch),
        drop_last=len(train_set) > cfg.batch_size,  # so steps_in_epoch steps
        num_workers=cfg.workers,
        worker_init_fn=reseed_worker if cfg.workers else None,
        pin_memory=device.type == "cuda",
    )


def _unlabelled_batches(pairs, cfg: TrainConfig, epoch: int):
    """Endless shuffled batches of unlabelled pairs for 0-based ``epoch``, drawn from ``(seed, epoch)``."""
    pairs.reseed(cfg.seed, epoch, 1)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch + 500)
    while True:
        yield from torch.utils.data.DataLoader(pairs, batch_size=min(cfg.unlabelled_batch, len(pairs)),
                                               shuffle=True, generator=gen, drop_last=True)


def train_one_epoch(
    model: nn.Module, loader, opt, sched, cfg: TrainConfig, device: torch.device, epoch: int, unlabelled=None
) -> tuple[float, float]:
    """One pass over ``loader`` (0-based ``epoch``), one optimiser and scheduler step per batch.

    With ``unlabelled`` (an endless iterator of :class:`landmarker.training.consistency.UnlabelledPairs`
    batches), each step adds ``cfg.consistency_weight`` times the consistency loss of one batch.

    Returns:
        ``(mean training loss (cfg.loss, crop pixels), seconds spent waiting for batches)``: the
        second against the epoch's time says whether the data pipeline starves the network
        (``data_seconds`` in ``metrics.csv``).

    Raises:
        ValueError: a non-finite loss (nan or inf), naming the epoch and step (1-based).
    """
    model.train()
    losses = []
    waited = 0.0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
    batches = iter(bar)
    for step in itertools.count():
        t0 = time.perf_counter()
        try:
            x, y = next(batches)
        except StopIteration:
            break
        waited += time.perf_counter() - t0
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last)
        loss = landmark_loss(cfg.loss, model(x), y, cfg.img_size)
        if unlabelled is not None:
            loss = loss + cfg.consistency_weight * consistency_loss(model, next(unlabelled), cfg.img_size, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        value = loss.item()  # the one GPU sync of the step, as before the check was added
        if not math.isfinite(value):
            bar.close()
            raise InvalidInput(f"epoch {epoch + 1}, step {step + 1}: the loss is {value}; lower --lr or check the data")
        losses.append(value)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    return float(np.mean(losses)), waited


def validate(model: nn.Module, val_set: LandmarkDataset, val_gt: np.ndarray, cfg: TrainConfig) -> dict:
    """Loss and NME of the model on the un-augmented validation crops.

    Args:
        val_gt: ``(n, 68, 2)`` ground truth in crop pixels.

    Returns:
        ``val_loss`` (``cfg.loss``), ``val_nme_mean``, ``val_nme_median``, ``val_failure_rate``
        (NME as a share of the inter-ocular distance, see :func:`landmarker.training.metrics.nme`).
    """
    pred = predict_crops(model, val_set)
    val_loss = landmark_loss(
        cfg.loss,
        torch.from_numpy(C.to_targets(pred, cfg.img_size).reshape(len(pred), -1)),
        torch.from_numpy(C.to_targets(val_gt, cfg.img_size).reshape(len(pred), -1)),
        cfg.img_size,
    )
    stats = summarise(nme(pred, val_gt))
    return {
        "val_loss": float(val_loss),
        "val_nme_mean": stats["nme_mean"],
        "val_nme_median": stats["nme_median"],
        "val_failure_rate": stats["failure_rate"],
    }


def train(cfg: TrainConfig) -> dict:
    """Train a model as configured; returns the best epoch's metrics row.

    Writes into ``cfg.out``: ``metrics.csv``, ``loss_curve.png``, ``last.pt`` (with
    :func:`run_config`), ``best.safetensors`` + ``best.json`` and ``cache/`` (context crops).
    A resumed run (``cfg.resume``) ends with the weights and metrics an uninterrupted
    one would have had (on the CPU; cuDNN may differ in the last bits).

    The data is loaded before ``cfg.out`` is made; if setting up the run fails
    (an unreadable image, a bad ``--init``), the folders this call made are removed
    while still empty.

    Raises:
        ValueError: bad configuration or an empty split; ``cfg.out`` already holding a
            run (:func:`refuse_existing_run`) without ``resume``; ``--resume`` with nothing to
            resume or with a configuration other than the recorded one; a non-finite
            training or validation loss (the run stops, ``last.pt`` keeps the last good epoch).
        landmarker.io.datasets.DatasetError: malformed dataset.
    """
    _check(cfg)
    out = Path(cfg.out)
    last_path = out / "last.pt"
    if cfg.resume:
        ckpt = load_checkpoint(last_path, cfg)
    else:
        ckpt = None
        refuse_existing_run(out)
    split = _split(cfg)  # a dataset error stops the run before anything is written
    with _run_folder(out):
        device = _setup(cfg)
        train_set, val_set, val_gt, train_cache = _datasets(cfg, out, split)
        model = _model(cfg, train_set).to(device).to(memory_format=torch.channels_last)
        pairs = None
        if cfg.unlabelled:
            contexts = build_unlabelled_cache(cfg.unlabelled, cfg.img_size, cfg.detector or "hog", out / "cache")
            pairs = UnlabelledPairs(contexts, cfg.img_size, cfg.augment, cfg.seed)
            log.info(f"unlabelled faces {len(contexts)} from {cfg.unlabelled}; "
                  f"consistency weight {cfg.consistency_weight}")
    steps_per_epoch = steps_in_epoch(len(train_set), cfg.batch_size)
    opt, sched = _optimiser(cfg, model, steps_per_epoch)
    rows: list[dict] = []
    start_epoch, best = 0, float("inf")
    if ckpt is not None:
        start_epoch, best = restore_checkpoint(ckpt, model, opt, sched)
        rows = read_metrics(out / "metrics.csv")[:start_epoch]
        log.info(f"resumed {last_path} at epoch {start_epoch} (best validation NME {best:.4f})")

    sources = {k: int((train_cache.box_source == k).sum()) for k in ("detector", "dataset", "landmarks")}
    log.info(
        f"train faces {len(train_set)}, val faces {len(val_set)}; train boxes from {sources}; "
        f"device {device}; {cfg.epochs} epochs of {steps_per_epoch} steps"
    )
    best_row = min(rows, key=lambda r: r["val_nme_mean"]) if rows else None
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        loader = _epoch_loader(train_set, cfg, epoch, device)
        train_loss, data_seconds = train_one_epoch(model, loader, opt, sched, cfg, device, epoch,
                                     _unlabelled_batches(pairs, cfg, epoch) if pairs is not None else None)
        val = validate(model, val_set, val_gt, cfg)
        if not math.isfinite(val["val_loss"]):  # finite losses, yet the last step left broken weights
            raise InvalidInput(
                f"epoch {epoch + 1}: the validation loss is {val['val_loss']}; lower --lr or check the data"
            )
        row = {"epoch": epoch + 1, "train_loss": train_loss, **val, "lr": opt.param_groups[0]["lr"],
               "seconds": time.time() - t0, "data_seconds": data_seconds}
        rows.append(row)
        improved = row["val_nme_mean"] < best
        if improved:
            best, best_row = row["val_nme_mean"], row
            save_weights(model, out / "best.safetensors", model_card(cfg, row, len(train_set), len(val_set)),
                         cfg.half_weights)
        _write_metrics(out / "metrics.csv", rows)
        if (epoch + 1) % cfg.save_every == 0 or epoch + 1 == cfg.epochs:
            save_checkpoint(last_path, model, opt, sched, epoch + 1, best, cfg)
            _plot_curves(rows, out / "loss_curve.png")
        log.info(
            f"epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
            f"val NME mean {100 * row['val_nme_mean']:.2f}% median {100 * row['val_nme_median']:.2f}% "
            f"failures {100 * row['val_failure_rate']:.1f}%, {row['seconds']:.0f}s "
            f"({row['data_seconds']:.0f}s waiting for data)" + (" *" if improved else ""),
        )
    return best_row or {}


def fit_shape_model(dataset: LandmarkDataset, components: int, seed: int = 0, passes: int = 2):
    """PCA shape model of a training set's augmented target shapes (ShapeNet's shape layer).

    Shapes are the ``(136,)`` network targets of ``passes`` augmented passes over the
    dataset, so the model covers the rotations, scales, shifts and mirrors seen in
    training (Kopaczka et al., arXiv 1902.03459, fit pose by extra parameters; here
    PCA of posed shapes absorbs them).

    Returns:
        ``(mean (136,), basis (K, 136), explained)``: float32 tensors, the eigenvectors
        scaled by their standard deviations, and the share of variance the K explain.

    Raises:
        ValueError: fewer shapes than components.
    """
    rng_state = dataset.rng
    shapes = []
    for p in range(passes):
        dataset.reseed(seed, 10_000 + p)
        shapes.extend(dataset[i][1].numpy() for i in range(len(dataset)))
    dataset.rng = rng_state
    y = np.asarray(shapes, np.float64)
    if len(y) <= components:
        raise InvalidInput(f"{len(y)} training shapes cannot fit {components} PCA components")
    mean = y.mean(axis=0)
    _, sv, vt = np.linalg.svd(y - mean, full_matrices=False)
    var = sv**2 / (len(y) - 1)
    basis = vt[:components] * np.sqrt(var[:components])[:, None]
    explained = float(var[:components].sum() / var.sum())
    return torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(basis.astype(np.float32)), explained


def reexpress_pca_head(state: dict, mean: torch.Tensor, basis: torch.Tensor) -> dict:
    """Carry a trained PCA head over to a new shape model (``--init`` with ``--head pca``).

    The old head gives ``m_old + s_old @ B_old`` with ``s_old = W f + b``. The new
    shape model ``(mean (136,), basis (K, 136))``, fitted on this run's training
    shapes, gets the scores whose shapes are the least-squares projection of the
    old ones: ``s_new = (m_old - mean + s_old @ B_old) @ pinv(basis)``, linear in
    ``s_old``, so ``W`` and ``b`` are mapped exactly. Fine-tuning then starts from the
    old network's predictions, projected onto the new shape space (which may hold
    corrected labels or mirrored shapes the old one lacked).

    Returns:
        ``state`` with ``fc.mean``, ``fc.basis``, ``fc.scores.weight`` and ``fc.scores.bias`` replaced.
    """
    state = dict(state)
    m_old, b_old = state["fc.mean"].double(), state["fc.basis"].double()
    pinv = torch.linalg.pinv(basis.double())  # (136, K)
    a = b_old @ pinv  # (K_old, K)
    c = (m_old - mean.double()) @ pinv
    w, b = state["fc.scores.weight"].double(), state["fc.scores.bias"].double()  # (K_old, 512), (K_old,)
    state["fc.scores.weight"] = (a.T @ w).float()
    state["fc.scores.bias"] = (b @ a + c).float()
    state["fc.mean"], state["fc.basis"] = mean.clone(), basis.clone()
    return state


def augment_free_landmarks(cache, i: int) -> np.ndarray:
    """Ground-truth landmarks of face ``i`` in its un-augmented crop pixels, ``(68, 2)``."""
    n = cache.img_size
    c = (2 * n - 1) / 2.0
    return C.apply_affine(cache.landmarks[i], C.crop_matrix(c, c, n, n))


def model_card(cfg: TrainConfig, row: dict, n_train: int, n_val: int) -> dict:
    """The JSON model card written beside trained weights."""
    cfg_dict = asdict(cfg)
    return {
        "architecture": "torchvision resnet18, conv1 1->64 (7x7, stride 2), "
        + ("fc 512->136" if cfg.head == "direct"
           else f"fc 512->{cfg.pca_components} PCA scores -> 136 (ShapeNet shape layer)"),
        "head": {"type": cfg.head} if cfg.head == "direct" else {"type": "pca", "components": cfg.pca_components},
        "input": {
            "img_size": cfg.img_size,
            "channels": "grayscale (ITU-R BT.601 luma)",
            "normalisation": "pixel * 2/255 - 1, range [-1, 1]",
        },
        "output": "136 values x0,y0,...,x67,y67: (point - crop centre) / crop side, iBUG 300-W order",
        "crop_rule": {
            "crop_scale": C.CROP_SCALE,
            "crop_shift_y": C.CROP_SHIFT_Y,
            "text": (
                "square of side crop_scale x face-box size (mean of width and height), centred "
                "crop_shift_y box sizes below the box centre. Training boxes: the HOG detector's box "
                "overlapping the labelled face (IoU > 0.3), else the dataset's box, else a box from "
                f"the landmark extent (side = extent / {C.EXTENT_PER_BOX}, shifted up by crop_shift_y)"
            ),
        },
        "training": {
            "data": " + ".join(data_specs(cfg.data)),
            "validation": cfg.val or (f"identity-held-out split of {' + '.join(data_specs(cfg.data))}: "
                                      f"val_fraction {cfg.val_fraction}, seed {cfg.seed}"),
            "train_faces": n_train,
            "val_faces": n_val,
            "epochs": cfg.epochs,
            "best_epoch": row["epoch"],
            "loss": cfg.loss,
            "optimizer": f"AdamW lr {cfg.lr} weight decay {cfg.weight_decay}, 1 epoch warm-up, cosine decay",
            "batch_size": cfg.batch_size,
            "augment": cfg_dict["augment"],
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}",
        },
        "validation_during_training": {k: row[k] for k in ("val_nme_mean", "val_nme_median", "val_failure_rate")},
    }


METRIC_FIELDS = ["epoch", "train_loss", "val_loss", "val_nme_mean", "val_nme_median", "val_failure_rate", "lr",
                 "seconds", "data_seconds"]


def _write_metrics(path: Path, rows: list[dict]) -> None:
    with atomic_write(path, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=METRIC_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.6g}" if isinstance(r.get(k), float) else r.get(k, "")) for k in METRIC_FIELDS})


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``metrics.csv`` (epoch as int, the rest as float); ``[]`` when there is none yet."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if v != ""}
                for r in csv.DictReader(fh)]
