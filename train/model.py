"""The classifier: a pretrained timm backbone, our species head, and the ImageNet head.

Both heads are linear maps of the same pooled features, so one forward pass
gives species logits, features (for distance-based out-of-catalogue scores and
the embedding cache) and the ImageNet logits (an out-of-catalogue signal).
"""
from __future__ import annotations

import torch
from torch import nn

from .backbone import convert_efficientnet_pytorch, spec


class SpeciesClassifier(nn.Module):
    def __init__(self, arch: str, num_classes: int):
        super().__init__()
        self.arch = arch
        import timm  # here, not at the top: a re-fit from stored parts never builds a network

        self.backbone = timm.create_model(arch, pretrained=False, num_classes=0)
        width = self.backbone.num_features
        self.head = nn.Linear(width, num_classes)
        self.imagenet_head = nn.Linear(width, 1000)

    @classmethod
    def from_installed_weights(cls, arch: str, num_classes: int) -> "SpeciesClassifier":
        """Backbone and ImageNet head from the installed weight package; species head zero."""
        import timm

        model = cls(arch, num_classes)
        full = timm.create_model(arch, pretrained=False)
        state = torch.load(spec(arch).weights_file(), map_location="cpu", weights_only=True)
        state = convert_efficientnet_pytorch(state, full)
        head = {k.split(".", 1)[1]: state.pop(k) for k in [k for k in state if k.startswith("classifier.")]}
        model.backbone.load_state_dict(state, strict=True)
        model.imagenet_head.load_state_dict(head, strict=True)
        nn.init.zeros_(model.head.weight)
        nn.init.zeros_(model.head.bias)
        return model.eval()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(species logits, pooled features, ImageNet logits) — what serving exports."""
        feats = self.backbone(x)
        return self.head(feats), feats, self.imagenet_head(feats)


class ExportWrapper(nn.Module):
    """forward() returning all three outputs, for ONNX export."""

    def __init__(self, model: SpeciesClassifier):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):  # noqa: D401
        return self.model.forward_all(x)

