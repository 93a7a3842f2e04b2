"""What defines a training run: :class:`TrainConfig` and its :class:`Augment` ranges.

Plain dataclasses, no torch: the command line reads its option defaults from here
(``landmarker train --help``), so every default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from morphkit.errors import InvalidInput


@dataclass
class Augment:
    """Augmentation ranges (all uniform).

    rotation_deg: +- degrees; scale: +- relative crop side; shift: +- share of the
    crop side; flip_p: mirror probability; brightness: +- grey levels;
    contrast: +- relative; blur_p: probability of a light Gaussian blur.
    Degradations, so crops from photos of another quality look like training crops:
    lowres_p: probability of resampling the crop at 30-80% of its side and back
    (a smaller, softer face); jpeg_p: probability of a JPEG round trip at quality
    30-90; noise_p: probability of Gaussian noise of sigma 2-8 grey levels.
    """

    rotation_deg: float = 15.0
    scale: float = 0.10
    shift: float = 0.06
    flip_p: float = 0.5
    brightness: float = 25.0
    contrast: float = 0.3
    blur_p: float = 0.15
    lowres_p: float = 0.0
    jpeg_p: float = 0.0
    noise_p: float = 0.0
    shape_p: float = 0.0

    def __post_init__(self) -> None:
        for name in ("flip_p", "blur_p", "lowres_p", "jpeg_p", "noise_p", "shape_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidInput(f"{name} is a probability in [0, 1], got {getattr(self, name)}")

    def scaled(self, strength: float) -> Augment:
        """These ranges times ``strength`` (rotation, scale, shift, brightness, contrast; not the probabilities).

        Raises:
            ValueError: a negative strength.
        """
        if strength < 0:
            raise InvalidInput(f"augmentation strength must be >= 0, got {strength}")
        ranges = ("rotation_deg", "scale", "shift", "brightness", "contrast")
        return replace(self, **{name: getattr(self, name) * strength for name in ranges})


@dataclass
class TrainConfig:
    """Everything that defines a training run (written to the model card)."""

    data: str | list[str]
    out: str
    val: str | None = None
    val_fraction: float = 0.1
    epochs: int = 30
    img_size: int = 128
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "mse"
    head: str = "direct"
    pca_components: int = 24
    seed: int = 0
    detector: str | None = "hog"
    boxes: str | None = None
    exclude: str | None = None
    workers: int = 0
    save_every: int = 1
    init: str | None = None
    resume: bool = False
    half_weights: bool = True
    max_train: int | None = None
    reviewed_only: bool = False
    unlabelled: str | None = None
    consistency_weight: float = 0.5
    unlabelled_batch: int = 8
    augment: Augment = field(default_factory=Augment)

