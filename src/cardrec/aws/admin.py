"""Account-level helpers: a billing alarm (SNS + CloudWatch, us-east-1) and least-privilege IAM policy documents."""
from __future__ import annotations

from cardrec.errors import ToolError

BILLING_REGION = "us-east-1"  # AWS/Billing metrics exist only there; the alarm and its topic must live there too


def billing_settings(cfg: dict, threshold: float | None = None, email: str | None = None) -> dict:
    b = dict((cfg.get("aws") or {}).get("billing") or {})
    b.setdefault("topic", "cardrec-billing-alerts")
    b.setdefault("alarm", "cardrec-monthly-billing")
    b["threshold_usd"] = float(threshold if threshold is not None else b.get("threshold_usd", 10))
    b["email"] = email or b.get("email")
    if b["threshold_usd"] <= 0:
        raise ToolError("billing threshold must be > 0 USD")
    return b


def alarm_request(b: dict, topic_arn: str) -> dict:
    """Keyword arguments of ``put_metric_alarm`` on the month-to-date estimated charges of the account."""
    return {"AlarmName": b["alarm"],
            "AlarmDescription": f"Estimated AWS charges this month above {b['threshold_usd']} USD",
            "Namespace": "AWS/Billing", "MetricName": "EstimatedCharges",
            "Dimensions": [{"Name": "Currency", "Value": "USD"}], "Statistic": "Maximum", "Period": 21600,
            "EvaluationPeriods": 1, "Threshold": b["threshold_usd"], "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching", "AlarmActions": [topic_arn], "ActionsEnabled": True}


def _same_alarm(existing: dict, want: dict) -> bool:
    keys = ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "ComparisonOperator",
            "TreatMissingData", "AlarmActions")
    dims = sorted((d["Name"], d["Value"]) for d in existing.get("Dimensions", []))
    return (all(existing.get(k) == want[k] for k in keys) and float(existing.get("Threshold", -1)) == want["Threshold"]
            and dims == [("Currency", "USD")])


def billing_alarm(sns, cw, b: dict, dry_run: bool = False, log=print) -> list[str]:
    """Create (or leave alone) the topic, the email subscription and the alarm; the list of changes made."""
    changes = []
    if dry_run:
        log(f"would ensure SNS topic {b['topic']} ({BILLING_REGION})"
            + (f", email subscription {b['email']}" if b["email"] else ""))
        log(f"would ensure alarm {b['alarm']}: AWS/Billing EstimatedCharges (USD) > {b['threshold_usd']}")
        return changes
    topics = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page.get("Topics", [])]
    arn = next((t for t in topics if t.rsplit(":", 1)[-1] == b["topic"]), None)
    if arn is None:
        arn = sns.create_topic(Name=b["topic"])["TopicArn"]
        changes.append(f"created SNS topic {arn}")
    if b["email"]:
        subs = [s for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
                for s in page.get("Subscriptions", [])]
        if not any(s.get("Protocol") == "email" and s.get("Endpoint") == b["email"] for s in subs):
            sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=b["email"])
            changes.append(f"subscribed {b['email']} (confirm the e-mail AWS sends)")
    want = alarm_request(b, arn)
    existing = cw.describe_alarms(AlarmNames=[b["alarm"]]).get("MetricAlarms", [])
    if not (existing and _same_alarm(existing[0], want)):
        cw.put_metric_alarm(**want)
        changes.append(f"{'updated' if existing else 'created'} alarm {b['alarm']} (> {b['threshold_usd']} USD)")
    return changes


def _arn(bucket: str, key: str = "") -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")


def _list(bucket: str, prefixes: list[str], sid: str) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": "s3:ListBucket", "Resource": _arn(bucket),
            "Condition": {"StringLike": {"s3:prefix": [q for p in prefixes for q in (p.rstrip("/"), p, p + "*")]}}}


def iam_policy(role: str, bucket: str, prefix: str, model: str | None = None, region: str = "*",
               account: str = "*", execution_role: str | None = None) -> dict:
    """A least-privilege IAM policy document for ``trainer``, ``dvc`` or ``pi`` (prefix = project/<name>)."""
    p = prefix.strip("/")
    if role == "dvc":
        d = f"{p}/dvc/"
        stmts = [_list(bucket, [d], "ListDvcRemote"),
                 {"Sid": "ReadWriteDvcRemote", "Effect": "Allow",
                  "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                  "Resource": _arn(bucket, d + "*")}]
    elif role == "pi":
        if not model or "/" in model or model in ("embedding", "*"):
            raise ToolError("iam-policy pi needs --model NAME (a released bundle under models/<NAME>/)")
        m = f"{p}/models/{model}/"
        stmts = [_list(bucket, [m], "ListBundle"),
                 {"Sid": "ReadBundle", "Effect": "Allow", "Action": "s3:GetObject", "Resource": _arn(bucket, m + "*")}]
    elif role == "trainer":
        data, emb, prof = f"{p}/data/", f"{p}/models/embedding/", f"{p}/profiling/"
        role_arn = execution_role or f"arn:aws:iam::{account}:role/{p.rsplit('/', 1)[-1]}-sagemaker-execution"
        stmts = [_list(bucket, [data, emb, prof], "ListTrainingPrefixes"),
                 {"Sid": "ReadTrainingData", "Effect": "Allow", "Action": "s3:GetObject",
                  "Resource": _arn(bucket, data + "*")},
                 {"Sid": "WriteTrainingOutputs", "Effect": "Allow",
                  "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                  "Resource": [_arn(bucket, emb + "*"), _arn(bucket, prof + "*")]},
                 {"Sid": "SageMakerTraining", "Effect": "Allow",
                  "Action": ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob",
                             "sagemaker:StopTrainingJob", "sagemaker:AddTags"],
                  "Resource": f"arn:aws:sagemaker:{region}:{account}:training-job/{p.rsplit('/', 1)[-1]}-*"},
                 {"Sid": "PassExecutionRoleToSageMaker", "Effect": "Allow", "Action": "iam:PassRole",
                  "Resource": role_arn,
                  "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}]
    else:
        raise ToolError(f"unknown role {role!r}: trainer, dvc or pi")
    return {"Version": "2012-10-17", "Statement": stmts}
