"""Entry point of rule evaluate_frames: the edge runtime on one split's whole frames (cardrec.evaluation.frames)."""
from pathlib import Path

from cardrec.evaluation import plots
from cardrec.evaluation.frames import evaluate_split, markdown
from cardrec.workflow import start, write_json

log = start(snakemake)
inp, out = snakemake.input, snakemake.output
report = evaluate_split(Path(inp.bundle).parent, Path(inp.frames), snakemake.params.max_corner_error,
                        snakemake.threads)
write_json(out.metrics, report)
Path(out.table).write_text(markdown(report))
groups = {**report["categories"], "overall": report["overall"]}
series = {"detection": "detection", "top-1 known": "top1", "unknown rejected": "unknown_reject"}
plots.bar_chart(list(groups), {name: [g[k] or 0.0 for g in groups.values()] for name, k in series.items()},
                f"Whole {report['split']} frames through the edge runtime", "rate", out.plot)
log.info("overall %s", {k: v for k, v in report["overall"].items() if k != "outcomes"})
