"""Entry point of rule preprocess; the logic lives in cardrec.data.shards."""
from pathlib import Path

from cardrec.data.shards import write_set_shard
from cardrec.workflow import contract, start

start(snakemake)
write_set_shard(Path(snakemake.input.cards), Path(snakemake.output.gallery).parent, contract(snakemake),
                tuple(snakemake.params.face_size))
