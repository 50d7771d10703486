"""Entry point of rule cost_report; the logic lives in cardrec.cost.report."""
from cardrec.cost.training import benchmark_seconds
from cardrec.cost.report import build, inventory, write_outputs
from cardrec.workflow import start, write_json

log = start(snakemake)
durations = {k: benchmark_seconds(v) for k, v in snakemake.input.items() if k != "jobs"}
objs, source = inventory(snakemake.params.storage or {}, snakemake.params.results)
log.info("inventory: %d objects from %s", len(objs), source)
report = build(snakemake.params.cost, snakemake.params.lifecycle, durations, list(snakemake.input.jobs), objs, source)
write_json(snakemake.output.training, report["training"])
out = snakemake.output
write_outputs(report, out.json, out.md, out.cumulative, out.storage)
