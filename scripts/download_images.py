"""Entry point of rule download_images; the logic lives in cardrec.data.download."""
from pathlib import Path

from cardrec.data.download import download_set
from cardrec.data.ingest import load_cards_json
from cardrec.workflow import start

log = start(snakemake)
result = download_set(load_cards_json(Path(snakemake.input.cards)), Path(snakemake.params.images_dir))
log.info("downloaded %d, failed %d: %s", result["downloaded"], len(result["failed"]), result["failed"][:20])
