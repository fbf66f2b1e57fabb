"""`python -m train fit --mode finetune`: the whole network learns the catalogue.

Read top to bottom: config, data, model, checkpoint, loop, evaluation; then the ending every mode shares (calibrate on validation,
out-of-catalogue reference from train features, metrics, `finish_bundle`).
The same file runs alone or as N processes under
`torchrun --nproc_per_node=N -m train fit --mode finetune ...` (train.distributed).

The recipe keeps what ImageNet pre-training learnt, as the photo sets are small:
- LP-FT (Kumar et al., 2022): the species head starts as head mode's linear probe
  on cached embeddings, so early steps do not push a random head's gradients
  into the backbone;
- layer-wise learning-rate decay (train.recipe, with the schedule and the precision
  choice): the head at `lr`, the last backbone stage at `lr * backbone_lr_scale`, every
  stage below `layer_decay` times less;
- AdamW (no decay on biases and norms), linear warm-up then cosine, label
  smoothing, square-root class balancing (as head mode), gradient clipping;
- BatchNorm statistics frozen (running means/variances stay ImageNet's, the
  affine parameters train): a few photos per process give noisy statistics,
  and frozen statistics make N processes compute exactly what one process
  computes on the same global batch, so no SyncBatchNorm is needed;
- phone-photo augmentation (train.augment); evaluation uses train.preprocess;
- early stopping on validation loss (plain NLL); the best weights are kept;
- bf16 autocast on GPUs that have it (fp16 + GradScaler otherwise); channels-last memory
  everywhere (on CPU it sends the convolutions through oneDNN: about 2x faster training);
- a checkpoint after every epoch and at the step limit,
  data/checkpoints/<run>/last.pt; `--resume` continues at the saved step.
"""
from __future__ import annotations

import logging
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from species_data.dataset import Photo, PhotoSet, Split, scan

from . import distributed as dist
from .augment import EvalPhotos, TrainPhotos
from .bundle import Bundle, BundleMeta
from .embeddings import EmbeddingCache, cache_key, embed_photos
from .bundle_meta import Training
from .config import TrainingConfig, TrainingMode
from .fit import calibrate_and_measure, class_groups, photo_sides, finish_bundle, ood_photos, preprocessing_for
from .head import class_weights, fit_head
from .model import SpeciesClassifier
from .preprocess import Preprocessing
from .snapshot import CatalogueSnapshot, catalogue_snapshot
from .recipe import MIN_LR_RATIO, autocast_dtype, lr_factor, param_groups

log = logging.getLogger(__name__)

# ---- config (the rest is TrainingConfig: epochs, lr, backbone_lr_scale, layer_decay, ...) ----
GRAD_CLIP = 1.0  # max global gradient norm
MIN_IMPROVEMENT = 1e-4  # validation loss must drop by this much to count as better


# ---- data ----
@dataclass
class Data:
    photo_set: PhotoSet
    labels: list[str]
    catalogue: CatalogueSnapshot
    pre: Preprocessing
    train: list[Photo]
    val: list[Photo]


def load_data(cfg: TrainingConfig) -> Data:
    photo_set = scan(cfg.data, cfg.classes)
    labels = list(photo_set.labels)
    snapshot = catalogue_snapshot(labels, cfg.catalogue_dirs)
    pre = preprocessing_for(cfg)
    train, val = list(photo_set.of(Split.TRAIN)), list(photo_set.of(Split.VAL))
    if len(train) < cfg.batch_size or not val:
        raise ValueError(f"{len(train)} train and {len(val)} validation photos; fine-tuning needs at least "
                         f"--batch-size ({cfg.batch_size}) train photos and one validation photo: add photos "
                         "or lower --batch-size")
    return Data(photo_set, labels, snapshot, pre, train, val)


def checkpoint_dir(cfg: TrainingConfig) -> Path:
    return Path(cfg.data_dir) / "checkpoints" / Path(cfg.out).name


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---- model ----
def linear_probe(cfg: TrainingConfig, data: Data, model: SpeciesClassifier) -> dict:
    """LP-FT's first stage: head mode's linear head on cached embeddings, copied into the model."""
    cache = EmbeddingCache(Path(cfg.data_dir) / "embeddings" / cache_key(cfg.arch, data.pre))
    feats, kept, _ = embed_photos(data.train + data.val, model.backbone, data.pre, cache, cfg.batch_size,
                                  cfg.workers, cfg.progress)
    y = np.array([data.labels.index(p.label) for p in kept])
    tr = np.array([p.split is Split.TRAIN for p in kept])
    head = fit_head(feats[tr], y[tr], feats[~tr], y[~tr], len(data.labels))
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(head.weight))
        model.head.bias.copy_(torch.from_numpy(head.bias))
    return {"l2": head.l2, "val_nll": round(head.val_nll, 4)}


