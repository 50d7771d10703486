"""SageMaker training jobs through plain boto3 ``CreateTrainingJob`` (no sagemaker SDK).

Pure request builders (``stopping_condition``, ``training_request``), content-addressed input upload
(``upload_channel``: ``project/<name>/data/<sha256>/``, skipped when present), the job specification
(``job_spec``: target and arguments as a content-addressed S3 object in channel ``job``, since SageMaker
hyperparameters are small strings), ``wait_for_job`` (progress
from ``SecondaryStatusTransitions``; a failed or stopped job raises with its ``FailureReason``),
``download_model`` (model.tar.gz unpacked) and ``job_record`` (``results/jobs/<stage>.json`` for cost.py).
"""
from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from cardrec.errors import CardrecError, ConfigError
from cardrec.config import project_prefix

CHECKPOINT_LOCAL = "/opt/ml/checkpoints"
INPUTS_CHANNEL = "inputs"
JOB_CHANNEL, JOB_FILE = "job", "job.json"  # the job specification: target and arguments (job_spec)
# CreateTrainingJob's limits (botocore's SageMaker service model): entries, key and value characters
MAX_HYPERPARAMETERS, MAX_KEY_CHARS, MAX_VALUE_CHARS = 100, 256, 2500
COMPLETE_MARKER = "_complete.json"
TERMINAL = {"Completed", "Failed", "Stopped"}


class TrainingJobFailed(CardrecError):
    """A training job ended Failed or Stopped; the message is one line with the job's FailureReason."""


@dataclass(frozen=True)
class SageMakerSettings:
    """The ``compute.sagemaker`` config section."""

    role_arn: str
    image_uri: str | None = None  # a custom image whose entry point runs `python -m cardrec.aws.sagemaker.train`
    framework_version: str = "2.10.0"  # without image_uri: AWS's PyTorch training image (framework_image)
    py_version: str = "py313"
    instance_type: str = "ml.g4dn.xlarge"
    instance_count: int = 1
    processes_per_host: int = 0  # torchrun ranks per instance; 0 = one per GPU (SM_NUM_GPUS)
    volume_gb: int = 50
    max_run_s: int = 4 * 3600
    max_wait_s: int | None = None
    use_spot: bool = True
    poll_s: float = 30.0

    @classmethod
    def from_config(cls, cfg: dict) -> SageMakerSettings:
        missing = [k for k in ("role_arn",) if not cfg.get(k)]
        if missing:
            raise ConfigError(f"compute.sagemaker needs {', '.join(missing)} when compute.backend is sagemaker")
        return cls(**{k: v for k, v in cfg.items() if k in cls.__dataclass_fields__})


def framework_image(settings: SageMakerSettings, region: str) -> str:
    """URI of AWS's PyTorch training image for this version, region and instance type (SageMaker SDK v3)."""
    from sagemaker.core import image_uris

    try:
        return image_uris.retrieve(framework="pytorch", region=region, version=settings.framework_version,
                                   py_version=settings.py_version, instance_type=settings.instance_type,
                                   image_scope="training")
    except ValueError as e:
        raise ConfigError(f"compute.sagemaker.framework_version {settings.framework_version!r} / py_version "
                         f"{settings.py_version!r}: {e}") from None


def stopping_condition(max_run_s: int, max_wait_s: int | None, use_spot: bool) -> dict:
    """``StoppingCondition``; managed spot needs MaxWaitTimeInSeconds ≥ MaxRuntimeInSeconds."""
    if max_run_s <= 0:
        raise ConfigError(f"compute.sagemaker.max_run_s must be positive, got {max_run_s}")
    if not use_spot:
        return {"MaxRuntimeInSeconds": int(max_run_s)}
    wait = int(max_wait_s if max_wait_s is not None else 2 * max_run_s)
    if wait < max_run_s:
        raise ConfigError(f"compute.sagemaker.max_wait_s ({wait}) must be >= max_run_s ({max_run_s}) for spot")
    return {"MaxRuntimeInSeconds": int(max_run_s), "MaxWaitTimeInSeconds": wait}


def content_digest(files: dict[str, Path]) -> str:
    """sha256 over (key, file sha256) pairs in key order: the same inputs give the same S3 prefix."""
    h = hashlib.sha256()
    for key in sorted(files):
        h.update(key.encode() + b"\0" + hashlib.sha256(Path(files[key]).read_bytes()).hexdigest().encode() + b"\n")
    return h.hexdigest()


def collect_files(paths: list[str | Path]) -> dict[str, Path]:
    """Key (the path as given, relative to the workdir) -> file, directories expanded."""
    out: dict[str, Path] = {}
    for p in map(Path, paths):
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                out[f.as_posix()] = f
    return out


