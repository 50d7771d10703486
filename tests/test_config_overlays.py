"""Overlays (`snakemake --configfile config/X.yaml`) merge into config.yaml key by key, as Snakemake merges them:
what an overlay sets must come out as it wrote it, whatever the default holds."""
from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import update_config, validate

from .conftest import REPO

OVERLAYS = sorted(p for p in (REPO / "config").glob("*.yaml") if p.name != "schema.yaml")


def merged(overlay: dict) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, copy.deepcopy(overlay))
    validate(config, str(REPO / "config" / "schema.yaml"))
    return config


@pytest.mark.parametrize("path", OVERLAYS, ids=lambda p: p.stem)
def test_overlay_model_kwargs_are_its_own(path):
    """An overlay's teacher is built from its own ``model_kwargs``, never with the default ViT-S's left in."""
    overlay = yaml.safe_load(path.read_text())
    teacher = merged(overlay)["teacher"]
    assert teacher["model_kwargs"] == (overlay.get("teacher") or {}).get("model_kwargs", {})


def test_another_teacher_arch_alone_gets_timm_defaults():
    """`teacher: {arch: ...}` alone must not inherit the default architecture's sizes."""
    assert merged({"teacher": {"arch": "vit_base_patch14_dinov2"}})["teacher"]["model_kwargs"] == {}