def set_train_mode(model: torch.nn.Module) -> None:
    """Training mode with BatchNorm statistics frozen (see the module docstring)."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


# ---- checkpoint ----
@dataclass
class Progress:
    epoch: int = 0  # the epoch in progress
    step: int = 0  # optimiser steps done in the whole run
    step_in_epoch: int = 0
    best_loss: float = math.inf
    best_step: int = -1
    bad_epochs: int = 0
    stopped: str = ""  # why training ended, once it has
    history: list[dict] = field(default_factory=list)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: Path, cfg: TrainingConfig, data: Data) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}; run without --resume to start this run "
                                "(checkpoints are kept per --out name under --data-dir/checkpoints)")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)  # our own file: holds RNG states
    want = {"arch": cfg.arch, "labels": data.labels, "input_size": data.pre.input_size,
            "batch_size": cfg.batch_size}
    for key, value in want.items():
        if ckpt[key] != value:
            raise ValueError(f"--resume: {path} was trained with {key}={ckpt[key]!r}, this run has {value!r}; "
                             "resume with the same settings or start afresh without --resume")
    return ckpt


# ---- loop ----
@dataclass
class Trained:
    model: SpeciesClassifier | None  # best weights, on CPU (rank 0 only)
    last_state: dict  # this rank's final weights (tests compare ranks)
    progress: Progress
    probe: dict
    images_per_s: float
    seconds: float
    amp: str


def train(cfg: TrainingConfig, data: Data, ctx: dist.Context) -> Trained:
    seed_everything(cfg.seed)
    folder = checkpoint_dir(cfg)
    ckpt = load_checkpoint(folder / "last.pt", cfg, data) if cfg.resume else None
    if ckpt is None and ctx.is_main and folder.exists():
        log.warning("starting %s afresh (pass --resume to continue it instead)", folder)
        shutil.rmtree(folder)  # a fresh run must not inherit an old run's best weights
    dist.barrier(ctx)

    model = SpeciesClassifier.from_installed_weights(cfg.arch, len(data.labels))
    model.imagenet_head.requires_grad_(False)  # kept as trained on ImageNet: an out-of-catalogue signal
    probe = linear_probe(cfg, data, model) if cfg.lp_ft and ckpt is None and ctx.is_main else {}
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
    dtype = autocast_dtype(cfg.amp, ctx.device)
    cuda = ctx.device.type == "cuda"
    model.to(ctx.device, memory_format=torch.channels_last)
    net = dist.wrap(model, ctx)  # DDP copies rank 0's weights (with the probe head) to every rank

    optimizer = torch.optim.AdamW(param_groups(model, cfg), betas=(0.9, 0.999))
    local = dist.local_batch(cfg.batch_size, ctx)
    train_set = TrainPhotos(data.train, data.labels, data.pre, cfg.augment, cfg.seed)
    steps_per_epoch = len(dist.train_sampler(train_set, ctx, cfg.seed, 0)) // local
    total = cfg.epochs * steps_per_epoch
    warmup = min(max(1, round(cfg.warmup_epochs * steps_per_epoch)), total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=dtype is torch.float16)
    progress = Progress()
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        progress = Progress(**ckpt["progress"])
        set_rng_state(ckpt["rng"])
        log.info("resuming %s at epoch %d, step %d", folder, progress.epoch, progress.step)
    targets = np.array(train_set.targets)
    per_class = np.ones(len(data.labels))
    per_class[targets] = class_weights(targets, len(data.labels))  # square-root balancing, mean 1 per photo
    weight_of = torch.tensor(per_class, dtype=torch.float32, device=ctx.device)
    val_set = Subset(EvalPhotos(data.val, data.labels, data.pre), dist.eval_indices(len(data.val), ctx))
    val_loader = DataLoader(val_set, batch_size=local, num_workers=cfg.workers, pin_memory=cuda)

    def checkpoint() -> None:
        dist.save_on_main(ctx, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                                "progress": asdict(progress), "rng": rng_state(), "arch": cfg.arch,
                                "labels": data.labels, "input_size": data.pre.input_size,
                                "batch_size": cfg.batch_size}, folder / "last.pt")

    images, seconds = 0, 0.0
    limit = cfg.max_steps if cfg.max_steps is not None else math.inf
    while progress.epoch < cfg.epochs and not progress.stopped and progress.step < limit:
        train_set.epoch = progress.epoch
        sampler = dist.train_sampler(train_set, ctx, cfg.seed, progress.epoch, progress.step_in_epoch * local)
        loader = DataLoader(train_set, batch_size=local, sampler=sampler, num_workers=cfg.workers,
                            drop_last=True, pin_memory=cuda)
        set_train_mode(net)
        loss_sum, loss_n = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {progress.epoch + 1}/{cfg.epochs}", unit="step", total=steps_per_epoch,
                   initial=progress.step_in_epoch, disable=not (cfg.progress and ctx.is_main))
        t_epoch = time.perf_counter()
        for x, y, reasons in bar:
            x = x.to(ctx.device, non_blocking=True, memory_format=torch.channels_last)
            y = y.to(ctx.device, non_blocking=True)
            usable = torch.tensor([not r for r in reasons], dtype=torch.float32, device=ctx.device)
            with torch.autocast(ctx.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = net(x)
            ce = F.cross_entropy(logits.float(), y, reduction="none", label_smoothing=cfg.label_smoothing)
            # a sum over the local batch / its size: DDP's mean over ranks is then the global-batch mean
            loss = (ce * weight_of[y] * usable).sum() / len(y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            progress.step += 1
            progress.step_in_epoch += 1
            loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
            bar.set_postfix(loss=f"{loss_sum / loss_n:.3f}", lr=f"{scheduler.get_last_lr()[-1]:.2e}")
            if progress.step >= limit:
                break
        bar.close()
        elapsed = time.perf_counter() - t_epoch
        seconds, images = seconds + elapsed, images + loss_n * cfg.batch_size

        epoch_done = progress.step_in_epoch >= steps_per_epoch
        metrics = evaluate(model, val_loader, ctx, dtype)
        train_loss = dist.all_reduce_sum(ctx, [loss_sum, loss_n])
        improved = metrics["val_loss"] < progress.best_loss - MIN_IMPROVEMENT
        if improved:
            progress.best_loss, progress.best_step = metrics["val_loss"], progress.step
            dist.save_on_main(ctx, model.state_dict(), folder / "best.pt")
        progress.history.append({"epoch": progress.epoch + 1, "step": progress.step, **metrics,
                                 "train_loss": round(train_loss[0] / max(train_loss[1], 1), 4),
                                 "images_per_s": round(loss_n * cfg.batch_size / max(elapsed, 1e-9), 1)})
        if ctx.is_main:
            log.info("epoch %d step %d: %s", progress.epoch + 1, progress.step, progress.history[-1])
        if epoch_done:
            progress.bad_epochs = 0 if improved else progress.bad_epochs + 1
            progress.epoch, progress.step_in_epoch = progress.epoch + 1, 0
            if progress.bad_epochs >= cfg.patience:
                progress.stopped = f"early stop: no better validation loss for {cfg.patience} epochs"
        checkpoint()
    dist.barrier(ctx)
    ended = progress.stopped or (f"step limit {cfg.max_steps}" if progress.step >= limit else f"{cfg.epochs} epochs")
    progress = replace(progress, stopped=ended)  # not in the checkpoint: a resume may go further

    best = None
    if ctx.is_main:
        best = SpeciesClassifier(cfg.arch, len(data.labels))
        source = folder / "best.pt"
        best.load_state_dict(torch.load(source, map_location="cpu", weights_only=True) if source.exists()
                             else {k: v.cpu() for k, v in model.state_dict().items()})
        best.eval()
    last = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return Trained(best, last, progress, probe, images / seconds if seconds else 0.0, seconds,
                   str(dtype).replace("torch.", "") if dtype else "float32")


# ---- evaluation ----
@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, ctx: dist.Context, dtype: torch.dtype | None) -> dict:
    """Validation NLL and accuracy over all ranks' shares (no smoothing, no class weights)."""
    model.eval()
    loss, correct, n = 0.0, 0.0, 0.0
    for x, y, reasons in loader:
        keep = torch.tensor([not r for r in reasons])
        x, y = x[keep].to(ctx.device, memory_format=torch.channels_last), y[keep].to(ctx.device)
        if not len(y):
            continue
        with torch.autocast(ctx.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x).float()
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(1) == y).sum())
        n += len(y)
    loss, correct, n = dist.all_reduce_sum(ctx, [loss, correct, n])
    return {"val_loss": round(loss / max(n, 1), 4), "val_acc": round(correct / max(n, 1), 4)}


