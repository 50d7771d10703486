"""Entry point of rule cost_report; the logic lives in cardrec.cost."""
from pathlib import Path

from cardrec.cost import benchmark_seconds, to_markdown, training_cost
from cardrec.snakescript import start, write_json

start(snakemake)
cfg = snakemake.params.cost
durations = {name: benchmark_seconds(path) for name, path in snakemake.input.items()}
report = training_cost(durations, cfg["prices"], cfg["instance"], cfg["local_watts"] / 1000.0)
write_json(snakemake.output.json, report)
Path(snakemake.output.md).write_text(to_markdown(report))
