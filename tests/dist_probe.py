"""A rank worker target for the multi-node launch test: one all-reduce, one file per rank."""
import json
import os
from pathlib import Path


def probe(out: str, threads: int) -> None:
    import torch
    import torch.distributed as dist

    from cardrec.training.dist import from_env

    ctx = from_env()
    total = torch.tensor([float(ctx.rank + 1)])
    dist.all_reduce(total)
    Path(out, f"rank{ctx.rank}.json").write_text(json.dumps(
        {"rank": ctx.rank, "world": ctx.world, "sum": total.item(), "node": int(os.environ["GROUP_RANK"])}))


def wait_for_sigterm(out: str, threads: int) -> None:
    """Announce readiness (``rank<N>.ready`` holding the pid), then wait; SIGTERM writes ``rank<N>.sigterm``
    and exits as the training loop does. Gives up after two minutes so a lost signal cannot hang a test."""
    import signal
    import time

    rank = int(os.environ["RANK"])

    def stop(signum, frame):
        Path(out, f"rank{rank}.sigterm").write_text(signal.Signals(signum).name)
        raise SystemExit(f"rank {rank} stopped by signal")

    signal.signal(signal.SIGTERM, stop)
    Path(out, f"rank{rank}.ready").write_text(str(os.getpid()))
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.1)
