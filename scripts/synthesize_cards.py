"""Entry point of rule synthesize_cards; the logic lives in cardrec.data.synthesize."""
from pathlib import Path

from cardrec.workflow import start
from cardrec.data.synthesize import SynthSet, write_dataset

start(snakemake)
cfg = snakemake.params.synthetic
write_dataset(cfg["seed"], [SynthSet(**s) for s in cfg["sets"]], snakemake.wildcards.set,
              Path(snakemake.output.cards), Path(snakemake.output.images))
