"""Entry point of rules train_student_stage1/2; the logic lives in cardrec.training.student."""
from pathlib import Path

from cardrec.snakescript import augment, contract, start
from cardrec.training.student import train_student

start(snakemake)
stage = snakemake.rule.removeprefix("train_student_")
train_student(stage, [str(Path(f).parent) for f in snakemake.input.faces], list(snakemake.input.teacher_emb),
              snakemake.output.model, snakemake.output.history, dict(snakemake.params.student), contract(snakemake),
              augment(snakemake.params.augment), snakemake.threads,
              init=snakemake.input.get("init"), negatives=snakemake.input.get("negatives"))
