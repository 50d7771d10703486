"""Entry point of rule evaluate_frames_phash: pHash+dHash through the runtime's frame pipeline
(cardrec.evaluation.frame_baseline), scored as rule evaluate_frames scores the shipped bundle."""
import json
from pathlib import Path

from cardrec.data.shards import load_shards
from cardrec.evaluation.frame_baseline import hash_recognizer, predictions
from cardrec.evaluation.frames import score
from cardrec.workflow import start, write_json

log = start(snakemake)
inp = snakemake.input
cards, _, gallery = load_shards([str(Path(f).parent) for f in inp.gallery])
threshold = json.loads(Path(inp.phash).read_text())["threshold"]
rec = hash_recognizer(Path(inp.bundle).parent, {c["id"]: g for c, g in zip(cards, gallery)}, threshold)
labels = json.loads((Path(inp.frames) / "labels.json").read_text())
report = score(labels, predictions(rec, Path(inp.frames)), snakemake.params.max_corner_error)
write_json(snakemake.output.metrics, {"model": "pHash+dHash", "crop_threshold": threshold, **report})
log.info("overall %s", {k: v for k, v in report["overall"].items() if k != "outcomes"})
