"""Every command has --help; the cardrec CLI writes the synthetic set in tcg format."""
import json
import subprocess
import sys

import pytest

from cardrec.cli import main

from .conftest import REPO


@pytest.mark.parametrize("argv", [["cardrec_edge.cli", "--help"], ["cardrec_edge.cli", "identify", "--help"],
                                  ["cardrec_edge.cli", "watch", "--help"], ["cardrec_edge.cli", "serve", "--help"],
                                  ["cardrec_edge.cli", "bench", "--help"], ["cardrec.hailo.steps", "--help"],
                                  ["cardrec_edge.cli", "verify-bundle", "--help"], ["cardrec.cli", "--help"],
                                  ["cardrec.cli", "synth", "--help"]])
def test_help(argv):
    out = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True)
    assert out.returncode == 0 and "usage:" in out.stdout


def test_synth_command(tmp_path, capsys):
    assert main(["synth", "--config", str(REPO / "tests/config/tiny.yaml"), "--out", str(tmp_path)]) == 0
    cards = json.loads((tmp_path / "cards/en/syn1.json").read_text())
    assert len(cards) == 8 and all((tmp_path / "images" / f"{c['id']}.png").exists() for c in cards)


def test_missing_config_is_a_message(tmp_path, capsys):
    assert main(["synth", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]) == 2
    assert "nope.yaml" in capsys.readouterr().err
