"""``cardrec synth``: the synthetic card sets outside the workflow."""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from cardrec.errors import ConfigError


def cmd_synth(args: argparse.Namespace) -> int:
    """Write the synthetic card sets of a config to a directory, outside the workflow."""
    from cardrec.data.synthesize import SynthSet, write_dataset

    path = Path(args.config)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    cfg = (yaml.safe_load(path.read_text()) or {}).get("synthetic")
    if not cfg:
        raise ConfigError(f"{path} has no synthetic: section")
    sets = [SynthSet(**s) for s in cfg["sets"]]
    out = Path(args.out)
    for s in sets:
        n = write_dataset(cfg["seed"], sets, s.id, out / "cards" / "en" / f"{s.id}.json", out / "images")
        print(f"{s.id}: {n} cards")
    return 0


def register(subparsers) -> None:
    s = subparsers.add_parser("synth", help="write the synthetic card sets (pokemon-tcg-data format) to a directory")
    s.add_argument("--config", default="config.yaml", help="config with a synthetic: section (default: config.yaml)")
    s.add_argument("--out", required=True, help="output directory (cards/en/<set>.json, images/<id>.png)")
    s.set_defaults(func=cmd_synth)
