"""Entry point of rule summary_table: crop-level and whole-frame tables, with the frames' pHash+dHash baseline, in
one summary.md (cardrec.evaluation.frames)."""
from pathlib import Path

from cardrec.evaluation.frames import write_summary
from cardrec.workflow import start

start(snakemake)
inp = snakemake.input
write_summary(Path(inp.crops), [Path(f) for f in inp.frames], Path(snakemake.output.table),
              [Path(f) for f in inp.baseline])
