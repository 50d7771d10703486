"""Entry point of rule report_front: the report's front page with the run's headline figures (cardrec.evaluation.front_page)."""
from pathlib import Path

from cardrec.evaluation.front_page import front_page
from cardrec.workflow import start

start(snakemake)
inp = snakemake.input
plots = {"Top-k per model on held-out query crops": Path(inp.accuracy),
         "Whole test frames through the edge runtime, per scene category": Path(inp.frames_plot)}
page = front_page(Path(inp.description).read_text(), Path(inp.summary), Path(inp.frames), snakemake.params.deployed,
                  plots, Path(inp.baseline))
Path(snakemake.output.page).write_text(page)
