"""Entry point of rule evaluate: one model variant (or the pHash baseline) on the held-out queries."""
import json
from pathlib import Path

import numpy as np

from cardrec.evaluation import metrics as ev
from cardrec.models.embed import embed_images, open_embedder
from cardrec.evaluation.plots import confusion_pairs as plot_confusions
from cardrec.data.shards import EvalSet
from cardrec.workflow import contract, start, write_json

start(snakemake)
cfg, variant, inp = snakemake.params.evaluate, snakemake.wildcards.variant, snakemake.input
data = EvalSet.load(inp.gallery, inp.queries)
rows, queries, gallery = data.rows, data.queries, data.gallery
if variant == "phash":
    sim = ev.hash_similarity(ev.phash_codes(gallery), ev.phash_codes(queries))
elif variant == "hef":  # emulator embeddings from rule hailo_embed (run where the DFC is: here or its container)
    query_emb = np.load(inp.hef_queries)
    sim = ev.embedding_similarity(np.load(inp.hef_gallery), query_emb)
else:
    gallery_emb = np.concatenate([np.load(f) for f in inp.embeddings])
    query_emb = embed_images(open_embedder(inp.model, contract(snakemake), snakemake.threads), queries,
                             desc=f"queries {variant}")
    sim = ev.embedding_similarity(gallery_emb, query_emb)
ids = data.card_ids
unknown = ev.unknown_ids(ids, cfg["unknown_fraction"])
metrics = ev.evaluate_similarity(sim, ids, rows, unknown, cfg["max_false_reject"], cfg["top_k"])
if variant == "hef":  # what the Pi runs: HEF queries against the bundle's gallery and threshold
    from cardrec.hailo.pairing import deployed_pairing

    deployed = json.loads(Path(inp.deployed_metrics).read_text())
    metrics["deployed_pairing"] = deployed_pairing(query_emb, np.concatenate([np.load(f) for f in inp.embeddings]),
                                                   ids, rows, unknown, deployed, cfg["top_k"])
write_json(snakemake.output.metrics, {"variant": variant, **metrics})
plot_confusions(ev.hardest_confusions(metrics, queries, gallery, ids), snakemake.output.confusions,
                f"{variant}: hardest confusions on held-out queries")
