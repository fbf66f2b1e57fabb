"""What the network sees while fine-tuning.

Training photos go through an albumentations pipeline shaped like the photos an
officer takes at an inspection: any framing (random resized crop to the bundle's
input size, mirror, small rotation / shear), any light (brightness, contrast,
saturation, hue, sometimes grey), camera shake and focus (motion / Gaussian
blur), sensor noise, low resolution and heavy JPEG compression. The pipeline
ends with `train.preprocess.normalise` and the backbone's `Preprocessing`
record, the same normalisation serving uses.

Evaluation photos go through `train.preprocess.load_input`: THE one preprocessing
path (resize, centre crop, normalise), exactly what serving does.

Randomness is a function of (seed, epoch, photo index) only, not of the worker
or the process that draws it: a run is reproducible, resumes exactly, and gives
the same photos under one process or several.
"""
from __future__ import annotations

from typing import Sequence

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from species_data.dataset import Photo
from species_data.images import ImageDecodeError, decode_image

from .preprocess import Preprocessing, load_input, normalise

STRENGTHS = ("light", "strong")
_CV2 = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}


def train_transform(pre: Preprocessing, strength: str = "strong") -> A.Compose:
    """Augmentations ending in an `input_size` square of uint8 pixels (normalised later)."""
    if strength not in STRENGTHS:
        raise ValueError(f"augmentation strength must be one of {', '.join(STRENGTHS)}, got {strength!r}")
    size = (pre.input_size, pre.input_size)
    interp = _CV2[pre.interpolation]
    if strength == "light":
        return A.Compose([
            A.RandomResizedCrop(size=size, scale=(0.5, 1.0), interpolation=interp),
            A.HorizontalFlip(p=0.5),
            A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=0.5),
        ])
    return A.Compose([
        # framing: crop first, so everything after works on input_size pixels
        A.RandomResizedCrop(size=size, scale=(0.3, 1.0), ratio=(3 / 4, 4 / 3), interpolation=interp),
        A.HorizontalFlip(p=0.5),
        A.Affine(rotate=(-15, 15), shear=(-5, 5), scale=(0.9, 1.1), translate_percent=(-0.05, 0.05),
                 interpolation=interp, border_mode=cv2.BORDER_REFLECT_101, p=0.4),
        # light
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.04, p=0.8),
        A.ToGray(p=0.05),
        # camera shake, focus, sensor, resolution, compression
        A.OneOf([A.MotionBlur(blur_limit=(3, 7)), A.GaussianBlur(blur_limit=(3, 5))], p=0.25),
        A.GaussNoise(std_range=(0.02, 0.08), p=0.2),
        A.Downscale(scale_range=(0.35, 0.75), p=0.15),
        A.ImageCompression(quality_range=(30, 95), p=0.5),
    ])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one photo in one epoch."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def augment(pipeline: A.Compose, pixels: np.ndarray, pre: Preprocessing, seed: int) -> np.ndarray:
    """HWC uint8 RGB -> augmented CHW float32 model input."""
    pipeline.set_random_seed(seed)
    return normalise(pipeline(image=pixels)["image"], pre)


class TrainPhotos(Dataset):
    """(augmented input, class index, skip reason) per photo; set `epoch` before each pass.

    A photo that cannot be decoded yields zeros and its reason (its loss weight
    is zero), so batches keep their size and ranks stay in step; usable photos
    have reason ""."""

    def __init__(self, photos: Sequence[Photo], labels: Sequence[str], pre: Preprocessing,
                 strength: str = "strong", seed: int = 0):
        self.photos, self.pre, self.seed = list(photos), pre, seed
        self.targets = [list(labels).index(p.label) for p in self.photos]
        self.pipeline = train_transform(pre, strength)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int):
        try:
            image = decode_image(self.photos[i].path, min_side=self.pre.resize_size).image
        except ImageDecodeError as err:
            return torch.zeros(3, self.pre.input_size, self.pre.input_size), self.targets[i], err.reason
        x = augment(self.pipeline, np.asarray(image), self.pre, sample_seed(self.seed, self.epoch, i))
        return torch.from_numpy(x), self.targets[i], ""


class EvalPhotos(Dataset):
    """(input through the shared preprocessing path, class index or -1, skip reason or "") per photo."""

    def __init__(self, photos: Sequence[Photo], labels: Sequence[str], pre: Preprocessing):
        self.photos, self.pre = list(photos), pre
        index = {label: i for i, label in enumerate(labels)}
        self.targets = [index.get(p.label, -1) for p in self.photos]

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int):
        try:
            x, _ = load_input(self.photos[i].path, self.pre)
        except ImageDecodeError as err:
            return torch.zeros(3, self.pre.input_size, self.pre.input_size), self.targets[i], err.reason
        return torch.from_numpy(x), self.targets[i], ""
