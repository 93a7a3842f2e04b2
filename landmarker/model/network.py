"""The landmark network and its weight files.

A torchvision ResNet18 (He et al., "Deep Residual Learning for Image Recognition",
CVPR 2016) with a 1-channel ``conv1`` for grayscale crops and a 136-output ``fc``
regressing the 68 ``(x, y)`` targets (offsets from the crop centre over the crop
side, see :mod:`landmarker.model.crop`).

Weights are stored as safetensors (no pickle) with a JSON model card beside them
(``<stem>.json``), which holds everything needed to crop and normalise the input.

Two heads: ``direct`` (``fc`` 512 -> 136, plain regression) and ``pca`` (the shape
layer of ShapeNet, Kopaczka, Schock and Merhof, "Super-realtime facial landmark
detection and shape fitting by deep regression of shape model parameters",
arXiv 1902.03459): ``fc`` predicts K PCA scores of the training shapes and a fixed
layer adds ``mean + sum(score_k * sqrt(variance_k) * eigenvector_k)``, so every
output is a plausible shape. Both give the same 136 outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torchvision.models import resnet18

from landmarker.io.atomic import atomic_path, atomic_write
from landmarker.model.card import HEADS, N_OUTPUTS, SHIPPED_WEIGHTS, ModelCard, card_path, load_card
from morphkit.errors import InvalidInput

__all__ = ["N_OUTPUTS", "SHIPPED_WEIGHTS", "HEADS", "PCAShapeHead", "build_model", "model_from_card",
           "adapt_state_dict", "card_path", "save_weights", "load_card", "load_model"]




class PCAShapeHead(nn.Module):
    """Shape-model head: 512 features -> K scores -> 136 shape targets.

    ``out = mean + scores @ basis`` with ``basis`` the K eigenvectors scaled by their
    standard deviations, so scores are about unit variance. ``mean`` ``(136,)`` and
    ``basis`` ``(K, 136)`` are fixed buffers (saved with the weights); only the
    linear layer to the scores is trained. It starts at zero, i.e. at the mean shape.
    """

    def __init__(self, in_features: int, components: int):
        super().__init__()
        self.scores = nn.Linear(in_features, components)
        nn.init.zeros_(self.scores.weight)
        nn.init.zeros_(self.scores.bias)
        self.register_buffer("mean", torch.zeros(N_OUTPUTS))
        self.register_buffer("basis", torch.zeros(components, N_OUTPUTS))

    def set_shape_model(self, mean: torch.Tensor, basis: torch.Tensor) -> None:
        """Install the PCA mean ``(136,)`` and scaled eigenvectors ``(K, 136)``."""
        self.mean.copy_(mean)
        self.basis.copy_(basis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean + self.scores(x) @ self.basis


def build_model(head: str = "direct", pca_components: int = 0) -> nn.Module:
    """ResNet18 with ``conv1`` taking 1 channel and a head giving 136 outputs (random init).

    Args:
        head: ``"direct"`` (``fc`` 512 -> 136) or ``"pca"`` (:class:`PCAShapeHead`).
        pca_components: K, for ``head="pca"``.

    Raises:
        ValueError: unknown head or K < 1 for the PCA head.
    """
    model = resnet18(weights=None, num_classes=N_OUTPUTS)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    if head == "pca":
        if pca_components < 1 or pca_components > N_OUTPUTS:
            raise InvalidInput(f"--pca-components must be 1..{N_OUTPUTS}, got {pca_components}")
        model.fc = PCAShapeHead(model.fc.in_features, pca_components)
    elif head != "direct":
        raise InvalidInput(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    return model


def model_from_card(card) -> nn.Module:
    """:func:`build_model` with the head of a model card (:class:`~landmarker.model.card.ModelCard` or its dict)."""
    card = card if isinstance(card, ModelCard) else ModelCard.from_dict(card)
    return build_model(card.head, card.components)


def adapt_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Make a ResNet18 state dict fit :func:`build_model`.

    A 3-channel ``conv1.weight`` ``(64, 3, 7, 7)`` (e.g. ImageNet weights) is summed
    over its input channels to ``(64, 1, 7, 7)``: a gray image ``g`` repeated in
    three channels gives the same response, since ``sum_c w_c * g = (sum_c w_c) * g``.
    An ``fc`` of another size is dropped so the new head starts fresh.
    """
    state = dict(state)
    w = state.get("conv1.weight")
    if w is not None and w.shape[1] == 3:
        state["conv1.weight"] = w.sum(dim=1, keepdim=True)
    if "fc.weight" in state and state["fc.weight"].shape[0] != N_OUTPUTS:
        state.pop("fc.weight")
        state.pop("fc.bias", None)
    return state


def save_weights(model: nn.Module, path: str | os.PathLike, card: dict, half: bool = False) -> None:
    """Write ``model``'s state dict as safetensors (fp16 with ``half``) and ``card`` as JSON beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    with atomic_write(card_path(path)) as fh:
        fh.write(json.dumps(card, indent=2) + "\n")


def load_model(weights_path: str | os.PathLike | None = None) -> tuple[nn.Module, dict]:
    """Load weights (default: the shipped ones) into a fresh network in eval mode, fp32.

    Returns:
        ``(model, card)``.

    Raises:
        FileNotFoundError: the weights or their card are missing.
        ValueError: the file is not safetensors or does not fit the network.
    """
    path = Path(weights_path) if weights_path is not None else SHIPPED_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    card = load_card(path)
    try:
        state = load_file(str(path))
    except Exception as err:
        raise InvalidInput(f"{path}: not a safetensors weights file ({err})") from err
    model = model_from_card(card)
    try:
        model.load_state_dict({k: v.float() for k, v in adapt_state_dict(state).items()})
    except RuntimeError as err:
        raise InvalidInput(f"{path}: weights do not fit ResNet18-68: {str(err).splitlines()[0]}") from err
    model.eval()
    return model, card
