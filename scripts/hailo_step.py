"""Entry point of rules hailo_parse, hailo_optimize, hailo_emulate, hailo_embed, hailo_compile and hailo_segmenter
(cardrec.hailo.steps)."""
from cardrec.hailo.steps import StepError, run_step
from cardrec.workflow import fail, start

start(snakemake)
params = {k: v for k, v in snakemake.params.items()}
try:
    run_step(snakemake.rule.removeprefix("hailo_"), dict(snakemake.input.items()), dict(snakemake.output.items()),
             params)
except StepError as e:
    fail(f"{snakemake.rule}: {e}")
