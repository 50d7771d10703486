"""The one base of every expected failure in cardrec and cardrec-edge (``cardrec.errors`` re-exports it).

The command-line tools print such an error as one line, without a traceback; anything else is a bug.
"""
from __future__ import annotations

import argparse
import sys


class CardrecError(Exception):
    """An expected failure (bad input, bad config, missing hardware or tool): one line, no traceback."""


class UsageError(CardrecError, ValueError):
    """A command-line argument is invalid; the message names the option."""


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the chosen command (``func``), and print an expected failure as one line:
    ``PROG COMMAND: message`` on stderr, exit status 2 (130 on Ctrl-C)."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CardrecError as e:
        print(f"{parser.prog} {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
