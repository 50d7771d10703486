"""`make figures`: the README's marked section becomes the run's summary.md; nothing else changes."""
import subprocess
import sys

import pytest

from cardrec.errors import CardrecError
from cardrec.evaluation.figures import demote, replace_section

README = """# title
before | 1 |
<!-- figures:default-run start -->
| old | 0.1 |
<!-- figures:default-run end -->
after | 2 |
<!-- figures:other start -->
keep
<!-- figures:other end -->
"""


def test_only_the_marked_section_is_replaced():
    out = replace_section(README, "default-run", "| new | 0.9 |\n\n")
    assert out == README.replace("| old | 0.1 |", "| new | 0.9 |")
    assert replace_section(out, "default-run", "| new | 0.9 |") == out  # idempotent


@pytest.mark.parametrize("text", ["no markers", README + README])
def test_missing_or_repeated_markers_are_an_error(text):
    with pytest.raises(CardrecError, match="figures:default-run start"):
        replace_section(text, "default-run", "x")


def test_cli_copies_the_run_summary(tmp_path):
    (tmp_path / "results/evaluate").mkdir(parents=True)
    (tmp_path / "results/evaluate/summary.md").write_text("## Crops\n\n| model | top1 |\n| INT8 | 0.95 |\n")
    readme = tmp_path / "README.md"
    readme.write_text(README)
    cmd = [sys.executable, "-m", "cardrec.evaluation.figures", "--workdir", str(tmp_path), "--readme", str(readme)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    assert readme.read_text() == README.replace("| old | 0.1 |", "#### Crops\n\n| model | top1 |\n| INT8 | 0.95 |")
    (tmp_path / "results/evaluate/summary.md").unlink()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "summary.md not found" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "INT8 | 0.95" in readme.read_text()  # left as it was


def test_headings_nest_under_the_readme_section():
    assert demote("## A\n\n| x |\n### B\nnot # a heading\n") == "#### A\n\n| x |\n##### B\nnot # a heading\n"
