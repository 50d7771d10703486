"""Entry point of rule train_teacher; the logic lives in cardrec.training.teacher."""
from pathlib import Path

from cardrec.snakescript import augment, contract, start
from cardrec.training.teacher import train_teacher

start(snakemake)
train_teacher([str(Path(f).parent) for f in snakemake.input.faces], snakemake.output.model, snakemake.output.history,
              dict(snakemake.params.teacher), contract(snakemake), augment(snakemake.params.augment), snakemake.threads)
