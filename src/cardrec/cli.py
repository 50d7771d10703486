"""``cardrec``: command-line tools around the workflow (the workflow itself runs with snakemake)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def cmd_synth(args: argparse.Namespace) -> int:
    """Write the synthetic card sets of a config to a directory, outside the workflow."""
    from .synth import SynthSet, write_dataset

    cfg = yaml.safe_load(Path(args.config).read_text())["synthetic"]
    sets = [SynthSet(**s) for s in cfg["sets"]]
    out = Path(args.out)
    for s in sets:
        n = write_dataset(cfg["seed"], sets, s.id, out / "cards" / "en" / f"{s.id}.json", out / "images")
        print(f"{s.id}: {n} cards")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cardrec", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write the synthetic card sets (pokemon-tcg-data format) to a directory")
    s.add_argument("--config", default="config.yaml", help="config with a synthetic: section (default: config.yaml)")
    s.add_argument("--out", required=True, help="output directory (cards/en/<set>.json, images/<id>.png)")
    s.set_defaults(func=cmd_synth)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, KeyError, ValueError) as e:
        print(f"cardrec {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
