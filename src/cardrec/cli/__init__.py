"""``cardrec``: command-line tools around the workflow (the workflow itself runs with snakemake).

Each command group is a module here with a ``register(subparsers)`` function; expected failures raise
``cardrec.errors.CardrecError`` and are printed as one line.
"""
from __future__ import annotations

import argparse
import sys

from cardrec.errors import CardrecError


def build_parser() -> argparse.ArgumentParser:
    from cardrec.cli import aws, cost, data, repro

    ap = argparse.ArgumentParser(prog="cardrec", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for group in (data, repro, aws, cost):
        group.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CardrecError as e:
        print(f"cardrec {args.command}: {e}", file=sys.stderr)
        return 2

