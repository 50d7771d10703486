"""Shared AWS plumbing for `cardrec aws`: settings from config + flags, clients, one-line errors, restores."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cardrec.errors import ToolError

ARCHIVED = {"GLACIER", "DEEP_ARCHIVE"}  # storage classes that refuse GET until restored
TIERS = ("Standard", "Bulk", "Expedited")
MISSING = ("404", "NoSuchKey", "NotFound")
DENIED = ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "UnrecognizedClientException",
          "InvalidClientTokenId")


def client(st: dict, service: str = "s3", region: str | None = None):
    """A boto3 client from the standard credential chain (profile from config), at the configured endpoint."""
    import boto3

    session = boto3.Session(profile_name=st.get("profile") or None,
                            region_name=region or st.get("region") or "us-east-1")
    return session.client(service, endpoint_url=st.get("endpoint_url") or None)


def error_code(e: Exception) -> str:
    return getattr(e, "response", {}).get("Error", {}).get("Code", "")


@contextlib.contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Turn the expected AWS failures (no credentials, no bucket, no server, denied) into one-line ToolErrors."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    try:
        yield
    except ToolError:
        raise
    except (NoCredentialsError, ProfileNotFound) as e:
        raise ToolError(f"{what}: no AWS credentials ({e}); use env vars, ~/.aws or an instance role") from None
    except ClientError as e:
        code = error_code(e)
        if code in ("NoSuchBucket",):
            raise ToolError(f"{what}: bucket does not exist") from None
        if code in DENIED:
            raise ToolError(f"{what}: access denied ({code}); check the AWS profile/credentials") from None
        raise ToolError(f"{what}: {code or 'error'}: {e.response.get('Error', {}).get('Message', e)}") from None
    except BotoCoreError as e:  # endpoint unreachable, bad region, ...
        raise ToolError(f"{what}: {e}") from None


def check_bucket(s3, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        code = error_code(e)
        raise ToolError(f"bucket {bucket}: {'does not exist' if code in ('404', 'NoSuchBucket') else code}") from None


def restore_state(head: dict) -> str:
    """'readable' (not archived), 'restored', 'in-progress' or 'archived' from a head_object answer."""
    if head.get("StorageClass", "STANDARD") not in ARCHIVED:
        return "readable"
    ongoing = head.get("Restore", "")
    if 'ongoing-request="true"' in ongoing:
        return "in-progress"
    return "restored" if 'ongoing-request="false"' in ongoing else "archived"


def request_restore(s3, bucket: str, key: str, days: int, tier: str) -> str:
    """Issue a restore of an archived object: 'requested', or 'in-progress' if one already runs."""
    from botocore.exceptions import ClientError

    if tier not in TIERS:
        raise ToolError(f"--tier must be one of {', '.join(TIERS)}")
    try:
        s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}})
    except ClientError as e:
        if error_code(e) != "RestoreAlreadyInProgress":
            raise
        return "in-progress"
    return "requested"


def list_keys(s3, bucket: str, prefix: str) -> list[dict]:
    """Every object (Key, Size, StorageClass, ...) under a prefix."""
    return [o for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
