"""Expected failures: every one derives from ``CardrecError``, which the CLIs and rule scripts print as one line.

Anything else that escapes is a bug and keeps its traceback.
"""
from __future__ import annotations

from cardrec_edge.errors import CardrecError, UsageError  # one base for cardrec and cardrec-edge

__all__ = ["CardrecError", "ConfigError", "ToolError", "UsageError"]


class ConfigError(CardrecError, ValueError):
    """A config value is missing or invalid; the message names the key."""


class ToolError(CardrecError):
    """An external tool or service (dvc, snakemake, docker, AWS) failed or is missing."""
