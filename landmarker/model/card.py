"""Weight files and their model cards, without torch.

The shipped model is one model card, ``landmarker/weights/resnet18_ibug68.json``,
shared by two files of the same network: ``resnet18_ibug68.safetensors`` (fp16
weights, for PyTorch: training, fine-tuning, ``--backend torch``) and
``resnet18_ibug68.onnx`` (int8 convolutions, for ONNX Runtime: the default
inference backend, see :mod:`landmarker.model.backends` and the card's ``onnx`` section).
A card is found beside its weights: same stem, ``.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from morphkit.errors import InvalidInput

N_OUTPUTS = 68 * 2
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "resnet18_ibug68.safetensors"
SHIPPED_ONNX = WEIGHTS_DIR / "resnet18_ibug68.onnx"


HEADS = ("direct", "pca")
CROP_SCALE, CROP_SHIFT_Y = 1.6, 0.1  # the crop rule of cards that predate its entry (landmarker.model.crop)


@dataclass
class ModelCard:
    """A model card: what inference needs, checked, plus everything else it records.

    Attributes:
        img_size: side of the square network input in pixels (``input.img_size``).
        crop_scale, crop_shift_y: the crop rule (``crop_rule``; :mod:`landmarker.model.crop`).
        head: ``"direct"`` or ``"pca"``; components: K for ``pca`` (``head``).
        architecture: a one-line description.
        data: the whole card as stored (training recipe, validation, experiments, ``onnx``, ...).
        path: the JSON file it was read from or is saved to.
    """

    img_size: int
    crop_scale: float = CROP_SCALE
    crop_shift_y: float = CROP_SHIFT_Y
    head: str = "direct"
    components: int = 0
    architecture: str = ""
    data: dict = field(default_factory=dict, repr=False)
    path: Path | None = None

    @classmethod
    def from_dict(cls, data: dict, path: Path | None = None) -> ModelCard:
        """Check a card dict and read its inference fields.

        Raises:
            ValueError: a missing or invalid field; the message names the file and the field.
        """
        where = f"{path}: " if path else ""
        try:
            img_size = int(data["input"]["img_size"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(f"{where}model card has no integer input.img_size") from None
        rule = data.get("crop_rule") or {}
        head = data.get("head") or {"type": "direct"}
        try:
            card = cls(img_size, float(rule.get("crop_scale", CROP_SCALE)),
                       float(rule.get("crop_shift_y", CROP_SHIFT_Y)),
                       str(head.get("type", "direct")), int(head.get("components", 0) or 0),
                       str(data.get("architecture", "")), data, path)
        except (TypeError, ValueError, AttributeError) as err:
            raise InvalidInput(f"{where}model card has an invalid crop_rule or head ({err})") from err
        if not 16 <= card.img_size <= 1024:
            raise InvalidInput(f"{where}model card input.img_size {card.img_size} is outside 16..1024")
        if card.head not in HEADS or (card.head == "pca" and not 1 <= card.components <= N_OUTPUTS):
            raise InvalidInput(f"{where}model card head {head!r}: type must be one of {', '.join(HEADS)}, "
                             f"pca with 1..{N_OUTPUTS} components")
        if not (card.crop_scale > 0 and -1 < card.crop_shift_y < 1):
            raise InvalidInput(f"{where}model card crop_rule {rule!r} is out of range")
        return card

    @classmethod
    def load(cls, weights_path: str | os.PathLike) -> ModelCard:
        """The checked card beside a weights file (:func:`card_path`).

        Raises:
            FileNotFoundError: no card beside the weights.
            ValueError: not valid JSON, or an invalid field.
        """
        return cls.from_dict(load_card(weights_path), card_path(weights_path))

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write :attr:`data` as JSON (atomically) to ``path`` or where it was read from; returns the path."""
        from landmarker.io.atomic import atomic_write

        target = Path(path) if path is not None else self.path
        if target is None:
            raise InvalidInput("ModelCard.save needs a path: this card was not read from a file")
        with atomic_write(target) as fh:
            fh.write(json.dumps(self.data, indent=2) + "\n")
        return target


def card_path(weights_path: str | os.PathLike) -> Path:
    """The model card beside a weights file: same stem, ``.json``."""
    return Path(weights_path).with_suffix(".json")


def load_card(weights_path: str | os.PathLike) -> dict:
    """The JSON model card of a weights file.

    Raises:
        FileNotFoundError: no card beside the weights.
        ValueError: the card is not valid JSON.
    """
    path = card_path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model card missing (expected beside {weights_path})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{path}: not valid JSON ({err})") from err
