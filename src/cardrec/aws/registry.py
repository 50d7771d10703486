"""SageMaker Model Registry: teacher, student and HEF artifacts as versions of one model package group.

Metrics go to ``CustomerMetadataProperties`` (``metric:<name>``), next to the kind and the artifact URI, so a
listing shows them without extra S3 objects. Registering the same kind + artifact again returns the existing
version instead of adding one.
"""
from __future__ import annotations

import json
from pathlib import Path

from cardrec.aws.common import error_code
from cardrec.errors import ToolError

KINDS = ("teacher", "student", "hef")


def group_name(project: str, group: str | None = None) -> str:
    return group or f"{project}-card-recognition"


def package_request(group: str, kind: str, artifact: str, metrics: dict[str, float] | None = None,
                    image: str | None = None, approve: bool = False) -> dict:
    """Keyword arguments of ``create_model_package`` for one artifact (pure)."""
    if kind not in KINDS:
        raise ToolError(f"kind must be one of {', '.join(KINDS)}")
    if not artifact.startswith("s3://"):
        raise ToolError(f"--artifact must be an s3:// URI (got {artifact})")
    props = {"kind": kind, "artifact": artifact}
    for name, value in (metrics or {}).items():
        if not isinstance(value, (int, float)):
            raise ToolError(f"metric {name}: not a number ({value!r})")
        props[f"metric:{name}"] = f"{value:g}"
    if len(props) > 50:
        raise ToolError("at most 48 metrics per model package")
    req = {"ModelPackageGroupName": group, "ModelPackageDescription": f"{kind} {artifact}",
           "ModelApprovalStatus": "Approved" if approve else "PendingManualApproval",
           "CustomerMetadataProperties": props}
    if image:  # a SageMaker-servable model (teacher/student); a HEF runs on the Pi, not on SageMaker
        req["InferenceSpecification"] = {"Containers": [{"Image": image, "ModelDataUrl": artifact}],
                                         "SupportedContentTypes": ["application/x-image"],
                                         "SupportedResponseMIMETypes": ["application/json"]}
    return req


def read_metrics(path: str | None) -> dict[str, float]:
    """A flat JSON object of numbers (nested objects are flattened with dots; other values dropped)."""
    if not path:
        return {}
    data = json.loads(Path(path).read_text())

    def flat(d: dict, pre: str = "") -> dict:
        out: dict = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{pre}{k}."))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[f"{pre}{k}"] = v
        return out

    return flat(data)


def ensure_group(sm, group: str) -> bool:
    """Create the model package group if missing; True when created."""
    from botocore.exceptions import ClientError

    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
        return False
    except ClientError as e:
        if error_code(e) not in ("ValidationException", "ResourceNotFound"):
            raise
    sm.create_model_package_group(ModelPackageGroupName=group,
                                  ModelPackageGroupDescription="card-recognition models (teacher, student, HEF)")
    return True


def packages(sm, group: str) -> list[dict]:
    """Every version of the group, described (oldest first)."""
    arns = [p["ModelPackageArn"] for page in sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Ascending")
            for p in page.get("ModelPackageSummaryList", [])]
    return [sm.describe_model_package(ModelPackageName=a) for a in arns]


def register(sm, req: dict) -> tuple[str, bool]:
    """(ARN, created): an existing version with the same kind + artifact is returned, not duplicated."""
    ensure_group(sm, req["ModelPackageGroupName"])
    props = req["CustomerMetadataProperties"]
    for p in packages(sm, req["ModelPackageGroupName"]):
        mine = p.get("CustomerMetadataProperties") or {}
        if (mine.get("kind"), mine.get("artifact")) == (props["kind"], props["artifact"]):
            return p["ModelPackageArn"], False
    return sm.create_model_package(**req)["ModelPackageArn"], True


def resolve_version(sm, group: str, ref: str) -> str:
    """A version number or an ARN -> the ARN."""
    if ref.startswith("arn:"):
        return ref
    for p in packages(sm, group):
        if str(p.get("ModelPackageVersion")) == ref:
            return p["ModelPackageArn"]
    raise ToolError(f"no version {ref} in model package group {group}")


def approve(sm, arn: str, note: str = "approved with cardrec") -> None:
    """Approve a version, passing its metadata again (moto 5.2.5 drops it on an update that omits it)."""
    props = sm.describe_model_package(ModelPackageName=arn).get("CustomerMetadataProperties") or {}
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription=note,
                            **({"CustomerMetadataProperties": props} if props else {}))


def rows(pkgs: list[dict]) -> list[str]:
    out = []
    for p in pkgs:
        props = p.get("CustomerMetadataProperties") or {}
        metrics = " ".join(f"{k[7:]}={v}" for k, v in sorted(props.items()) if k.startswith("metric:"))
        out.append(f"v{p.get('ModelPackageVersion')}  {p.get('ModelApprovalStatus'):<22} {props.get('kind', '?'):<8} "
                   f"{props.get('artifact', '?')}  {metrics}".rstrip())
    return out
