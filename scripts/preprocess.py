"""Entry point of rule preprocess; the logic lives in cardrec.shards."""
from pathlib import Path

from cardrec.shards import write_set_shard
from cardrec.snakescript import contract, start

start(snakemake)
write_set_shard(Path(snakemake.input.cards), Path(snakemake.output.gallery).parent, contract(snakemake),
                tuple(snakemake.params.face_size))
