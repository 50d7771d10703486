"""What a user can do next with what `make run` built: commands that work as printed (`make run` ends with it)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def next_steps(workdir: Path, bin_dir: str = ".venv/bin") -> str:
    """The message for a finished run in ``workdir`` (paths relative to it; ``bin_dir`` holds cardrec-edge)."""
    edge = f"{bin_dir}/cardrec-edge"
    lines = ["", "Done. Next, with what this run built:"]
    frames = sorted((workdir / "results/frames/test").glob("frame_*.jpg"))
    if frames:
        frame = frames[0].relative_to(workdir).as_posix()
        lines += ["  identify the cards in a camera frame it rendered (add --annotate DIR to draw them):",
                  f"    {edge} identify --bundle results/edge {frame}"]
    lines += ["  identify your own photos the same way, or in the web page (http://127.0.0.1:8000):",
              f"    {edge} serve --bundle results/edge",
              "  the headline figures: results/evaluate/summary.md",
              "  the report with metrics and plots: make report, then open results/report.html", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cardrec.workflow.next_steps",
                                     description="Print what to do next with a finished run's results.")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="the run's directory (default: .)")
    parser.add_argument("--bin", default=".venv/bin", help="directory holding cardrec-edge (default: .venv/bin)")
    args = parser.parse_args(argv)
    if not (args.workdir / "results/edge/manifest.json").is_file():
        print(f"no edge bundle in {args.workdir}/results/edge: run the workflow first (make run)", file=sys.stderr)
        return 1
    print(next_steps(args.workdir, args.bin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
