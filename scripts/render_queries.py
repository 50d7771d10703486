"""Entry point of rule render_queries; the logic lives in cardrec.shards."""
from pathlib import Path

from cardrec.shards import render_queries
from cardrec.snakescript import augment, contract, start

start(snakemake)
q = snakemake.params.queries
render_queries(Path(snakemake.input.faces).parent, Path(snakemake.output.images).parent, contract(snakemake),
               q["seed"], dict(q["per_card"]), augment(q.get("augment")))
