"""Partial fine-tune from cached activations: the top of the backbone and the head learn
on two cores in minutes (issue 16 item 5).

Why: a full fine-tune costs hours on this CPU and lost to the linear probe (ft1, ft2).
The lower stages are kept frozen, so their output is computed once per photo and view
and cached (`train.stages`); only stage 6, the head convolution and the species head
train, from the caches. It will not beat the probe on today's photos, but it is cheap
enough to re-run whenever trainers and confirmed seizures add photos, and the
background job (`train.partial_job`) publishes it only when it wins.

The recipe (`PartialRecipe`, from the issue's trials): freeze through timm stage 5,
K = 6 light augmented views per photo besides the served one, no label smoothing,
AdamW at 3e-5 for the backbone top and 3e-4 for the head (linear warm-up, cosine),
square-root class balancing, BatchNorm statistics frozen; the head starts from a
linear probe fitted on the pooled features of every view (LP-FT); at most 2 epochs, each
showing every training photo once in one of its views drawn at random; the epoch kept
is the one with the lowest temperature-scaled NLL on the validation photos.

Story: `train_top` (one training), `cross_validate` (out-of-fold logits and the
k-NN out-of-catalogue scores under each fold's network, for `train.protocol`), and
`PartialModel` (the trained network put back together, its features of any photo
from the caches).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import ood
from .calibrate import Split3
from .crossval import HeadRecipe
from .every_photo import Fold
from .fit import outputs_from_features
from .head import fit_temperature
from .recipe import lr_factor
from .stages import FROZEN_STAGES, split_backbone

log = logging.getLogger(__name__)

EVAL_BATCH = 256
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class PartialRecipe:
    frozen: int = FROZEN_STAGES
    views: int = 6  # augmented views per photo, besides the served one
    strength: str = "light"
    epochs: int = 2
    lr_backbone: float = 3e-5
    lr_head: float = 3e-4
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps
    batch_size: int = 64
    label_smoothing: float = 0.0
    probe: HeadRecipe = HeadRecipe(l2=1e-2)
    seed: int = 0


@dataclass
class TopFit:
    state: dict  # state dict of the trained top + head (`PartialModel.load`)
    epoch: int  # the epoch kept (1-based; 0 = the probe alone was best)
    temperature: float  # on the validation photos, at that epoch
    history: list[dict] = field(default_factory=list)
    probe: tuple | None = None  # the starting probe's standardised weights (to start the next fit from)


class PartialModel:
    """An ImageNet network whose top (from `frozen`) and species head are trained here.
    `lower`/`upper` share the network's modules: loading a state changes `network`."""

    def __init__(self, arch: str, classes: int, frozen: int = FROZEN_STAGES):
        import torch

        from .model import SpeciesClassifier

        self.network = SpeciesClassifier.from_installed_weights(arch, classes)
        self.lower, self.upper = split_backbone(self.network.backbone, frozen)
        self.initial = self.state()
        self._torch = torch

    def trainable(self) -> list:
        return list(self.upper.parameters()) + list(self.network.head.parameters())

    def state(self) -> dict:
        return {k: v.detach().clone() for k, v in (*(("upper." + n, p) for n, p in self.upper.state_dict().items()),
                                                  *(("head." + n, p) for n, p in self.network.head.state_dict().items()))}

    def load(self, state: dict) -> None:
        self.upper.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("upper.")})
        self.network.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})

    def set_head(self, weight: np.ndarray, bias: np.ndarray) -> None:
        with self._torch.no_grad():
            self.network.head.weight.copy_(self._torch.from_numpy(np.asarray(weight, np.float32)))
            self.network.head.bias.copy_(self._torch.from_numpy(np.asarray(bias, np.float32)))

    def features(self, acts: np.ndarray) -> np.ndarray:
        """Pooled features of cached lower-stage activations (n, C, H, W) -> (n, d)."""
        torch = self._torch
        self.upper.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(acts), EVAL_BATCH):
                out.append(self.upper(torch.from_numpy(np.ascontiguousarray(acts[start:start + EVAL_BATCH]))).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.network.head.in_features), np.float32)

    def logits(self, feats: np.ndarray) -> np.ndarray:
        w = self.network.head.weight.detach().numpy()
        return feats @ w.T + self.network.head.bias.detach().numpy()

    def outputs(self, feats: np.ndarray, y: np.ndarray | None = None) -> Split3:
        """What the whole network outputs for photos with these (top) features."""
        return outputs_from_features(self.network, feats, y)

    def outputs_of(self, acts: np.ndarray) -> Split3 | None:
        return None if acts is None or not len(acts) else self.outputs(self.features(acts))


