"""Entry point of rule frames_bundle: the edge bundle without the cards held out as unknown (cardrec.frames_eval)."""
import json
from pathlib import Path

from cardrec.evaluate import unknown_ids
from cardrec.frames_eval import subset_bundle
from cardrec.snakescript import start

log = start(snakemake)
src = Path(snakemake.input.manifest).parent
ids = [c["id"] for c in json.loads((src / "cards.json").read_text())]
m = subset_bundle(src, Path(snakemake.output.manifest).parent, unknown_ids(ids, snakemake.params.unknown_fraction))
log.info("bundle without the held-out cards: %s", m["held_out"])
