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
