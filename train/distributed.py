"""Multi-process training helpers: the same script runs alone or under `torchrun`.

    torchrun --nproc_per_node=N -m train fit --mode finetune ...

`torchrun` sets RANK / WORLD_SIZE / LOCAL_RANK (and MASTER_ADDR / MASTER_PORT);
without them the run is a single process and nothing here talks to a process
group. Backend: NCCL when each rank has a GPU, gloo on CPU.

Conventions the training loop relies on:
- `--batch-size` is the *global* batch; each rank takes `batch // world` photos
  from a `DistributedSampler` shard, so the photos of one step are the same
  whatever the number of processes (the sampler's permutation depends only on
  seed and epoch, and ranks take interleaved slices of it);
- only rank 0 writes (checkpoints, bundle, model card); the others wait at a barrier;
- metrics are sums all-reduced over ranks, so every rank takes the same
  early-stopping decision (a rank that stops alone would hang the others).
"""
from __future__ import annotations

import inspect
import itertools
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
import torch.distributed as dist
from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler

from species_data.atomic import atomic_write

# Rank 0 may evaluate and write a bundle while the others wait: a generous timeout.
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def ranks_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's variables; (0, 1, 0) when absent."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return 0, 1, 0
    try:
        world = int(env["WORLD_SIZE"])
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ValueError(
            f"RANK={env.get('RANK')!r} WORLD_SIZE={env.get('WORLD_SIZE')!r} LOCAL_RANK={env.get('LOCAL_RANK')!r} "
            "are not integers; launch with `torchrun --nproc_per_node=N -m train ...`") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"RANK={rank} / WORLD_SIZE={world} / LOCAL_RANK={local} are inconsistent; "
                         "launch with `torchrun --nproc_per_node=N -m train ...`")
    return rank, world, local


def pick_device(requested: str, local_rank: int) -> torch.device:
    """'auto': this rank's GPU when there is one, else CPU; 'cpu' / 'cuda' force it."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no GPU; use --device cpu or auto")
    if local_rank >= torch.cuda.device_count():
        raise RuntimeError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s); "
                           "use --nproc_per_node at most the GPU count")
    return torch.device("cuda", local_rank)


def setup(device: str = "auto") -> Context:
    """Join the process group when launched by torchrun; choose the device and CPU threads."""
    rank, world, local = ranks_from_env()
    dev = pick_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1:
        if dev.type == "cpu":
            # torchrun sets OMP_NUM_THREADS=1; share the cores among the local ranks instead.
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world,
                                    timeout=TIMEOUT)
    return Context(rank, world, local, dev)


def cleanup(ctx: Context) -> None:
    if ctx.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.is_distributed:
        dist.barrier()


def all_reduce_sum(ctx: Context, values: list[float]) -> list[float]:
    """Element-wise sum of `values` over ranks (float64 on the communication device)."""
    if not ctx.is_distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


class OnDevice(torch.nn.Module):
    """`module` on the training device, in full precision (no TF32), for callers that pass CPU tensors."""

    def __init__(self, module: torch.nn.Module, device: torch.device):
        super().__init__()
        self.module, self.device = module.to(device), device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            return self.module(x.to(self.device)).float().cpu()
        finally:
            torch.backends.cudnn.allow_tf32 = tf32


def wrap(model: torch.nn.Module, ctx: Context) -> torch.nn.Module:
    """DistributedDataParallel when there are several ranks (it copies rank 0's weights to all).

    BatchNorm statistics are frozen during fine-tuning, so buffers never change
    and need no per-step broadcast."""
    if not ctx.is_distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    # buffers are synced from rank 0 at construction either way; newer torch renamed the per-step switch
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return DistributedDataParallel(model, device_ids=ids, **no_sync)


class _Skip(Sampler[int]):
    """A sampler that leaves out its first `skip` indices (resuming in the middle of an epoch)."""

    def __init__(self, inner: Sampler[int], skip: int):
        self.inner, self.skip = inner, skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.inner), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)  # type: ignore[arg-type]


def train_sampler(dataset, ctx: Context, seed: int, epoch: int, skip: int = 0) -> Sampler[int]:
    """This rank's shuffled shard for `epoch`; the first `skip` of its indices left out."""
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
                                 drop_last=True)
    sampler.set_epoch(epoch)
    return _Skip(sampler, skip) if skip else sampler


def eval_indices(n: int, ctx: Context) -> list[int]:
    """Interleaved, non-overlapping, non-padded share of `n` items (sums stay exact)."""
    return list(range(ctx.rank, n, ctx.world_size))


def local_batch(global_batch: int, ctx: Context) -> int:
    if global_batch % ctx.world_size:
        raise ValueError(f"--batch-size {global_batch} is the global batch and must divide evenly over "
                         f"{ctx.world_size} processes; use a multiple of {ctx.world_size}")
    return global_batch // ctx.world_size


def save_on_main(ctx: Context, obj: Any, path: Path) -> None:
    """`torch.save` by rank 0 only, atomically (temporary file, then rename)."""
    if not ctx.is_main:
        return
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)
