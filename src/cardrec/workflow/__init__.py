"""Glue between Snakemake's ``snakemake`` object (scripts/) and the library: the only code that touches it."""
from cardrec.records import write_json
from cardrec.workflow.script import augment, contract, fail, start, train

__all__ = ["augment", "contract", "fail", "start", "train", "write_json"]
