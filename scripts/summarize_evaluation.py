"""Entry point of rule summarize_evaluation; the logic lives in cardrec.evaluation.summary."""
from cardrec.workflow import start
from cardrec.evaluation.summary import summarize

log = start(snakemake)
out = snakemake.output
table = summarize(list(snakemake.input.metrics), list(snakemake.input.metrics_csv), snakemake.params.top_k,
                  {k: getattr(out, k) for k in ("summary", "table", "accuracy", "scores", "loss")},
                  next(iter(snakemake.input.segmenter), None), next(iter(snakemake.input.corners), None))
log.info("summary %s", table)
