"""Entry point of rule frames_bundle: the edge bundle without the cards held out as unknown (cardrec.evaluation.frames)."""
import json
from pathlib import Path

from cardrec.evaluation.metrics import unknown_ids
from cardrec.evaluation.frames import subset_bundle
from cardrec.workflow import start

log = start(snakemake)
src = Path(snakemake.input.manifest).parent
ids = [c["id"] for c in json.loads((src / "cards.json").read_text())]
m = subset_bundle(src, Path(snakemake.output.manifest).parent, unknown_ids(ids, snakemake.params.unknown_fraction))
log.info("bundle without the held-out cards: %s", m["held_out"])
