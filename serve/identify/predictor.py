"""The Python API the app and the batch command share.

    from serve.identify.predictor import Predictor
    p = Predictor.load("data/models/current")
    r = p.identify("photo.jpg")          # path, bytes or PIL image
    r.decision.kind, r.decision.label, r.top

The path of a photo: safe decode (reduced-scale JPEG decode) -> the bundle's
preprocessing -> ONNX Runtime forward -> temperature softmax and the
out-of-catalogue score -> the bundle's decision rule (`train.decision_rule`, the one
calibration chose its thresholds under).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from species_data.images import DecodedImage, ImageDecodeError, ImageSource
from train import ood
from train.bundle import Bundle
from train.head import softmax
from train.preprocess import load_input
from train.runtime import ModelRunner, Outputs

from serve.identify.decisions import Decision

# Photos per network run in `identify_many`: ONNX Runtime's activations grow with the
# batch (two lanes at 32: ~0.9 GB resident; at 8: ~0.4 GB) while photos/s barely moves.
FORWARD_BATCH = 8


@dataclass(frozen=True)
class Identification:
    name: str  # file name or "uploaded file"
    sha256: str
    decision: Decision
    probabilities: tuple[tuple[str, float], ...]  # every class, most probable first
    ood_score: float
    model_version: str
    original_size: tuple[int, int]

    @property
    def top(self) -> tuple[tuple[str, float], ...]:
        return self.decision.top

    def to_dict(self) -> dict:
        d = self.decision
        return {
            "name": self.name, "sha256": self.sha256, "model_version": self.model_version,
            "decision": d.kind.value, "label": d.label, "group": d.group, "confidence": d.confidence,
            "top": [[label, p] for label, p in d.top], "ood_score": self.ood_score,
            "suspected": list(d.suspected), "protected_probability": d.protected_mass,
        }


@dataclass(frozen=True)
class Failure:
    """A photo that could not be identified, and why (for batch results)."""

    name: str
    reason: str


class Predictor:
    def __init__(self, bundle: Bundle, backend: str = "auto", threads: int | None = None):
        self.bundle = bundle
        meta = bundle.meta
        self.labels = list(meta.labels)
        self.version = meta.version
        self.runner = ModelRunner(bundle, backend, threads)
        reference = bundle.ood_reference()
        # The k-NN bank is float16 on disk; converting it on every photo cost ~30 ms, so
        # it is converted once here (same values, float32 in memory: ~10 MB).
        self.reference = ood.OodReference(reference.centroids, reference.bank.astype(np.float32),
                                          reference.k, reference.extras)
        self.rule = meta.decision_rule()
        self._lock = threading.Lock()  # one forward at a time: ORT already uses every core
        self._lanes: ModelRunner | None = None  # single-thread session for identify_many

    @classmethod
    def load(cls, path: Path | str, backend: str = "auto", threads: int | None = None) -> "Predictor":
        return cls(Bundle.load(path), backend, threads)

    def prepare(self, source: ImageSource, name: str | None = None) -> tuple[np.ndarray, DecodedImage]:
        """Decode and preprocess one photo (raises ImageDecodeError with a readable reason)."""
        return load_input(source, self.bundle.meta.preprocessing, name)

    def forward(self, batch: np.ndarray) -> Outputs:
        with self._lock:
            return self.runner.run(batch)

    def logits_and_feature_map(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, last feature map) for heat maps, on the same session as `forward`."""
        with self._lock:
            return self.runner.logits_and_feature_map(batch)

    def _identifications(self, outputs: Outputs, decoded: Sequence[DecodedImage], names: Sequence[str]):
        meta = self.bundle.meta
        probs = softmax(outputs.logits.astype(np.float64), meta.temperature)
        scores = ood.scores(meta.ood_method, outputs.logits, outputs.features, outputs.imagenet_logits,
                            meta.temperature, self.reference)
        probs = probs / probs.sum(1, keepdims=True)
        results = []
        for row, score, decision, dec, name in zip(probs, scores, self.rule.decisions(probs, scores), decoded, names):
            order = np.argsort(-row, kind="stable")
            results.append(Identification(
                name, dec.sha256, decision, tuple((self.labels[i], float(row[i])) for i in order),
                float(score), self.version, dec.original_size))
        return results

    def identify(self, source: ImageSource, name: str | None = None) -> Identification:
        array, decoded = self.prepare(source, name)
        label = name or (Path(source).name if isinstance(source, (str, Path)) else "uploaded file")
        return self._identifications(self.forward(array[None]), [decoded], [label])[0]

    def _prepare_or_fail(self, name: str, source: ImageSource):
        try:
            return self.prepare(source, name)
        except ImageDecodeError as err:
            return Failure(name, err.reason)

    def _lane_runner(self) -> ModelRunner:
        """A single-thread session for batch work, one lane per core (created on first use)."""
        with self._lock:
            if self._lanes is None:
                self._lanes = ModelRunner(self.bundle, "onnx", threads=1)
            return self._lanes

    def _chunk(self, items, indices: range, forward) -> list[tuple[int, Identification | Failure]]:
        """Decode and identify one batch; unreadable files become Failures."""
        prepared = [(i, self._prepare_or_fail(items[i][0], items[i][1])) for i in indices]
        out = [(i, p) for i, p in prepared if isinstance(p, Failure)]
        good = [(i, p) for i, p in prepared if not isinstance(p, Failure)]
        if good:
            outputs = forward(np.stack([p[0] for _, p in good]))
            found = self._identifications(outputs, [p[1] for _, p in good], [items[i][0] for i, _ in good])
            out += [(i, r) for (i, _), r in zip(good, found)]
        return out

    def identify_many(self, sources: Iterable[tuple[str, ImageSource]], batch_size: int = 16,
                      progress=None, workers: int | None = None) -> list[Identification | Failure]:
        """(name, source) pairs -> one result per input, in order; unreadable files become Failures.

        Photos go through the network at most `min(batch_size, FORWARD_BATCH)` at a time
        (bounded memory). With more than one such batch on the ONNX backend, one lane per
        core (`workers`) decodes its own batch and runs it through a shared single-thread
        session, so the cores never wait on each other and decoding overlaps the other
        lane's forward (bench/batch_throughput.py); otherwise batch after batch on the
        all-core session."""
        items = list(sources)
        results: list[Identification | Failure | None] = [None] * len(items)
        part = max(1, min(batch_size, FORWARD_BATCH))
        chunks = [range(s, min(s + part, len(items))) for s in range(0, len(items), part)]
        lanes = min(workers or os.cpu_count() or 1, len(chunks))
        done = 0
        if lanes <= 1 or self.runner.backend != "onnx":
            for chunk in chunks:
                for i, r in self._chunk(items, chunk, self.forward):
                    results[i] = r
                done += len(chunk)
                if progress is not None:
                    progress(done, len(items))
        else:
            runner = self._lane_runner()
            with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="identify") as pool:
                futures = [pool.submit(self._chunk, items, chunk, runner.run) for chunk in chunks]
                for future in as_completed(futures):
                    chunk_results = future.result()
                    for i, r in chunk_results:
                        results[i] = r
                    done += len(chunk_results)
                    if progress is not None:
                        progress(done, len(items))
        return [r for r in results if r is not None]
