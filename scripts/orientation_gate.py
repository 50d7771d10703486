"""Entry point of rule orientation_gate; the logic lives in cardrec.deploy.orientation."""
import json
from pathlib import Path

from cardrec.deploy.orientation import fit_gate
from cardrec.errors import CardrecError
from cardrec.workflow import augment, contract, fail, start

log = start(snakemake)
p = snakemake.params
cfg = p.orientation
try:
    record = fit_gate(Path(snakemake.input.model), [Path(f).parent for f in snakemake.input.faces],
                      contract(snakemake), Path(snakemake.output.gate), p.seed, cfg["views_per_card"],
                      cfg["confidence"], cfg["weight_decay"], p.unknown_fraction, augment(p.augment),
                      threads=snakemake.threads)
except CardrecError as e:
    fail(f"orientation_gate: {e}")
Path(snakemake.output.record).write_text(json.dumps(record, indent=1))
log.info("orientation gate: %s", record)
