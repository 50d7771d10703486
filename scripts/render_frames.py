"""Entry point of rule render_frames; the logic lives in cardrec.data.frames."""
import json
from pathlib import Path

import numpy as np

from cardrec.evaluation.metrics import unknown_ids
from cardrec.data.frames import render_split
from cardrec.workflow import start

log = start(snakemake)
ids = [c["id"] for f in snakemake.input.cards for c in json.loads(Path(f).read_text())]
faces = [row for f in snakemake.input.faces for row in np.load(f, mmap_mode="r")]  # views: nothing is copied
split = snakemake.wildcards.split
labels = render_split(faces, ids, unknown_ids(ids, snakemake.params.unknown_fraction), dict(snakemake.params.frames),
                      split, Path(snakemake.output.frames))
log.info("%s: %d frames, %d cards", split, len(labels["frames"]), sum(len(f["cards"]) for f in labels["frames"]))
