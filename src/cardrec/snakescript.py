"""The edge between Snakemake script entry points and the library: logging and shared inputs."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from cardrec_edge.preprocess import Preprocess

from .augment import AugmentParams


def start(smk) -> logging.Logger:
    """Send stderr (tracebacks, progress bars) and logging to the rule's log file."""
    sys.stderr = log = open(smk.log[0], "w", buffering=1)
    logging.basicConfig(stream=log, level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True)
    return logging.getLogger(f"cardrec.rule.{smk.rule}")


def contract(smk) -> Preprocess:
    """The preprocessing contract, read from the rule's ``contract`` input (results/preprocess/contract.json)."""
    return Preprocess.from_dict(json.loads(Path(smk.input.contract).read_text()))


def augment(params: dict | None) -> AugmentParams:
    return AugmentParams(**(params or {}))


def fail(message: str, code: int = 1) -> None:
    """An expected failure: one clear line in the log and on the console, no traceback."""
    logging.getLogger("cardrec").error(message)
    print(message, file=sys.__stderr__)
    sys.exit(code)


def write_json(path, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")
