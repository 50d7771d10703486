"""Entry point of rule render_queries; the logic lives in cardrec.data.shards."""
from pathlib import Path

from cardrec.data.shards import render_queries
from cardrec.workflow import augment, contract, start

start(snakemake)
q = snakemake.params.queries
render_queries(Path(snakemake.input.faces).parent, Path(snakemake.output.images).parent, contract(snakemake),
               q["seed"], dict(q["per_card"]), augment(q.get("augment")))