def _exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def upload_channel(s3, bucket: str, project: str, files: dict[str, Path]) -> tuple[str, int]:
    """Upload ``files`` under ``project/<project>/data/<sha256>/``; returns (S3 URI, files uploaded).

    The prefix is content-addressed: when its completion marker exists nothing is uploaded; otherwise
    files already present (a partial earlier upload) are skipped and the marker is written last.
    """
    prefix = f"{project_prefix(project)}/data/{content_digest(files)}/"
    uri = f"s3://{bucket}/{prefix}"
    if _exists(s3, bucket, prefix + COMPLETE_MARKER):
        return uri, 0
    uploaded = 0
    for key, path in sorted(files.items()):
        if not _exists(s3, bucket, prefix + key):
            s3.upload_file(str(path), bucket, prefix + key)
            uploaded += 1
    s3.put_object(Bucket=bucket, Key=prefix + COMPLETE_MARKER, Body=json.dumps(sorted(files)).encode())
    return uri, uploaded


def hyperparameters(values: dict) -> dict[str, str]:
    """SageMaker hyperparameters are strings: strings stay, everything else is JSON.

    Raises:
        ConfigError: over SageMaker's limits (at most 100 entries, keys of 256 and values of 2,500 characters);
            large arguments belong in the job specification (``job_spec``), not here.
    """
    out = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in values.items()}
    if len(out) > MAX_HYPERPARAMETERS:
        raise ConfigError(f"{len(out)} hyperparameters; SageMaker allows at most {MAX_HYPERPARAMETERS}")
    for k, v in out.items():
        if len(k) > MAX_KEY_CHARS or len(v) > MAX_VALUE_CHARS:
            raise ConfigError(f"SageMaker hyperparameter {k[:40]!r} is {len(v)} characters (key {len(k)}), over the "
                              f"{MAX_VALUE_CHARS} ({MAX_KEY_CHARS} for a key) SageMaker allows: pass it in the job "
                              f"specification (channel {JOB_CHANNEL!r}) instead")
    return out


def job_spec(target: str, kwargs: dict) -> bytes:
    """The job specification (``module:function`` and its arguments) as canonical JSON bytes."""
    return json.dumps({"target": target, "kwargs": kwargs}, sort_keys=True, separators=(",", ":")).encode()


def read_job_spec(job_dir: Path, sha256: str | None) -> tuple[str, dict]:
    """(target, kwargs) from the ``job`` channel, checked against the sha256 the request carries."""
    raw = (Path(job_dir) / JOB_FILE).read_bytes()
    if sha256 and hashlib.sha256(raw).hexdigest() != sha256:
        raise RuntimeError(f"{Path(job_dir) / JOB_FILE} does not match the job's cardrec_job_sha256 {sha256}")
    spec = json.loads(raw)
    return spec["target"], spec["kwargs"]


def training_request(job_name: str, stage: str, settings: SageMakerSettings, bucket: str, project: str,
                     channels: dict[str, str], hparams: dict, processes: int = 0, image_uri: str | None = None,
                     source_uri: str | None = None, region: str | None = None) -> dict:
    """The exact ``CreateTrainingJob`` request of one training stage; ``processes`` per host, 0 = one per GPU.

    With ``source_uri`` (a framework image) the image's training toolkit unpacks that tar.gz and runs its
    entry script once per host; cardrec then starts torchrun itself (hosts x processes), so the toolkit's
    own ``sagemaker_torch_distributed_enabled`` launcher stays off.
    """
    base = f"s3://{bucket}/{project_prefix(project)}"
    image = image_uri or settings.image_uri
    if not image:
        raise ConfigError("compute.sagemaker needs image_uri, or a framework image resolved by framework_image()")
    extra = {"cardrec_processes_per_host": processes}
    if source_uri:
        from cardrec.aws.sagemaker.source import ENTRY

        extra |= {"sagemaker_program": ENTRY, "sagemaker_submit_directory": source_uri,
                  "sagemaker_region": region or "us-east-1"}
    hps = hyperparameters({**hparams, **extra})
    request = {
        "TrainingJobName": job_name,
        "RoleArn": settings.role_arn,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hps,
        "InputDataConfig": [{"ChannelName": name, "InputMode": "File",
                             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                                             "S3DataDistributionType": "FullyReplicated"}}}
                            for name, uri in sorted(channels.items())],
        "OutputDataConfig": {"S3OutputPath": f"{base}/models/embedding/{stage}"},
        "ResourceConfig": {"InstanceType": settings.instance_type, "InstanceCount": int(settings.instance_count),
                           "VolumeSizeInGB": int(settings.volume_gb)},
        "StoppingCondition": stopping_condition(settings.max_run_s, settings.max_wait_s, settings.use_spot),
        "EnableManagedSpotTraining": bool(settings.use_spot),
        "CheckpointConfig": {"S3Uri": f"{base}/checkpoints/{stage}/", "LocalPath": CHECKPOINT_LOCAL},
        "Environment": {"CARDREC_STAGE": stage, "CARDREC_PROCESSES_PER_HOST": str(processes)},
        "Tags": [{"Key": "project", "Value": project}, {"Key": "stage", "Value": stage}],
    }
    return request


