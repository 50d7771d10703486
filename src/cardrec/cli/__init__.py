"""``cardrec``: command-line tools around the workflow (the workflow itself runs with snakemake).

Each command group is a module here with a ``register(subparsers)`` function; expected failures raise
``cardrec.errors.CardrecError`` and are printed as one line.
"""
from __future__ import annotations

import argparse

from cardrec_edge.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    from cardrec.cli import aws, cost, data, repro

    ap = argparse.ArgumentParser(prog="cardrec", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for group in (data, repro, aws, cost):
        group.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)

