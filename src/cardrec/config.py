"""The workflow's config as the command-line tools read it, and the storage facts derived from it.

This module is the one home of the S3 layout's project prefix (``project/<name>``) and the DVC remote URL.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from cardrec.errors import ConfigError

DEFAULT_PROJECT = "cardrec"
PREFIX_ROOT = "project"  # every project lives under project/<name>/ in the bucket


def _merge(base: dict, extra: dict) -> dict:
    for k, v in extra.items():
        base[k] = _merge(dict(base.get(k) or {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def load_config(repo: Path, configfiles: list[str] = ()) -> dict:
    """config.yaml overlaid with ``--configfile`` files, as Snakemake merges them."""
    cfg: dict = {}
    for f in [Path(repo) / "config.yaml", *(Path(repo) / c for c in configfiles)]:
        if not f.exists():
            raise ConfigError(f"config file not found: {f}")
        cfg = _merge(cfg, yaml.safe_load(f.read_text()) or {})
    return cfg


def project_prefix(project: str | None = None) -> str:
    """The S3 prefix every object of a project lives under."""
    return f"{PREFIX_ROOT}/{project or DEFAULT_PROJECT}"


def dvc_prefix(project: str | None = None) -> str:
    """The DVC remote's prefix (content-addressed; must stay readable, never archived)."""
    return f"{project_prefix(project)}/dvc"


def storage_settings(cfg: dict, bucket: str | None = None, project: str | None = None,
                     endpoint_url: str | None = None, need_bucket: bool = True) -> dict:
    """``storage:`` of the config overridden by command-line flags, with ``prefix`` and ``dvc_url`` added."""
    st = dict(cfg.get("storage") or {})
    st.update({k: v for k, v in (("bucket", bucket), ("project", project), ("endpoint_url", endpoint_url)) if v})
    if need_bucket and not st.get("bucket"):
        raise ConfigError("config key storage.bucket is not set (config.yaml, a --configfile overlay or --bucket)")
    st["project"] = st.get("project") or DEFAULT_PROJECT
    st["prefix"] = project_prefix(st["project"])
    if st.get("bucket"):
        st["dvc_url"] = f"s3://{st['bucket']}/{dvc_prefix(st['project'])}"
    return st
