"""`make figures`: rewrite the README's marked sections from a run's results, so the default-run tables
are that run's own figures. A section is everything between `<!-- figures:NAME start -->` and
`<!-- figures:NAME end -->`; nothing outside the markers changes. Headings in a result file are demoted
two levels, so they nest under the README section that holds the markers."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from cardrec.errors import CardrecError

# marked section -> the result file (relative to the run directory) it is copied from
SECTIONS = {"default-run": "results/evaluate/summary.md"}


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the section ``name`` holding ``body``; an error when the markers are missing or repeated."""
    start, end = f"<!-- figures:{name} start -->", f"<!-- figures:{name} end -->"
    pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.S)
    if len(pattern.findall(text)) != 1:
        raise CardrecError(f"README needs exactly one '{start}' ... '{end}' pair, each on its own line")
    return pattern.sub(lambda _: f"{start}\n{body.strip()}\n{end}", text)


def demote(markdown: str) -> str:
    """``## Title`` -> ``#### Title``: a result file's headings below the README's own ``##`` sections."""
    return re.sub(r"^(#+) ", r"##\1 ", markdown, flags=re.M)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cardrec.evaluation.figures", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("."), help="the run's directory (default: .)")
    parser.add_argument("--readme", type=Path, default=Path("README.md"), help="file to rewrite (default: README.md)")
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text()
        for name, rel in SECTIONS.items():
            source = args.workdir / rel
            if not source.is_file():
                raise CardrecError(f"{source} not found: run the workflow first (make run)")
            text = replace_section(text, name, demote(source.read_text()))
    except CardrecError as e:
        print(f"figures: {e}", file=sys.stderr)
        return 1
    args.readme.write_text(text)
    print(f"{args.readme}: {', '.join(SECTIONS)} rewritten from {args.workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
