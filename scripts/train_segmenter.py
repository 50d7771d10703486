"""Entry point of rule train_segmenter; the logic lives in cardrec.training.segmenter."""
import json
from pathlib import Path

from cardrec.errors import CardrecError
from cardrec.training.segmenter import fit_segmenter
from cardrec.workflow import contract, fail, start

log = start(snakemake)
p = snakemake.params
try:
    record = fit_segmenter([Path(f).parent for f in snakemake.input.faces], contract(snakemake), p.segmenter,
                           tuple(p.frame), p.seed, p.unknown_fraction, Path(snakemake.output.model),
                           snakemake.threads, log.info)
except CardrecError as e:
    fail(f"train_segmenter: {e}")
Path(snakemake.output.record).write_text(json.dumps(record, indent=1))
log.info("segmenter: %s", {k: v for k, v in record.items() if k != "loss"})
