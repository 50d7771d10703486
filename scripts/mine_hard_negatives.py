"""Entry point of rule mine_hard_negatives; the logic lives in cardrec.mining."""
import json
from pathlib import Path

import numpy as np

from cardrec.mining import write_hard_negatives
from cardrec.snakescript import start

start(snakemake)
cards = [c for f in snakemake.input.cards for c in json.loads(Path(f).read_text())]
emb = np.concatenate([np.load(f) for f in snakemake.input.embeddings])
write_hard_negatives(cards, emb, snakemake.params.k, Path(snakemake.output.table), Path(snakemake.output.pairs))
