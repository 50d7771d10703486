"""Entry point of rule mine_hard_negatives; the logic lives in cardrec.training.mining."""
import json
from pathlib import Path

import numpy as np

from cardrec.training.mining import write_hard_negatives
from cardrec.workflow import start

start(snakemake)
cards = [c for f in snakemake.input.cards for c in json.loads(Path(f).read_text())]
sets = [Path(f).parent.name for f in snakemake.input.cards]
files = {(Path(f).parent.name, Path(f).stem): f for f in snakemake.input.embeddings}  # (model, set) -> file
emb = {m: np.concatenate([np.load(files[m, s]) for s in sets]) for m in snakemake.params.sources}
write_hard_negatives(cards, emb, snakemake.params.k, Path(snakemake.output.table), Path(snakemake.output.pairs))
