"""Synchronous SGD over several processes with ``torch.distributed``, launched by ``torchrun``.

``skmobile train --nproc N`` starts ``torchrun --standalone --nproc-per-node N -m skmobile train ...``
(torch's own launcher, :func:`torchrun_argv`); several machines run torchrun themselves with a
rendezvous (docs/full-scale-training.md). Each process finds its rank in torchrun's environment
(:func:`from_env`), joins the process group (NCCL on CUDA, gloo on CPU), pins its GPU
(``cuda:LOCAL_RANK``) and wraps the model in DistributedDataParallel. BatchNorm stays per process, as
in the paper (no SyncBatchNorm). Only rank 0 writes checkpoints, metrics and progress.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ..errors import SKMobileError

#: torchrun's environment variables that mark a process it started.
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run; ``world_size`` 1 is a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = DistContext()


def under_torchrun() -> bool:
    return all(v in os.environ for v in TORCHRUN_ENV)


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1")) if under_torchrun() else 1


def process_device(device: str) -> str:
    """The device of this process: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun (one GPU each)."""
    if under_torchrun() and device == "cuda":
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def pin_device(device: str, worker_index: int) -> str:
    """The GPU of local search worker ``worker_index`` (1, 2, ...: ``cuda:index-1`` modulo the GPUs here);
    ``device`` itself for a single process (index 0) or a device that names no GPU set."""
    if device != "cuda" or worker_index < 1:
        return device
    import torch

    return f"cuda:{(worker_index - 1) % max(1, torch.cuda.device_count())}"


def from_env(device: str) -> DistContext:
    """Join torchrun's process group (a single-process run outside torchrun): NCCL for CUDA, gloo for CPU."""
    if not under_torchrun():
        return SINGLE
    import torch
    import torch.distributed as dist

    rank, world, local = (int(os.environ[k]) for k in TORCHRUN_ENV)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank, world, local, backend)


def wrap(model, ctx: DistContext, device):
    """``model`` in DistributedDataParallel when the run has several processes (per-process BN)."""
    if not ctx.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)  # rank 0's BN buffers reach the others each forward


def all_sum(ctx: DistContext, values: list[float]) -> list[float]:
    """``values`` summed over the processes (as given in a single-process run)."""
    if not ctx.active:
        return list(values)
    import torch
    import torch.distributed as dist

    dev = "cuda" if ctx.backend == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    return t.tolist()


def weight_spread(model, ctx: DistContext) -> float:
    """Largest |difference| between this run's parameters on any process and rank 0's (0.0 alone):
    synchronous SGD keeps it 0 up to the float rounding of the gradient all-reduce."""
    if not ctx.active:
        return 0.0
    import torch
    import torch.distributed as dist

    flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    gap = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return float(gap)


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        import torch.distributed as dist

        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (what each torchrun process is given)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def torchrun_argv(nproc: int, argv: list[str]) -> list[str]:
    """torch's launcher starting ``nproc`` processes of ``skmobile ARGV`` on this machine."""
    if nproc < 1:
        raise SKMobileError(f"--nproc {nproc} is not allowed; allowed: >= 1 (processes on this machine)")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "skmobile", *strip_nproc(argv)]


__all__ = ["DistContext", "SINGLE", "all_sum", "barrier", "env_world_size", "from_env", "pin_device", "process_device",
           "shutdown", "strip_nproc", "torchrun_argv", "under_torchrun", "weight_spread", "wrap"]
