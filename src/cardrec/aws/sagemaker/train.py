"""A training stage on SageMaker: ``submit`` (rule side, compute.backend: sagemaker) and ``container_main``
(inside the training container: ``python -m cardrec.aws.sagemaker.train``, honouring SM_MODEL_DIR,
SM_CHANNEL_INPUTS, SM_CHANNEL_JOB (the job specification) and /opt/ml/checkpoints)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from cardrec.aws.sagemaker.job import (CHECKPOINT_LOCAL, INPUTS_CHANNEL, JOB_CHANNEL, JOB_FILE, SageMakerSettings,
                                       collect_files, framework_image, job_spec, read_job_spec, run_training_job,
                                       training_request, upload_channel)
from cardrec.aws.sagemaker.source import write_source_archive
from cardrec.config import DEFAULT_PROJECT
from cardrec.errors import ConfigError

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


def submit(target: str, kwargs: dict, compute: dict, storage: dict, stage: str,
           record_path: str | Path, log=print) -> dict:
    """Upload the inputs, run the job, put model/metrics/profile where the rule expects them."""
    from cardrec.aws.common import client

    settings = SageMakerSettings.from_config(compute.get("sagemaker") or {})
    if not storage.get("bucket"):
        raise ConfigError("compute.backend sagemaker needs config key storage.bucket")
    s3, sm = client(storage, "s3"), client(storage, "sagemaker")
    project = storage.get("project") or DEFAULT_PROJECT
    uri, uploaded = upload_channel(s3, storage["bucket"], project, collect_files(input_paths(kwargs)))
    log(f"inputs at {uri} ({uploaded} files uploaded)")
    image, source = settings.image_uri, None
    if not image:  # AWS's PyTorch image runs our source directory
        region = storage.get("region") or "us-east-1"
        image = framework_image(settings, region)
        with tempfile.TemporaryDirectory() as tmp:
            archive = write_source_archive(Path(tmp) / "sourcedir.tar.gz", kwargs.get("cfg") or {})
            prefix, n = upload_channel(s3, storage["bucket"], project, {archive.name: archive})
        source = prefix + archive.name
        log(f"image {image}, source {source} ({n} files uploaded)")
    spec = job_spec(target, {k: v for k, v in kwargs.items() if k not in OUTPUT_KWARGS})
    with tempfile.TemporaryDirectory() as tmp:  # the arguments travel as a file: hyperparameters are small
        (Path(tmp) / JOB_FILE).write_bytes(spec)
        spec_uri, _ = upload_channel(s3, storage["bucket"], project, {JOB_FILE: Path(tmp) / JOB_FILE})
    request = training_request(job_name(stage), stage, settings, storage["bucket"], project,
                               {INPUTS_CHANNEL: uri, JOB_CHANNEL: spec_uri},
                               {"cardrec_job_sha256": hashlib.sha256(spec).hexdigest()}, settings.processes_per_host,
                               image, source, storage.get("region"))
    with tempfile.TemporaryDirectory() as tmp:
        record = run_training_job(sm, s3, request, Path(tmp), Path(record_path), settings.poll_s, log)
        shutil.move(Path(tmp) / "model.pt", kwargs["out_model"])
        shutil.move(Path(tmp) / "metrics.csv", kwargs["out_metrics"])
        Path(kwargs["profile_dir"]).mkdir(parents=True, exist_ok=True)
        for f in (Path(tmp) / "profile").glob("*"):
            shutil.move(f, Path(kwargs["profile_dir"]) / f.name)
    return record


def container_kwargs(hps: dict[str, str], env: dict[str, str]) -> tuple[str, dict, int, Path]:
    """(target, kwargs, processes per host, input dir) of a job, from its job specification (channel ``job``,
    checked against ``cardrec_job_sha256``), with outputs in SM_MODEL_DIR and checkpoints in
    /opt/ml/checkpoints (where SageMaker syncs them to CheckpointConfig.S3Uri).
    ``cardrec_processes_per_host`` 0 means one process per GPU of the instance (SM_NUM_GPUS)."""
    job_dir = Path(env.get(f"SM_CHANNEL_{JOB_CHANNEL.upper()}", f"/opt/ml/input/data/{JOB_CHANNEL}"))
    target, values = read_job_spec(job_dir, hps.get("cardrec_job_sha256"))
    processes = int(hps.get("cardrec_processes_per_host") or 0) or int(env.get("SM_NUM_GPUS") or 0) or 1
    model_dir = Path(env.get("SM_MODEL_DIR", "/opt/ml/model"))
    values.update(out_model=str(model_dir / "model.pt"), out_metrics=str(model_dir / "metrics.csv"),
                  profile_dir=str(model_dir / "profile"))
    values["run"] = {**(values.get("run") or {}), "checkpoint_dir": env.get("SM_CHECKPOINT_DIR", CHECKPOINT_LOCAL)}
    inputs = Path(env.get(f"SM_CHANNEL_{INPUTS_CHANNEL.upper()}", f"/opt/ml/input/data/{INPUTS_CHANNEL}"))
    return target, values, processes, inputs


def container_nodes(env: dict[str, str]):
    """This host's place in the job from SageMaker's SM_HOSTS / SM_CURRENT_HOST (else resourceconfig.json):
    node 0 (the first host in sorted order) hosts the torchrun rendezvous."""
    from cardrec.training.dist import Nodes

    if "SM_HOSTS" in env:
        hosts, current = json.loads(env["SM_HOSTS"]), env.get("SM_CURRENT_HOST", "")
    else:
        resource = Path("/opt/ml/input/config/resourceconfig.json")
        cfg = json.loads(resource.read_text()) if resource.is_file() else {}
        hosts, current = cfg.get("hosts", []), cfg.get("current_host", "")
    hosts = sorted(hosts)
    if len(hosts) <= 1:
        return Nodes()
    if current not in hosts:
        raise RuntimeError(f"current host {current!r} is not among the job's hosts {hosts}")
    return Nodes(count=len(hosts), rank=hosts.index(current), master_addr=hosts[0],
                 master_port=int(env.get("CARDREC_MASTER_PORT", 29500)))


def container_main() -> None:
    """Entry point in the training image: inputs keep their workdir-relative paths under the channel dir."""
    from cardrec.training.dist import launch

    env = dict(os.environ)
    hps = json.loads(env.get("SM_HPS") or Path("/opt/ml/input/config/hyperparameters.json").read_text())
    target, kwargs, processes, inputs = container_kwargs(hps, env)
    code = str(Path(__file__).resolve().parents[1])  # where cardrec was unpacked or installed: for the ranks
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [code, os.environ.get("PYTHONPATH")]))
    os.chdir(inputs)
    launch(target, kwargs, processes, os.cpu_count() or 1, container_nodes(env))


if __name__ == "__main__":
    container_main()
