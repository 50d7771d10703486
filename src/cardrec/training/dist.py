"""Data-parallel training on CPU or GPU: ``torchrun`` launch, rank context, global-batch gathering.

The configured batch is global. Every rank draws the same global batch (the card choice is seeded
by step), renders and embeds its contiguous slice, and gathers all embeddings (with gradients) so
batch-level losses see the whole global batch, exactly as one process would. DDP then averages the
parameter gradients; with the gathered loss that average is the single-process gradient.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import torch
import torch.distributed as dist

from cardrec.training.supervise import first_error, forward_signals, record_error


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_slice(self, n_items: int, key: str) -> slice:
        """This rank's contiguous share of a global batch of ``n_items`` (must divide evenly)."""
        if n_items % self.world:
            raise ValueError(f"global batch of {n_items} images does not split over {self.world} processes: "
                             f"make {key} x views a multiple of training.processes")
        per = n_items // self.world
        return slice(self.rank * per, (self.rank + 1) * per)

    def gather(self, local: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's rows in rank order; gradients flow back to each rank's slice."""
        if self.world == 1:
            return local
        from torch.distributed.nn.functional import all_gather
        return torch.cat(all_gather(local), dim=0)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return torch.nn.parallel.DistributedDataParallel(model) if self.world > 1 else model

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank (e.g. one of them got SIGTERM)."""
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def from_env() -> Dist:
    """The rank context ``torchrun`` set up (gloo on CPU, nccl on GPU), or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


@dataclass(frozen=True)
class Nodes:
    """The hosts of a job: how many, this host's rank, and where node 0 listens for the rendezvous."""

    count: int = 1
    rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500


def torchrun_command(job_file: str, processes: int, nodes: Nodes = Nodes()) -> list[str]:
    """``torchrun`` of the rank worker: standalone on one host, a static rendezvous at node 0 across hosts."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes)]
    if nodes.count == 1:
        cmd += ["--standalone", "--nnodes", "1"]
    else:
        cmd += ["--nnodes", str(nodes.count), "--node-rank", str(nodes.rank), "--master-addr", nodes.master_addr,
                "--master-port", str(nodes.master_port)]
    return cmd + ["-m", "cardrec.training.dist", job_file]


def launch(target: str, kwargs: dict, processes: int, threads: int, nodes: Nodes = Nodes()) -> None:
    """Run ``target`` ("module:function") with ``kwargs`` here, or in ``processes`` ranks per host via torchrun
    (``nodes.count`` hosts run this same call, each with its ``nodes.rank``).

    Each rank gets ``threads // processes`` intra-op threads (at least one).
    """
    if processes <= 1 and nodes.count == 1:
        _resolve(target)(**kwargs, threads=threads)
        return
    processes = max(1, processes)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"target": target, "kwargs": kwargs, "threads": max(1, threads // processes),
                                   "errors": tmp}))
        proc = subprocess.Popen(torchrun_command(str(job), processes, nodes),
                                env={**os.environ, "OMP_NUM_THREADS": str(max(1, threads // processes))},
                                stdout=sys.stderr, stderr=sys.stderr)  # into the rule's log
        with forward_signals(proc) as received:  # SIGTERM: torchrun passes it on, the ranks checkpoint
            code = proc.wait()
        if code:
            where = f"torchrun with {processes} processes on node {nodes.rank} of {nodes.count}"
            cause = first_error(tmp) or "no rank reported an error, see torchrun's output in the log"
            if received:
                raise SystemExit(f"{where} stopped by {signal.Signals(received[0]).name}: {cause}")
            raise RuntimeError(f"{where} failed (exit {code}): {cause}")


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(import_module(module), func)


def _worker(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    ctx = from_env()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if ctx.is_main else logging.WARNING,
                        format=f"%(asctime)s rank{ctx.rank} %(name)s %(message)s")
    try:
        _resolve(job["target"])(**job["kwargs"], threads=job["threads"])
    except BaseException as e:
        record_error(job.get("errors"), ctx.rank, e)  # the launcher's message names it
        raise
    finally:
        if ctx.world > 1:
            dist.destroy_process_group()


if __name__ == "__main__":
    _worker(sys.argv[1])