def _train_mode(module) -> None:
    """Training mode with BatchNorm statistics frozen (as `train.finetune`)."""
    import torch

    module.train()
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def per_class_weights(y: np.ndarray, classes: int) -> np.ndarray:
    """Square-root class balancing as the head's (`train.head.class_weights`), per class."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    per_class = np.where(counts > 0, counts, 1.0) ** -0.5
    return (per_class / per_class[y].mean()).astype(np.float32)


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    z = z - z.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))


def train_top(model: PartialModel, acts: Sequence[np.ndarray], feats: Sequence[np.ndarray], y: np.ndarray,
              train_idx: np.ndarray, val_idx: np.ndarray, recipe: PartialRecipe = PartialRecipe(),
              progress: Progress | None = None, desc: str = "partial fine-tune", probe_start=None) -> TopFit:
    """Train `model`'s top and head from its initial state on `train_idx` photos; keep the
    epoch with the lowest temperature-scaled NLL on `val_idx` (served view: `acts[0]`), or,
    with no validation photos, the last epoch (`recipe.epochs` chosen beforehand).
    `acts`/`feats`: per view, activations below the cut and ImageNet pooled features.
    `probe_start`: standardised weights to start the probe's fit from (another fold's probe:
    the probe is a strictly convex fit with one optimum, so the start changes how long the
    fit takes, 2 s instead of 12 s of CPU here, not where it ends, within the fit's tolerance)."""
    import torch
    import torch.nn.functional as F

    model.load(model.initial)
    classes = model.network.head.out_features
    views = len(acts)
    probe = recipe.probe.fit(np.concatenate([f[train_idx] for f in feats]), np.tile(y[train_idx], views), classes,
                             init=probe_start)
    model.set_head(probe.weight, probe.bias)

    def validate(epoch: int) -> dict:
        if not len(val_idx):  # nothing to choose on: the later epoch wins
            return {"epoch": epoch, "val_nll_t": -float(epoch), "temperature": float("nan"), "val_acc": float("nan")}
        logits = model.logits(model.features(acts[0][val_idx]))
        t = fit_temperature(logits, y[val_idx])
        return {"epoch": epoch, "val_nll_t": round(_nll(logits, y[val_idx], t), 5), "temperature": round(t, 4),
                "val_acc": round(float(np.mean(logits.argmax(1) == y[val_idx])), 4)}

    best = TopFit(model.state(), 0, 1.0, [validate(0)], (probe.std_weight, probe.std_bias))
    best.temperature = best.history[0]["temperature"]
    groups = [{"params": list(model.upper.parameters()), "lr": recipe.lr_backbone},
              {"params": list(model.network.head.parameters()), "lr": recipe.lr_head}]
    optimizer = torch.optim.AdamW(groups, weight_decay=recipe.weight_decay, fused=True)  # one kernel per step
    steps_per_epoch = max(1, len(train_idx) // recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    warmup = max(1, int(recipe.warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
    weight_of = torch.from_numpy(per_class_weights(y[train_idx], classes))
    rng = np.random.default_rng(recipe.seed)
    step = 0
    for epoch in range(1, recipe.epochs + 1):
        _train_mode(model.upper)
        order = rng.permutation(train_idx)
        which = rng.integers(0, views, len(order))
        for b in range(steps_per_epoch):
            rows = slice(b * recipe.batch_size, (b + 1) * recipe.batch_size)
            x = torch.from_numpy(np.stack([acts[v][i] for v, i in zip(which[rows], order[rows])]))
            target = torch.from_numpy(y[order[rows]])
            logits = model.network.head(model.upper(x))
            ce = F.cross_entropy(logits, target, reduction="none", label_smoothing=recipe.label_smoothing)
            loss = (ce * weight_of[target]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if progress:
                progress(desc, step, total)
        record = validate(epoch)
        best.history.append(record)
        log.info("%s: %s", desc, record)
        if record["val_nll_t"] < min(h["val_nll_t"] for h in best.history[:-1]):
            best.state, best.epoch, best.temperature = model.state(), epoch, record["temperature"]
    model.load(best.state)
    return best


def inner_validation(shas: Sequence[str], train_idx: np.ndarray, share: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) rows of a fold's training photos: the validation share picked by
    content hash (`species_data.dataset.split_of`'s idea), so it is stable and no fold's
    test photo chooses its own epoch."""
    u = np.array([int(shas[i][16:32], 16) / 16**16 for i in train_idx])
    return train_idx[u >= share], train_idx[u < share]


def cross_validate(model: PartialModel, acts: Sequence[np.ndarray], feats: Sequence[np.ndarray], y: np.ndarray,
                   shas: Sequence[str], folds: np.ndarray, ood_tune: np.ndarray, ood_report: np.ndarray,
                   recipe: PartialRecipe = PartialRecipe(),
                   progress: Progress | None = None) -> tuple[list[Fold], list[TopFit]]:
    """Train once per fold on the other folds and answer for it (`train.every_photo.Fold`:
    the fold's network on its photos and on the out-of-catalogue photos' activations
    `ood_tune`/`ood_report`, with the out-of-catalogue reference of its training photos)."""
    classes = model.network.head.out_features
    out, fits = [], []
    for fold in range(int(folds.max()) + 1):
        train_idx, val_idx = inner_validation(shas, np.nonzero(folds != fold)[0])
        fits.append(train_top(model, acts, feats, y, train_idx, val_idx, recipe, progress,
                              f"fold {fold + 1}/{int(folds.max()) + 1}", fits[-1].probe if fits else None))
        f_all = model.features(acts[0])
        test = folds == fold
        out.append(Fold(np.nonzero(test)[0], model.outputs(f_all[test], y[test]), model.outputs_of(ood_tune),
                        model.outputs_of(ood_report), ood.OodReference.fit(f_all[~test], y[~test], classes)))
    return out, fits


@dataclass
class PartialRun:
    """Everything the background job needs: the out-of-fold answers and the final network."""

    model: PartialModel
    folds: list[Fold]
    fits: list[TopFit]
    final: TopFit
    features: np.ndarray  # (n, d) every photo under the final network (served view)
    seconds: dict[str, float]


def chosen_epochs(fits: Sequence[TopFit]) -> int:
    """The epoch count the folds chose most often (ties: the longer)."""
    counts = np.bincount([f.epoch for f in fits])
    return int(np.flatnonzero(counts == counts.max()).max())


def run(model: PartialModel, acts: Sequence[np.ndarray], feats: Sequence[np.ndarray], y: np.ndarray,
        shas: Sequence[str], folds: np.ndarray, ood_tune: np.ndarray, ood_report: np.ndarray,
        recipe: PartialRecipe = PartialRecipe(), progress: Progress | None = None) -> PartialRun:
    """Cross-validate (for the protocol and the out-of-fold calibration), then train the
    published network on every photo for the epochs the folds chose."""
    import time
    from dataclasses import replace

    t0 = time.perf_counter()
    fold_list, fits = cross_validate(model, acts, feats, y, shas, folds, ood_tune, ood_report, recipe, progress)
    t1 = time.perf_counter()
    final = train_top(model, acts, feats, y, np.arange(len(y)), np.zeros(0, np.int64),
                      replace(recipe, epochs=chosen_epochs(fits)), progress, "final", fits[-1].probe)
    features = model.features(acts[0])
    t2 = time.perf_counter()
    return PartialRun(model, fold_list, fits, final, features,
                      {"cross_validation": round(t1 - t0, 1), "final": round(t2 - t1, 1)})
