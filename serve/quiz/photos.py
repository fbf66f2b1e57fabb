"""Where the quiz's photos and distractor statistics come from (used by `quiz_service`).

    photos = scan_photos(roots, catalogue, model, stored, photo_store, data_dir)
    photos.by_class["tiger"] -> [photo ids];  photos.paths[photo_id] -> file
    confusion_rates(model)   -> {(true, predicted): rate} from the bundle's validation set

Photo ids are the SHA-256 of the bytes (from the bundle manifest when it lists the
file, else hashed): stable across restarts and opaque to the browser.

Screening: folder photos unlike their class are left out. When the model's cached
embeddings exist (data/embeddings), a photo whose cosine similarity to its class
centroid (the bundle's out-of-catalogue reference) is under `SCREEN_REL` x the class
median is not asked (a river gorge filed under "tiger", a cartoon panda), as in the
trainer's label-noise review (train/label_noise.py). The most similar photo is the
class's example photo. Photos in the photo store were added by trainers: kept as is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from species_data.images import IMAGE_EXTENSIONS, content_hash

SCREEN_REL = 0.55  # keep photos at least this share of their class's median similarity
SCREEN_MIN = 3  # screen a class only when this many of its photos have embeddings


@dataclass
class QuizPhotos:
    paths: dict[str, Path] = field(default_factory=dict)  # photo id -> file
    by_class: dict[str, list[str]] = field(default_factory=dict)  # what the quiz may ask
    typical: dict[str, str] = field(default_factory=dict)  # class id -> most typical photo id
    screened_out: dict[str, list[str]] = field(default_factory=dict)  # class id -> photo ids

    def add(self, class_id: str, sha: str, path: Path, owner: dict[str, str]) -> None:
        if owner.setdefault(sha, class_id) != class_id or sha in self.paths:
            return  # the same photo twice, or under two classes: keep the first
        self.paths[sha] = path
        self.by_class.setdefault(class_id, []).append(sha)


def scan_photos(roots: Iterable[Path], catalogue, model, stored, photo_store,
                data_dir: Path) -> QuizPhotos:
    """Folder photos (<root>/<class_id>/<image>, catalogue ids only), screened, then the
    photo store's photos (`stored`: PhotoRecords)."""
    known = manifest_hashes(model)
    found, owner = QuizPhotos(), {}
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if class_dir.name not in catalogue:
                continue
            for path in sorted(class_dir.iterdir()):
                if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                    sha = known.get((class_dir.name, path.name)) or content_hash(path.read_bytes())
                    found.add(class_dir.name, sha, path, owner)
    screen(found, model, embedding_cache(data_dir, model))
    for rec in stored:
        path = photo_store.find(rec.sha256)
        if path is not None and rec.class_id in catalogue:
            found.add(rec.class_id, rec.sha256, path, owner)
    return found


def screen(found: QuizPhotos, model, embeddings) -> None:
    """Drop photos unlike their class; note each class's most typical photo."""
    if embeddings is None:
        return
    labels = list(model.labels)
    for class_id, ids in found.by_class.items():
        if class_id not in labels:
            continue
        centroid = np.asarray(model.reference.centroids[labels.index(class_id)], np.float64)
        sims = {}
        for pid in ids:
            v = embeddings.get(pid)
            if v is not None:
                v = np.asarray(v, np.float64)
                sims[pid] = float(v @ centroid / (np.linalg.norm(v) + 1e-12))
        if len(sims) < SCREEN_MIN:
            continue
        cutoff = SCREEN_REL * float(np.median(list(sims.values())))
        out = [pid for pid, sim in sims.items() if sim < cutoff]
        found.by_class[class_id] = [pid for pid in ids if pid not in out]
        found.screened_out[class_id] = out  # still in `paths`: a resumed quiz finds them
        found.typical[class_id] = max(sims, key=sims.get)


def embedding_cache(data_dir: Path, model):
    """The model backbone's embedding cache under data_dir, or None if there is none."""
    meta = getattr(getattr(model, "bundle", None), "meta", None)
    if meta is None or getattr(model, "reference", None) is None:
        return None
    if not (Path(data_dir) / "embeddings").is_dir():
        return None
    from train.embeddings import EmbeddingCache

    try:
        cache = EmbeddingCache.for_backbone(data_dir, meta.arch, meta.preprocessing)
    except (KeyError, ValueError, OSError):  # an architecture without a known weight file
        return None
    return cache if cache.root.is_dir() else None


def manifest_hashes(model) -> dict[tuple[str, str], str]:
    """(label, file name) -> content hash from the model bundle's manifest (saves hashing)."""
    bundle = getattr(model, "bundle", None)
    if bundle is None:
        return {}
    try:
        rows = bundle.manifest()
    except (OSError, ValueError):
        return {}
    return {(r["label"], Path(r["path"]).name): r["sha256"] for r in rows
            if "label" in r and "path" in r and "sha256" in r}


def confusion_rates(model) -> dict[tuple[str, str], float]:
    """Row-normalised validation confusion rates of the published model ({} if none)."""
    meta = getattr(getattr(model, "bundle", None), "meta", None)
    if meta is None:
        return {}
    matrix = meta.metrics.val.confusion
    labels: Sequence[str] = meta.labels
    if not matrix or len(matrix) != len(labels):
        return {}
    rates = {}
    for i, row in enumerate(matrix):
        total = sum(row)
        for j, n in enumerate(row):
            if i != j and n and total:
                rates[(labels[i], labels[j])] = n / total
    return rates
