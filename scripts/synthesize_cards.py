"""Entry point of rule synthesize_cards; the logic lives in cardrec.synth."""
from pathlib import Path

from cardrec.snakescript import start
from cardrec.synth import SynthSet, write_dataset

start(snakemake)
cfg = snakemake.params.synthetic
write_dataset(cfg["seed"], [SynthSet(**s) for s in cfg["sets"]], snakemake.wildcards.set,
              Path(snakemake.output.cards), Path(snakemake.output.images))
