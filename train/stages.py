"""A backbone cut in two at a stage, and a cache of the frozen lower part's output.

Why: a partial fine-tune (`train.partial_finetune`) trains only the top of the network.
The lower stages are frozen, so their output for a given photo and view never changes:
it is computed once (ONNX Runtime, one lane per core), cached by content hash beside the
embeddings, and the top trains from the cache in minutes on two cores instead of hours.
The same pass gives the pooled features of every view (the top, still ImageNet's, run
on the cached activations), which a linear probe fitted on augmented views needs.

What:
* `split_backbone(backbone, frozen)`: `Lower` (stem + `blocks[:frozen]`) and `Upper`
  (`blocks[frozen:]`, the 1x1 head convolution, its norm, global pooling). For
  EfficientNet-Lite0, `frozen = 6` freezes timm's stages 0-5 (the 192-channel stage at
  stride 32 included) and trains stage 6 and the head convolution.
* `activation_cache(...)`: where one view's activations live
  (`data/embeddings/<served cache>-<view>-stage<frozen>/`, float32 (C, H, W) per photo).
* `cache_views(...)`: activations and pooled features of `photos` under `views`, computed
  for what is missing, read from the caches for the rest.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from species_data.dataset import Photo

from .embeddings import EmbeddingCache, embed_photos
from .preprocess import Preprocessing
from .views import View, view_cache

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

FROZEN_STAGES = 6  # lite0: timm stages 0-5 frozen, stage 6 + head convolution trained


def split_backbone(backbone: "torch.nn.Module", frozen: int = FROZEN_STAGES):
    """(Lower, Upper) sharing `backbone`'s modules: Upper(Lower(x)) == backbone(x)."""
    from torch import nn

    if not 0 < frozen < len(backbone.blocks):
        raise ValueError(f"frozen stages must be between 1 and {len(backbone.blocks) - 1} for this backbone, "
                         f"got {frozen}")

    class Lower(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_stem, self.bn1 = backbone.conv_stem, backbone.bn1
            self.blocks = backbone.blocks[:frozen]

        def forward(self, x):
            return self.blocks(self.bn1(self.conv_stem(x)))

    class Upper(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = backbone.blocks[frozen:]
            self.conv_head, self.bn2, self.global_pool = backbone.conv_head, backbone.bn2, backbone.global_pool

        def forward(self, x):
            return self.global_pool(self.bn2(self.conv_head(self.blocks(x))))

    return Lower().eval(), Upper().eval()


def activation_cache(data_dir: Path, arch: str, pre: Preprocessing, view: View,
                     frozen: int = FROZEN_STAGES) -> EmbeddingCache:
    served = view_cache(data_dir, arch, pre, View())
    tag = f"-{view.tag}" if view.tag else ""
    return EmbeddingCache(served.root.with_name(f"{served.root.name}{tag}-stage{frozen}"))


@dataclass
class ViewSet:
    """Activations and pooled features of kept photos under each view (rows in photo order)."""

    photos: list[Photo]
    views: tuple[View, ...]
    activations: list[np.ndarray] | None  # per view (n, C, H, W); None when only features were asked
    features: list[np.ndarray]  # per view (n, d)


def cache_views(photos: Sequence[Photo], views: Sequence[View], arch: str, pre: Preprocessing, data_dir: Path,
                frozen: int = FROZEN_STAGES, with_activations: bool = True, batch_size: int = 32,
                progress: bool = True) -> ViewSet:
    """Lower-part activations (cached per view) and pooled features (cached per view, as
    `train.views.view_cache`) of `photos`; photos that fail to decode in any view are dropped."""
    photos = list(photos)
    parts: list = []

    def lower():
        if not parts:
            from .model import SpeciesClassifier

            network = SpeciesClassifier.from_installed_weights(arch, 1)
            parts.extend(split_backbone(network.backbone, frozen))
        return parts[0]

    acts, feats, keep = [], [], set(p.sha256 for p in photos)
    for view in views:
        f_cache = view_cache(data_dir, arch, pre, view)
        missing = [p for p in photos if f_cache.get(p.sha256) is None]
        need_acts = with_activations or missing
        a_by_sha: dict[str, np.ndarray] = {}
        if need_acts:
            a, kept, _ = embed_photos(photos, lower, pre, activation_cache(data_dir, arch, pre, view, frozen),
                                      batch_size, progress=progress, loader=view.loader())
            a_by_sha = {p.sha256: row for p, row in zip(kept, a)}
            keep &= set(a_by_sha)
        if missing:
            lower()  # builds both parts
            _pool_into(f_cache, [p for p in missing if p.sha256 in a_by_sha], a_by_sha, parts[1], batch_size)
        acts.append(a_by_sha)
        feats.append({p.sha256: f_cache.get(p.sha256) for p in photos if p.sha256 in keep})
    kept_photos = [p for p in photos if p.sha256 in keep]
    features = [np.stack([f[p.sha256] for p in kept_photos]) for f in feats]
    activations = [np.stack([a[p.sha256] for p in kept_photos]) for a in acts] if with_activations else None
    return ViewSet(kept_photos, tuple(views), activations, features)


def _pool_into(cache: EmbeddingCache, photos: list[Photo], acts: dict[str, np.ndarray], upper, batch_size: int):
    """Pooled features of cached activations through the (ImageNet) top, stored in `cache`."""
    import torch

    with torch.inference_mode():
        for start in range(0, len(photos), batch_size):
            chunk = photos[start:start + batch_size]
            x = torch.from_numpy(np.stack([acts[p.sha256] for p in chunk]))
            for p, vec in zip(chunk, upper(x).float().numpy()):
                cache.put(p.sha256, vec)
