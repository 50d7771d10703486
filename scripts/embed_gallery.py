"""Entry point of rule embed_gallery: one set's gallery embedded by one model (torch or ONNX)."""
import numpy as np

from cardrec.models.embed import embed_images, open_embedder
from cardrec.workflow import contract, start

start(snakemake)
embedder = open_embedder(snakemake.input.model, contract(snakemake), snakemake.threads)
gallery = np.load(snakemake.input.gallery)
np.save(snakemake.output[0], embed_images(embedder, gallery, desc=f"embed {snakemake.wildcards.model}"))
