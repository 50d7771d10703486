"""A training stage on SageMaker: ``submit`` (rule side, compute.backend: sagemaker) and ``container_main``
(inside the training container: ``python -m cardrec.sagemaker_train``, honouring SM_MODEL_DIR,
SM_CHANNEL_INPUTS and /opt/ml/checkpoints)."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .sagemaker_job import (CHECKPOINT_LOCAL, INPUTS_CHANNEL, SageMakerSettings, collect_files, run_training_job,
                            training_request, upload_channel)

OUTPUT_KWARGS = ("out_model", "out_metrics", "profile_dir")
PATH_KWARGS = ("shards", "teacher_emb", "init", "negatives")


def input_paths(kwargs: dict) -> list[str]:
    """Local files and directories a training function reads (relative to the workdir)."""
    out: list[str] = []
    for key in PATH_KWARGS:
        value = kwargs.get(key)
        out += [v for v in ([value] if isinstance(value, str) else value or []) if v]
    return out


def job_name(stage: str, now: float | None = None) -> str:
    """Unique, ≤ 63 characters, [A-Za-z0-9-]."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return re.sub(r"[^A-Za-z0-9-]", "-", f"cardrec-{stage}-{stamp}")[:63]


def submit(target: str, kwargs: dict, processes: int, compute: dict, storage: dict, stage: str,
           record_path: str | Path, log=print) -> dict:
    """Upload the inputs, run the job, put model/metrics/profile where the rule expects them."""
    from .aws_common import client

    settings = SageMakerSettings.from_config(compute.get("sagemaker") or {})
    if not storage.get("bucket"):
        raise ValueError("compute.backend sagemaker needs storage.bucket")
    s3, sm = client(storage, "s3"), client(storage, "sagemaker")
    project = storage.get("project") or "cardrec"
    uri, uploaded = upload_channel(s3, storage["bucket"], project, collect_files(input_paths(kwargs)))
    log(f"inputs at {uri} ({uploaded} files uploaded)")
    remote = {k: v for k, v in kwargs.items() if k not in OUTPUT_KWARGS}
    request = training_request(job_name(stage), stage, settings, storage["bucket"], project, {INPUTS_CHANNEL: uri},
                               {**remote, "cardrec_target": target}, processes)
    with tempfile.TemporaryDirectory() as tmp:
        record = run_training_job(sm, s3, request, Path(tmp), Path(record_path), settings.poll_s, log)
        shutil.move(Path(tmp) / "model.pt", kwargs["out_model"])
        shutil.move(Path(tmp) / "metrics.csv", kwargs["out_metrics"])
        Path(kwargs["profile_dir"]).mkdir(parents=True, exist_ok=True)
        for f in (Path(tmp) / "profile").glob("*"):
            shutil.move(f, Path(kwargs["profile_dir"]) / f.name)
    return record


def container_kwargs(hps: dict[str, str], env: dict[str, str]) -> tuple[str, dict, int, Path]:
    """(target, kwargs, processes per host, input dir) of a job, with outputs in SM_MODEL_DIR and
    checkpoints in /opt/ml/checkpoints (where SageMaker syncs them to CheckpointConfig.S3Uri)."""
    values = {}
    for k, v in hps.items():
        try:
            values[k] = json.loads(v)
        except (TypeError, ValueError):
            values[k] = v
    target = values.pop("cardrec_target")
    processes = int(values.pop("cardrec_processes_per_host", 1))
    values.pop("sagemaker_torch_distributed_enabled", None)
    model_dir = Path(env.get("SM_MODEL_DIR", "/opt/ml/model"))
    values.update(out_model=str(model_dir / "model.pt"), out_metrics=str(model_dir / "metrics.csv"),
                  profile_dir=str(model_dir / "profile"))
    values["run"] = {**(values.get("run") or {}), "checkpoint_dir": env.get("SM_CHECKPOINT_DIR", CHECKPOINT_LOCAL)}
    inputs = Path(env.get(f"SM_CHANNEL_{INPUTS_CHANNEL.upper()}", f"/opt/ml/input/data/{INPUTS_CHANNEL}"))
    return target, values, processes, inputs


def container_main() -> None:
    """Entry point in the training image: inputs keep their workdir-relative paths under the channel dir."""
    from .training.dist import launch

    hps = json.loads(os.environ.get("SM_HPS") or Path("/opt/ml/input/config/hyperparameters.json").read_text())
    target, kwargs, processes, inputs = container_kwargs(hps, dict(os.environ))
    os.chdir(inputs)
    launch(target, kwargs, processes, os.cpu_count() or 1)


if __name__ == "__main__":
    container_main()
