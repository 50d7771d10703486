"""Entry point of rule train_teacher; the logic lives in cardrec.training.teacher."""
from cardrec.workflow import start, train

start(snakemake)
train(snakemake, "cardrec.training.teacher:train_teacher", dict(snakemake.params.teacher))
