"""Entry point of rule calibration_set; the logic lives in cardrec.data.calibration."""
from pathlib import Path

import numpy as np

from cardrec.data.calibration import build_calibration
from cardrec.evaluation.metrics import unknown_ids
from cardrec.data.shards import load_shards
from cardrec.workflow import augment, contract, start, write_json

start(snakemake)
cfg = snakemake.params.calibration
cards, faces, _ = load_shards([str(Path(f).parent) for f in snakemake.input.faces])
c = contract(snakemake)
unknown = unknown_ids([card["id"] for card in cards], snakemake.params.unknown_fraction)
calib, ids = build_calibration(cards, faces, cfg["count"], cfg["seed"], c, augment(snakemake.params.augment), unknown)
np.save(snakemake.output.calib, calib)
write_json(snakemake.output.meta, {"count": len(ids), "card_ids": ids, "seed": cfg["seed"], "layout": "NHWC",
                                   "dtype": "uint8", "range": "0-255, letterboxed, not normalised",
                                   "preprocess": c.to_dict()})