# ---- the shared ending: calibrate, measure, bundle ----
def write_bundle(cfg: TrainingConfig, data: Data, trained: Trained, ctx: dist.Context, t0: float) -> Bundle:
    model, labels = trained.model, data.labels
    if ctx.is_distributed and ctx.device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)  # the other ranks are done: rank 0 has the machine
    # head mode's path (embed_photos, shared preprocessing, full precision), without the cache: new weights
    cuda = ctx.device.type == "cuda"
    backbone, engine = (dist.OnDevice(model.backbone, ctx.device), "torch") if cuda else (model.backbone, "auto")
    feats, photos, skipped = embed_photos(data.photo_set.photos, backbone, data.pre, None, cfg.batch_size,
                                          cfg.workers, cfg.progress, engine)
    y = np.array([labels.index(p.label) for p in photos])
    split = np.array([p.split.value for p in photos])
    tune, report_half = ood_photos(cfg.ood_data)  # embedded now, while the backbone is still on its device
    ood_embedded = (embed_photos(tune + report_half, backbone, data.pre, None, cfg.batch_size, cfg.workers,
                                 cfg.progress, engine) if tune else None)
    embed_ood = lambda ood_list: ood_embedded  # noqa: E731 (same photos, same order: ood_photos is deterministic)
    model.cpu()  # the heads run on CPU features; the bundle and its ONNX export are written from CPU
    cal, ref, metrics = calibrate_and_measure(model, feats, y, split, class_groups(labels, data.catalogue),
                                              cfg.ood_data, embed_ood)
    p = trained.progress
    details = {  # the configuration itself is `training.config`; these are the recipe's fixed choices
        "recipe": {"input_size": data.pre.input_size, "min_lr_ratio": MIN_LR_RATIO,
                  "grad_clip": GRAD_CLIP, "batchnorm": "frozen statistics",
                  "class_balance": "sqrt", "optimizer": "AdamW", "schedule": "warmup+cosine"},
        "linear_probe": trained.probe, "steps": p.step, "epochs_done": p.epoch, "stopped": p.stopped,
        "best_step": p.best_step, "best_val_loss": p.best_loss, "history": p.history,
        "world_size": ctx.world_size, "device": str(ctx.device), "amp": trained.amp,
        "channels_last": True, "images_per_s": round(trained.images_per_s, 1),
        "seconds_train": round(trained.seconds, 1),
    }
    training = Training(TrainingMode.FINETUNE, round(time.perf_counter() - t0, 1), config=cfg, ood_data=cfg.ood_data,
                        skipped=tuple((str(ph.path), r) for ph, r in skipped), details=details)
    meta = BundleMeta(
        version=Path(cfg.out).name, arch=cfg.arch, labels=labels, preprocessing=data.pre,
        temperature=cal.temperature, thresholds=cal.thresholds, ood_method=cal.ood_method,
        groups=data.catalogue.groups, appendices=data.catalogue.appendices, lookalikes=data.catalogue.lookalikes,
        catalogue_version=data.catalogue.version, metrics=metrics, training=training,
        data_manifest=data.photo_set.manifest_hash(), counts=data.photo_set.counts(),
        sources=data.photo_set.sources(), photo_sides=photo_sides(photos),
    )
    return finish_bundle(cfg, meta, model, ref, photos)


def finetune(cfg: TrainingConfig) -> Bundle | None:
    """Fine-tune, calibrate and write the bundle; None on ranks other than 0."""
    t0 = time.perf_counter()
    ctx = dist.setup(cfg.device)
    try:
        data = load_data(cfg)
        if ctx.is_main:
            log.info("%d photos in %d classes, %d process(es) on %s", len(data.photo_set.photos),
                     len(data.labels), ctx.world_size, ctx.device)
        trained = train(cfg, data, ctx)
        if not ctx.is_main:
            return None
        return write_bundle(cfg, data, trained, ctx, t0)
    finally:
        dist.cleanup(ctx)
