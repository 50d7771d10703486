"""Entry point of rule summary_table: crop-level and whole-frame tables in one summary.md (cardrec.evaluation.frames)."""
from pathlib import Path

from cardrec.evaluation.frames import write_summary
from cardrec.workflow import start

start(snakemake)
write_summary(Path(snakemake.input.crops), [Path(f) for f in snakemake.input.frames], Path(snakemake.output.table))
