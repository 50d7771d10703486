"""Entry point of rule summary_table: crop-level and whole-frame tables in one summary.md (cardrec.frames_eval)."""
from pathlib import Path

from cardrec.frames_eval import write_summary
from cardrec.snakescript import start

start(snakemake)
write_summary(Path(snakemake.input.crops), [Path(f) for f in snakemake.input.frames], Path(snakemake.output.table))