def wait_for_job(sm, job_name: str, poll_s: float = 30.0, log: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll ``DescribeTrainingJob`` until the job ends, logging each new secondary status transition."""
    seen = 0
    while True:
        desc = sm.describe_training_job(TrainingJobName=job_name)
        transitions = desc.get("SecondaryStatusTransitions") or []
        for t in transitions[seen:]:
            log(f"{job_name}: {t.get('Status')} - {t.get('StatusMessage', '')}".rstrip(" -"))
        seen = len(transitions)
        status = desc["TrainingJobStatus"]
        if status in TERMINAL:
            if status != "Completed":
                reason = " ".join(str(desc.get("FailureReason") or "no FailureReason given").split())
                raise TrainingJobFailed(f"SageMaker training job {job_name} {status.lower()}: {reason}")
            return desc
        sleep(poll_s)


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def download_model(s3, artifacts_uri: str, out_dir: Path) -> list[Path]:
    """Fetch ``model.tar.gz`` and unpack it into ``out_dir`` (members that escape it are refused)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bucket, key = split_s3_uri(artifacts_uri)
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = Path(tmp) / "model.tar.gz"
        s3.download_file(bucket, key, str(tar_path))
        with tarfile.open(tar_path) as tar:
            safe_extract(tar, out_dir)
            names = [m.name for m in tar.getmembers() if m.isfile()]
    return [out_dir / n for n in names]


def safe_extract(tar: tarfile.TarFile, out_dir: Path) -> None:
    """Unpack ``tar`` into ``out_dir``; a member that is not a plain file or folder, or that would land outside
    ``out_dir``, is refused (``tarfile.TarError``) before anything is written. Python 3.11.4+ has the ``data``
    filter for this; Debian 12's 3.11.2 does not."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(out_dir, filter="data")
        return
    root = Path(out_dir).resolve()
    for m in tar.getmembers():
        if not (m.isfile() or m.isdir()) or not (root / m.name).resolve().is_relative_to(root):
            raise tarfile.TarError(f"{m.name!r} refused: not a plain file or folder inside {out_dir}")
    tar.extractall(out_dir)


def _seconds(desc: dict, key: str, fallback: float) -> float:
    return float(desc[key]) if desc.get(key) is not None else fallback


def job_record(desc: dict) -> dict:
    """What ``results/jobs/<stage>.json`` keeps of a DescribeTrainingJob response (cost.read_job_record reads it)."""
    start, end = desc.get("TrainingStartTime"), desc.get("TrainingEndTime")
    elapsed = (end - start).total_seconds() if start and end and hasattr(end, "__sub__") else 0.0
    training = _seconds(desc, "TrainingTimeInSeconds", elapsed)
    billable = _seconds(desc, "BillableTimeInSeconds", training)
    res = desc.get("ResourceConfig") or {}
    return {"TrainingJobName": desc["TrainingJobName"], "TrainingJobStatus": desc.get("TrainingJobStatus"),
            "InstanceType": res.get("InstanceType"), "InstanceCount": int(res.get("InstanceCount") or 1),
            "ResourceConfig": res, "EnableManagedSpotTraining": bool(desc.get("EnableManagedSpotTraining")),
            "TrainingTimeInSeconds": training, "BillableTimeInSeconds": billable,
            "SpotSavings": round(1 - billable / training, 4) if training else 0.0,
            "ModelArtifacts": (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")}


def run_training_job(sm, s3, request: dict, out_dir: Path, record_path: Path, poll_s: float = 30.0,
                     log: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Create the job, wait for it, unpack its model into ``out_dir`` and write the job record."""
    sm.create_training_job(**request)
    log(f"created SageMaker training job {request['TrainingJobName']} "
        f"({request['ResourceConfig']['InstanceCount']} x {request['ResourceConfig']['InstanceType']})")
    desc = wait_for_job(sm, request["TrainingJobName"], poll_s, log, sleep)
    download_model(s3, desc["ModelArtifacts"]["S3ModelArtifacts"], out_dir)
    record = job_record(desc)
    record_path = Path(record_path)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    return record
