"""The edge between Snakemake script entry points and the library: logging, shared inputs, expected failures.

The only code that touches the ``snakemake`` object; scripts/ import it as ``cardrec.workflow``."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from cardrec_edge.preprocess import Preprocess

from cardrec.data.augment import AugmentParams
from cardrec.errors import CardrecError


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


def train(smk, target: str, stage_cfg: dict, **extra) -> None:
    """Run a training function (``module:function``) for a training rule, under torchrun when
    ``training.processes`` > 1; inputs ``faces``/``contract``, outputs ``model``/``metrics``/``profile``."""
    from cardrec.training.dist import launch

    run = dict(smk.params.training or {})
    kwargs = {"shards": [str(Path(f).parent) for f in smk.input.faces], "out_model": smk.output.model,
              "out_metrics": smk.output.metrics, "profile_dir": str(Path(smk.output.profile).parent),
              "cfg": stage_cfg, "contract": json.loads(Path(smk.input.contract).read_text()),
              "augment": dict(smk.params.augment or {}), "run": run,
              "unknown_fraction": smk.params.unknown_fraction, **extra}
    compute = (smk.config or {}).get("compute") or {}
    if compute.get("backend", "local") == "sagemaker":
        from cardrec.aws.sagemaker.train import submit

        stage = Path(smk.output.profile).parent.name
        record = getattr(smk.output, "job", None) or f"results/jobs/{stage}.json"
        try:
            submit(target, kwargs, compute, smk.config.get("storage") or {}, stage, record,
                   log=logging.getLogger("cardrec.sagemaker").info)
        except CardrecError as e:
            fail(str(e))
        return
    launch(target, kwargs, int(run.get("processes", 1)), smk.threads)


def fail(message: str, code: int = 1) -> None:
    """An expected failure: one clear line in the log and on the console, no traceback."""
    logging.getLogger("cardrec").error(message)
    print(message, file=sys.__stderr__)
    sys.exit(code)
