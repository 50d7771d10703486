"""Entry point of rule reference_index; the logic lives in cardrec.deploy.index."""
import json
from pathlib import Path

from cardrec.deploy.index import write_reference, write_thumbnails
from cardrec.workflow import start, write_json

start(snakemake)
cards = [c for f in snakemake.input.cards for c in json.loads(Path(f).read_text())]
out = snakemake.output
report = write_reference(cards, list(snakemake.input.embeddings), dict(snakemake.params.index),
                         Path(out.embeddings), Path(out.index), Path(out.cards), Path(out.projection))
report["thumbnails_bytes"] = write_thumbnails(cards, list(snakemake.input.gallery), Path(out.thumbnails))
write_json(out.report, report)
