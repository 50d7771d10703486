"""Options and config loading shared by the command groups."""
from __future__ import annotations

import argparse
from pathlib import Path

from cardrec.config import load_config


def workdir_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--workdir", default=".", help="workflow directory (default: .)")
    p.add_argument("--configfile", action="append", metavar="FILE",
                   help="config overlay, as for snakemake (repeatable; relative to --workdir)")
    return p


def storage_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--bucket", help="bucket (default: storage.bucket of the config)")
    p.add_argument("--project", help="project name, prefix project/<name>/ (default: storage.project)")
    p.add_argument("--endpoint-url", help="S3-compatible or local server, e.g. http://127.0.0.1:5000 "
                                          "(default: storage.endpoint_url)")
    return p


def overlays(args: argparse.Namespace) -> list[str]:
    return list(args.configfile or [])


def workflow_config(args: argparse.Namespace) -> dict:
    """config.yaml of --workdir with the --configfile overlays."""
    return load_config(Path(args.workdir), overlays(args))
