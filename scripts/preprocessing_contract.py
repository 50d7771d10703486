"""Entry point of rule preprocessing_contract: the config's contract, written once for every rule."""
from cardrec_edge.preprocess import Preprocess

from cardrec.workflow import start, write_json

start(snakemake)
p = snakemake.params.preprocess
write_json(snakemake.output[0], Preprocess(height=p["height"], width=p["width"], mean=tuple(p["mean"]),
                                           std=tuple(p["std"]), pad_value=p.get("pad_value", 0)).to_dict())
