"""Entry point of rule ingest; the logic lives in cardrec.data.ingest."""
from pathlib import Path

from cardrec.data.ingest import IngestConfig, IngestError, card_ids, ingest_set, set_images
from cardrec.workflow import fail, start

start(snakemake)
set_id = snakemake.wildcards.set
cards = Path(snakemake.input.cards)
try:
    ingest_set(set_id, cards, set_images(Path(snakemake.params.images_dir), set_id, card_ids(cards)),
               IngestConfig(**snakemake.params.ingest), Path(snakemake.output.cards), Path(snakemake.output.rejected))
except IngestError as e:
    fail(f"ingest: {e}; every reason is in {snakemake.log[0]}")
