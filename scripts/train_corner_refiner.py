"""Entry point of rule train_corner_refiner; the logic lives in cardrec.training.corners."""
import json
from pathlib import Path

from cardrec.errors import CardrecError
from cardrec.training.corners import fit_corner_refiner
from cardrec.workflow import fail, start

log = start(snakemake)
p = snakemake.params
try:
    record = fit_corner_refiner([Path(f).parent for f in snakemake.input.faces], p.corners, tuple(p.frame), p.seed,
                                p.unknown_fraction, Path(snakemake.output.model), snakemake.threads)
except CardrecError as e:
    fail(f"train_corner_refiner: {e}")
Path(snakemake.output.record).write_text(json.dumps(record, indent=1))
log.info("corner refiner: %s", {k: v for k, v in record.items() if k != "loss"})
