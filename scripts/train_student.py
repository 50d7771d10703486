"""Entry point of rules train_student_stage1/2; the logic lives in cardrec.training.student."""
from cardrec.workflow.script import start, train

start(snakemake)
train(snakemake, "cardrec.training.student:train_student", dict(snakemake.params.student),
      stage=snakemake.rule.removeprefix("train_student_"), teacher_emb=list(snakemake.input.teacher_emb),
      init=snakemake.input.get("init"), negatives=snakemake.input.get("negatives"))
