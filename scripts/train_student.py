"""Entry point of rule train_student ({stage}: stage1, stage2); the logic lives in cardrec.training.student."""
from cardrec.workflow import start, train

start(snakemake)
train(snakemake, "cardrec.training.student:train_student", dict(snakemake.params.student),
      stage=snakemake.wildcards.stage, teacher_emb=list(snakemake.input.teacher_emb),
      init=snakemake.input.get("init"), negatives=snakemake.input.get("negatives"))
