"""Weight files and their model cards, without torch.

The shipped model is one model card, ``landmarker/weights/resnet18_ytf68.json``,
shared by two files of the same network: ``resnet18_ytf68.safetensors`` (fp16
weights, for PyTorch: training, fine-tuning, ``--backend torch``) and
``resnet18_ytf68.onnx`` (int8 convolutions, for ONNX Runtime: the default
inference backend, see :mod:`landmarker.backends` and the card's ``onnx`` section).
A card is found beside its weights: same stem, ``.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

N_OUTPUTS = 68 * 2
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "resnet18_ytf68.safetensors"
SHIPPED_ONNX = WEIGHTS_DIR / "resnet18_ytf68.onnx"


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
        raise ValueError(f"{path}: not valid JSON ({err})") from None
